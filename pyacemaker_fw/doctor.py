"""``pyacemaker-fw doctor``: is every engine present and usable?

Each check returns a :class:`Check` with OK or a reason a user can act on. Checks import
their engine lazily, so one broken engine does not hide the state of the others. Probes that
start a program run it in a temporary folder: pw.x writes ``CRASH`` and ``input_tmp.in``
wherever it starts, and the doctor must leave the user's folder as it found it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyacemaker_fw.config import DEFAULT_PSEUDO_DIR
from pyacemaker_fw.core.executables import find_executable


@dataclass(frozen=True)
class Check:
    engine: str
    ok: bool
    detail: str
    required: bool = True


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_pw(command: str = "pw.x") -> Check:
    executable = shutil.which(command)
    if executable is None:
        return Check(
            "Quantum ESPRESSO", False, f"{command} not on PATH (apt-get install quantum-espresso)"
        )
    try:
        with tempfile.TemporaryDirectory(prefix="pyacemaker-doctor-") as scratch:
            banner = subprocess.run(
                [executable],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
                cwd=scratch,
            ).stdout
    except subprocess.TimeoutExpired:
        return Check("Quantum ESPRESSO", False, f"{executable} did not answer within 30 s")
    match = re.search(r"Program PWSCF (v\.\S+)", banner)
    version = match.group(1) if match else "unknown version"
    return Check("Quantum ESPRESSO", True, f"{executable} {version}")


def check_pseudopotential_dir(pseudo_dir: Path = DEFAULT_PSEUDO_DIR) -> Check:
    """Does ``pseudo_dir`` hold UPF files? (Which file serves which element is checked per
    structure, by :func:`pyacemaker_fw.oracles.espresso.pseudopotentials.pseudopotentials_for`.)"""
    files = sorted(pseudo_dir.glob("*.UPF")) + sorted(pseudo_dir.glob("*.upf"))
    if not files:
        return Check(
            "pseudopotentials",
            False,
            f"no UPF files in {pseudo_dir} "
            "(install quantum-espresso-data or set oracle.qe.pseudo_dir)",
        )
    return Check("pseudopotentials", True, f"{len(files)} UPF files in {pseudo_dir}")


def check_lammps() -> Check:
    try:
        from pyacemaker_fw.simulation.lammps_runtime import has_native_pace, open_lammps

        lmp = open_lammps()
    except Exception as exc:
        return Check("LAMMPS", False, f"cannot start LAMMPS: {exc}")
    try:
        if has_native_pace(lmp):
            path = "native pair_style pace/extrapolation"
        elif lmp.has_style("fix", "external"):
            path = "no ML-PACE: ACE through fix external + pyace"
        else:
            return Check(
                "LAMMPS", False, f"version {lmp.version()} has neither ML-PACE nor fix external"
            )
        return Check("LAMMPS", True, f"version {lmp.version()}, {path}")
    finally:
        lmp.close()


def check_pacemaker() -> Check:
    if find_executable("pacemaker") is None:
        return Check("pacemaker", False, "pacemaker CLI not on PATH (pip install python-ace)")
    try:
        importlib.import_module("tensorpotential")
    except Exception as exc:
        return Check("pacemaker", False, f"tensorpot backend unusable: {exc}")
    return Check(
        "pacemaker",
        True,
        f"python-ace {_version('python-ace')}, tensorpot {_version('tensorpotential')}, "
        f"tensorflow {_version('tensorflow')}",
    )


def check_mace() -> Check:
    try:
        importlib.import_module("mace.calculators")
    except Exception as exc:
        return Check("MACE", False, f"cannot import mace: {exc}")
    return Check("MACE", True, f"mace-torch {_version('mace-torch')}, torch {_version('torch')}")


def check_fireworks(launchpad_file: Path | None = None) -> Check:
    try:
        from pyacemaker_fw.fw.launchpad import get_launchpad, ping

        if launchpad_file is None:
            from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad

            launchpad = EmbeddedLaunchPad().launchpad
        else:
            launchpad = get_launchpad(launchpad_file)
        ping(launchpad)
    except Exception as exc:
        where = launchpad_file or "embedded (in-process mongomock)"
        return Check("FireWorks", False, f"LaunchPad {where} unreachable: {exc}")
    where = f"{launchpad_file}" if launchpad_file else "embedded (in-process mongomock)"
    return Check(
        "FireWorks", True, f"fireworks {_version('fireworks')}, LaunchPad {where} reachable"
    )


def run_checks(
    launchpad_file: Path | None = None, pseudo_dir: Path = DEFAULT_PSEUDO_DIR
) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_pw,
        lambda: check_pseudopotential_dir(pseudo_dir),
        check_lammps,
        check_pacemaker,
        check_mace,
        lambda: check_fireworks(launchpad_file),
    ]
    return [check() for check in checks]


def format_table(checks: list[Check]) -> str:
    width = max(len(check.engine) for check in checks)
    lines = [f"{'engine':<{width}}  status   detail", f"{'-' * width}  ------   ------"]
    for check in checks:
        status = "OK" if check.ok else ("MISSING" if check.required else "absent")
        lines.append(f"{check.engine:<{width}}  {status:<7}  {check.detail}")
    return "\n".join(lines)
