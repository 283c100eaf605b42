#!/usr/bin/env bash
# One-command set-up for pyacemaker-fw on a Debian machine.
# Idempotent: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV="$ROOT/.venv"
PY=${PYTHON:-python3.11}
DEB_PACKAGES=(quantum-espresso libopenblas0-serial)

log() { printf '[setup] %s\n' "$*"; }

# pip's site config lists local wheel folders; its notes about absent ones are noise.
pip_quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

install_debian_packages() {
    local missing=()
    for pkg in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ] && [ -d /usr/share/espresso/pseudo ]; then
        log "Debian packages present"
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]:-quantum-espresso-data}"
    # Recommends stay on: they bring quantum-espresso-data (the pseudopotentials).
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${DEB_PACKAGES[@]}" quantum-espresso-data >/dev/null
}

python_inputs_hash() {
    cat requirements.txt constraints.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1
}

install_python_env() {
    local stamp="$VENV/.pyacemaker-setup-stamp"
    local want
    want=$(python_inputs_hash)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "virtualenv .venv up to date"
        return
    fi
    [ -x "$VENV/bin/python" ] || { log "creating .venv"; "$PY" -m venv "$VENV"; }
    local pip=(pip_quiet "$VENV/bin/python" -m pip --disable-pip-version-check -q)
    "${pip[@]}" install --upgrade pip wheel setuptools
    # torch first: the pinned CPU wheel; anything that resolves torch later then finds it.
    "${pip[@]}" install torch==2.13.0
    log "installing Python requirements (several minutes on a fresh machine)"
    "${pip[@]}" install -c constraints.txt -r requirements.txt
    # tensorpotential declares tensorflow[and-cuda] (~4 GB of CUDA wheels); its CPU
    # requirements are already in requirements.txt.
    "${pip[@]}" install --no-deps tensorpotential==0.6.2.1
    "${pip[@]}" install -c constraints.txt --no-deps -e .
    "$VENV/bin/python" -m pip check || log "pip check reported the lines above (not fatal)"
    echo "$want" >"$stamp"
}

install_debian_packages
install_python_env
bash scripts/setup_services.sh
log "done"
