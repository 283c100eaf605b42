"""Site settings: what differs between the machines a campaign runs on.

A campaign config travels in FireWorks specs to workers on other machines, days later. Its
science (cutoffs, thresholds, radii) is the same everywhere; its site settings are not: the
pw.x command and MPI prefix, the pseudopotential folder, the MACE model files and the
LaunchPad file. Each site field (:data:`SITE_FIELDS`) may hold atomate's env_chk form
``'>>key<<'``, which the FireTask resolves from its FWorker's ``env`` where the job runs
(:func:`resolve_site`). Files are checked there too; ``pyacemaker-fw validate`` only warns
about them (:func:`site_problems`), because the validating machine may not be the one that runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyacemaker_fw.config import MACE_MP_NAMES, CampaignConfig, is_env_chk

SITE_FIELDS: dict[str, str] = {
    "oracle.qe.command": "pw_cmd",
    "oracle.qe.mpi_command": "mpi_cmd",
    "oracle.qe.pseudo_dir": "pseudo_dir",
    "oracle.mace.model_paths": "mace_models",
    "fireworks.launchpad_file": "launchpad_file",
}
"""Each site field and the FWorker env key its documented '>>key<<' form reads."""


class SiteError(ValueError):
    """A site value cannot be resolved on this worker."""


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        node = node[part]
    return node


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value


def resolve_site(config: CampaignConfig, env: Mapping[str, Any] | None) -> CampaignConfig:
    """``config`` with every '>>key<<' site value replaced by ``env[key]`` (the FWorker env).

    Raises :class:`SiteError` naming the field and the missing key.
    """
    data = config.model_dump(mode="json")
    env = env or {}
    changed = False
    for field in SITE_FIELDS:
        value = _get(data, field)
        if not is_env_chk(value):
            continue
        key = str(value)[2:-2]
        if key not in env:
            raise SiteError(
                f"{field} is {value!r} but this worker's env has no {key!r}: set it under "
                "`env:` in the FWorker file (launchers/my_fworker.yaml)"
            )
        _set(data, field, env[key])
        changed = True
    return CampaignConfig.model_validate(data) if changed else config


def site_problems(config: CampaignConfig) -> list[str]:
    """Site settings that would fail on this machine, one line each naming the field.

    Values still in '>>key<<' form are left to the worker that resolves them.
    """
    problems: list[str] = []
    oracle = config.oracle
    if oracle.dft_engine == "qe":
        problems += _pw_problems(config)
    if oracle.surrogate_engine == "mace":
        problems += _mace_problems(oracle.mace.model_paths)
    launchpad = config.fireworks.launchpad_file
    if launchpad is not None and not is_env_chk(str(launchpad)) and not launchpad.is_file():
        problems.append(f"fireworks.launchpad_file: {str(launchpad)!r} does not exist")
    return problems


def _pw_problems(config: CampaignConfig) -> list[str]:
    qe = config.oracle.qe
    problems = []
    if isinstance(qe.command, list) and shutil.which(qe.command[0]) is None:
        problems.append(f"oracle.qe.command: {qe.command[0]!r} is not on PATH")
    if is_env_chk(str(qe.pseudo_dir)):
        return problems
    for symbol in dict.fromkeys(config.qe_elements()):
        name = qe.pseudopotentials.get(symbol)
        if name is not None and not (Path(qe.pseudo_dir) / name).is_file():
            problems.append(
                f"oracle.qe.pseudo_dir: pseudopotential {name!r} for {symbol} is not in "
                f"{qe.pseudo_dir}"
            )
    return problems


def _mace_problems(model_paths: list[str] | str) -> list[str]:
    if isinstance(model_paths, str):
        return []
    if not model_paths:
        return ["oracle.mace.model_paths: no MACE model given (surrogate_engine is 'mace')"]
    return [
        f"oracle.mace.model_paths: MACE model file {entry!r} does not exist"
        for entry in model_paths
        if entry not in MACE_MP_NAMES and not Path(entry).is_file()
    ]
