"""The Quantum ESPRESSO oracle: one pw.x SCF per structure, run under custodian.

For every structure it makes a new directory ``<workdir>/<NNNN>_<formula>/`` (numbered on
across calls, so earlier runs are kept) holding ``pw.in``, ``pw.out``, ``custodian.json``
(every error seen and every correction made) and ``attempts/`` (the input and output of each
try). It returns labelled copies carrying energy, forces and,
for periodic cells, stress, with ``info['oracle_settings']`` (the final namelists, k-points and
pseudopotentials) and ``info['corrections']`` (custodian's record, by handler).

A structure with a pair of atoms closer than ``min_distance_fraction`` of the sum of their
covalent radii is refused before pw.x starts (see :mod:`.plausibility`): pw.x would converge
and return forces of hundreds of eV/Å as a label.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read
from custodian.custodian import Custodian, CustodianError

from pyacemaker_fw.config import EspressoConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.oracles.espresso.command import full_command
from pyacemaker_fw.oracles.espresso.diagnosis import describe_failure
from pyacemaker_fw.oracles.espresso.handlers import default_handlers
from pyacemaker_fw.oracles.espresso.inputs import (
    INPUT_FILE,
    OUTDIR,
    OUTPUT_FILE,
    Overrides,
    PwInput,
    build_pw_input,
    is_cluster,
    settings_summary,
)
from pyacemaker_fw.oracles.espresso.jobs import PwJob
from pyacemaker_fw.oracles.espresso.plausibility import MIN_DISTANCE_FRACTION, implausibility
from pyacemaker_fw.oracles.espresso.validators import PwOutputValidator

logger = logging.getLogger(__name__)
CUSTODIAN_LOG = Custodian.LOG_FILE
LARGE_ARTIFACTS = ("*.wfc*", "*.save", "*.mix*")


class EspressoRunError(RuntimeError):
    """A structure got no label: pw.x failed and custodian had no correction left."""

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(f"pw.x failed in {directory}: {reason}")
        self.directory = directory
        self.reason = reason


class ImplausibleStructureError(EspressoRunError):
    """A structure refused before pw.x started, because no label of it could be trusted."""

    def __init__(self, directory: Path, formula: str, reason: str) -> None:
        RuntimeError.__init__(
            self, f"{formula} refused before pw.x ran ({directory.name}): {reason}"
        )
        self.directory = directory
        self.reason = reason


class EspressoOracle(BaseOracle):
    """Labels structures with pw.x SCF calculations, corrected by custodian's handlers.

    ``command`` is an already resolved argv (what a FireTask got from the FWorker env); without
    it ``config.command`` is resolved against ``env``. ``overrides`` adds namelist keys to every
    input. With ``skip_failures`` a structure that cannot be fixed, or is refused, is left out
    of the result (and listed in :attr:`failures`) instead of raising :class:`EspressoRunError`.
    ``min_distance_fraction`` sets the closest pair allowed, as a fraction of the sum of the two
    covalent radii.
    """

    name = "qe"

    def __init__(
        self,
        config: EspressoConfig,
        workdir: Path,
        command: Sequence[str] | None = None,
        env: Mapping[str, Any] | None = None,
        overrides: Overrides | None = None,
        skip_failures: bool = False,
        min_distance_fraction: float = MIN_DISTANCE_FRACTION,
    ) -> None:
        self.config = config
        self.workdir = Path(workdir)
        pw_command = config.command if command is None else list(command)
        self.argv = full_command(pw_command, config.mpi_argv(), env)
        self.overrides = overrides
        self.skip_failures = skip_failures
        self.min_distance_fraction = min_distance_fraction
        self.failures: list[EspressoRunError] = []

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        labelled = []
        self.failures = []
        for atoms in structures:
            directory = self._new_directory(atoms)
            try:
                labelled.append(self.label_one(atoms, directory))
            except EspressoRunError as error:
                if not self.skip_failures:
                    raise
                logger.warning("%s", error)
                self.failures.append(error)
        return labelled

    def _new_directory(self, atoms: Atoms) -> Path:
        """``NNNN_<formula>``, numbered on from what earlier calls left in the workdir."""
        taken = (
            len(list(self.workdir.glob("[0-9][0-9][0-9][0-9]_*"))) if self.workdir.is_dir() else 0
        )
        return self.workdir / f"{taken:04d}_{atoms.get_chemical_formula()}"

    def label_one(self, atoms: Atoms, directory: Path) -> Atoms:
        """Run one structure in ``directory`` (emptied first) and return its labelled copy.

        A structure refused before the run (implausible, or without a usable pseudopotential)
        leaves no directory behind."""
        directory = Path(directory)
        reason = implausibility(atoms, self.min_distance_fraction)
        if reason is not None:
            raise ImplausibleStructureError(directory, atoms.get_chemical_formula(), reason)
        pw_input = build_pw_input(atoms, self.config, self.overrides)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        pw_input.write(directory / INPUT_FILE)
        self._run_custodian(directory)
        result = read_final_frame(directory / OUTPUT_FILE)
        settings = settings_summary(PwInput.read(directory / INPUT_FILE))
        settings["command"] = list(self.argv)
        if not self.config.keep_artifacts:
            remove_large_artifacts(directory)
        periodic = not is_cluster(atoms)
        return attach_labels(
            atoms,
            result.get_potential_energy(),
            result.get_forces(),
            self.name,
            result.get_stress() if periodic else None,
            **{
                keys.ORACLE_SETTINGS: settings,
                keys.CORRECTIONS: read_corrections(directory / CUSTODIAN_LOG),
            },
        )

    def _run_custodian(self, directory: Path) -> None:
        smearing = self.config.smearing or "mv"
        job = PwJob(self.argv)
        custodian = Custodian(
            default_handlers(smearing=smearing, degauss=self.config.degauss),
            [job],
            [PwOutputValidator()],
            # custodian counts corrections: N of them need N + 1 attempts.
            max_errors=self.config.max_corrections + 1,
            directory=str(directory),
        )
        try:
            custodian.run()
        except CustodianError as error:
            reason = describe_failure(directory, error, job.returncode)
            raise EspressoRunError(directory, reason) from error


def read_final_frame(path: Path) -> Atoms:
    """The last SCF of a pw.x output, with ASE's energy (eV), forces and stress."""
    frame = read(path, format="espresso-out", index=-1)
    if not isinstance(frame, Atoms):
        raise EspressoRunError(path.parent, f"{path.name} holds no finished SCF")
    return frame


def read_corrections(path: Path) -> list[dict[str, Any]]:
    """custodian's corrections as plain data: handler name, errors seen, actions taken."""
    if not path.is_file():
        return []
    corrections = []
    for job in json.loads(path.read_text()):
        for entry in job.get("corrections", []):
            handler = entry.get("handler") or {}
            corrections.append(
                {
                    "handler": handler.get("@class", str(handler)),
                    "errors": list(entry.get("errors") or []),
                    "actions": list(entry.get("actions") or []),
                }
            )
    return corrections


def remove_large_artifacts(directory: Path) -> None:
    """Delete wavefunctions, the ``.save`` folder and mixing files; keep inputs and outputs."""
    outdir = directory / OUTDIR
    for pattern in LARGE_ARTIFACTS:
        for path in outdir.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    if outdir.is_dir() and not any(outdir.iterdir()):
        outdir.rmdir()
