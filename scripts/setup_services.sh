#!/usr/bin/env bash
# Services for the cross-process and HPC tests (tests/hpc): a single-node SLURM with munge,
# headless Chromium for the dashboard test, and a Python 3.13 venv `.venv-mongo` with the
# MongoDB-wire server mongoeco (no real mongod can be installed from the registries here).
# Idempotent and quiet: a few seconds when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MONGO_VENV="$ROOT/.venv-mongo"
MONGOECO_REQUIREMENT='mongoeco[wire]'
DEB_SERVICE_PACKAGES=(slurmctld slurmd slurm-client munge chromium chromium-driver)

log() { printf '[setup-services] %s\n' "$*"; }

missing_debian_packages() {
    local pkg
    for pkg in "${DEB_SERVICE_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_debian_packages() {
    local missing
    mapfile -t missing < <(missing_debian_packages)
    if [ ${#missing[@]} -eq 0 ]; then
        log "SLURM, munge and Chromium present"
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # No recommends: slurmd would otherwise pull in a mail server and other daemons.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# mongoeco needs Python >= 3.13; the project venv stays on 3.11 (tensorpotential wheels).
find_python313() {
    local candidate root
    candidate=${PYTHON313:-}
    if [ -z "$candidate" ] && command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root 2>/dev/null || true)
        candidate=$(ls -d "$root"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n1 || true)
    fi
    if [ -z "$candidate" ]; then
        candidate=$(ls -d /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n1 || true)
    fi
    if [ -z "$candidate" ] && command -v python3.13 >/dev/null 2>&1 \
        && python3.13 -c 'pass' >/dev/null 2>&1; then
        candidate=$(command -v python3.13)
    fi
    if [ -z "$candidate" ] || ! "$candidate" -c 'import sys; assert sys.version_info >= (3, 13)' 2>/dev/null; then
        echo "[setup-services] error: Python 3.13 not found (needed by mongoeco for .venv-mongo)." >&2
        echo "[setup-services] Install it (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13." >&2
        return 1
    fi
    echo "$candidate"
}

install_mongo_venv() {
    local stamp="$MONGO_VENV/.pyacemaker-services-stamp"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$MONGOECO_REQUIREMENT" ] \
        && "$MONGO_VENV/bin/python" -c 'import mongoeco' 2>/dev/null; then
        log "virtualenv .venv-mongo up to date"
        return
    fi
    local python313
    python313=$(find_python313)
    log "creating .venv-mongo with $python313 and $MONGOECO_REQUIREMENT"
    [ -x "$MONGO_VENV/bin/python" ] || "$python313" -m venv "$MONGO_VENV"
    "$MONGO_VENV/bin/python" -m pip --disable-pip-version-check -q install "$MONGOECO_REQUIREMENT" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    echo "$MONGOECO_REQUIREMENT" >"$stamp"
}

install_debian_packages
install_mongo_venv
log "done"
