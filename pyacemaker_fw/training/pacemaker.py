"""The pacemaker trainer: ACE fits from scratch and constant-cost incremental updates.

Each fit runs in its own folder::

    input.yaml        written from TrainerConfig
    previous.yaml     an update's starting potential (``pacemaker -p previous.yaml``)
    train.pkl.gz      the dataset, with per-atom force weights (see dataset.py)
    pacemaker.log     everything pacemaker printed
    metrics.txt       pacemaker's loss and RMSE per iteration (test_metrics.txt for the test set)
    potential.yaml    the B-basis potential; potential.yace for LAMMPS; potential.asi active set
    train_pred.pckl.gzip, test_pred.pckl.gzip, fitting_data_info.pckl.gzip, interim_potential*
                      pacemaker's intermediates: :func:`remove_fit_scratch` deletes them

The trainer writes only into that folder and returns a :class:`PotentialRecord`; storing it is
the caller's job. Its version is the one the caller names, else the parent's plus one, else 1.

A scratch fit builds a new basis and fits it for ``max_iterations``. An incremental update
(``pacemaker -p previous.yaml``) keeps the previous basis and continues from its coefficients
on the new data plus a fixed-size replay sample, for ``incremental_iterations``: its cost does
not grow with the campaign. (``-ip``/``initial_potential`` would grow the basis instead, and in
pacemaker 0.4.0rc1 it crashes when no function is added.) The reference energies a scratch fit
computes (``reference_energy: auto``) are saved in the potential's metadata, and an incremental
update reads them back from there, so energies stay on one scale. The potential then predicts
the total energy minus a constant per atom of each element (pacemaker's B-basis YAML has no
place for it); :func:`energy_offset` gives that constant back for a structure.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from ase import Atoms

from pyacemaker_fw.config import LoopStrategyConfig, TrainerConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseTrainer
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord, TrainingMetrics
from pyacemaker_fw.training.active_set import write_active_set
from pyacemaker_fw.training.dataset import energy_weight, write_dataset
from pyacemaker_fw.training.process import LineCallback, executable, run_streaming
from pyacemaker_fw.training.replay import ReplayBuffer

log = logging.getLogger(__name__)

INPUT_FILE = "input.yaml"
DATASET_FILE = "train.pkl.gz"
TEST_DATASET_FILE = "test.pkl.gz"
LOG_FILE = "pacemaker.log"
POTENTIAL_FILE = "potential.yaml"
PREVIOUS_FILE = "previous.yaml"
YACE_FILE = "potential.yace"
ASI_FILE = "potential.asi"
TRAIN_METRICS_FILE = "metrics.txt"
TEST_METRICS_FILE = "test_metrics.txt"
TRAIN_PREDICTIONS = "train_pred.pckl.gzip"
TEST_PREDICTIONS = "test_pred.pckl.gzip"

STALE_OUTPUTS = (
    TEST_DATASET_FILE,
    POTENTIAL_FILE,
    YACE_FILE,
    ASI_FILE,
    TRAIN_METRICS_FILE,
    TEST_METRICS_FILE,
    TRAIN_PREDICTIONS,
    TEST_PREDICTIONS,
)

SCRATCH_FILES = (
    DATASET_FILE,
    TEST_DATASET_FILE,
    TRAIN_PREDICTIONS,
    TEST_PREDICTIONS,
    "fitting_data_info.pckl.gzip",
    "fitting_data_info.csv",
    "test_data_info.pckl.gzip",
    "target_potential.yaml",
    "current_extended_potential.yaml",
)
"""What :func:`remove_fit_scratch` deletes: pacemaker's own ``--clean`` list, less the
potentials, logs, metrics and plots."""
SCRATCH_PATTERNS = ("interim_potential*.yaml", "ensemble_potential*.yaml")

REFERENCE_ENERGY_KEY = "reference_energy"

SCRATCH = "scratch"
INCREMENTAL = "incremental"

FS_EXPONENTS = (1.0, 0.5, 2.0, 0.75)
"""Exponents of the Finnis-Sinclair densities, one per density (pacemaker's template: 1, 0.5)."""
NRADMAX_BY_ORDERS = [15, 3, 2, 1]
LMAX_BY_ORDERS = [0, 3, 2, 1]
"""The pool pacemaker draws ``functions_per_element`` functions from, lowest orders first."""
DISPLAY_STEP = 10


# --- input ------------------------------------------------------------------------------
def potential_section(config: TrainerConfig, elements: Sequence[str]) -> dict[str, Any]:
    """The ``potential`` section of a from-scratch fit."""
    exponents = FS_EXPONENTS[: config.ndensity]
    return {
        "deltaSplineBins": 0.001,
        "elements": sorted(elements),
        "embeddings": {
            "ALL": {
                "npot": "FinnisSinclairShiftedScaled",
                "fs_parameters": [value for exponent in exponents for value in (1.0, exponent)],
                "ndensity": config.ndensity,
            }
        },
        "bonds": {
            "ALL": {
                "radbase": "SBessel",
                "radparameters": [5.25],
                "rcut": config.cutoff,
                "dcut": 0.01,
                "NameOfCutoffFunction": "cos",
            }
        },
        "functions": {
            "number_of_functions_per_element": config.functions_per_element,
            "ALL": {"nradmax_by_orders": NRADMAX_BY_ORDERS, "lmax_by_orders": LMAX_BY_ORDERS},
        },
    }


def held_out_count(config: TrainerConfig, structures: int) -> int:
    """Structures held out for testing; pacemaker rounds a fraction down, to none for small sets."""
    held_out = int(structures * config.test_fraction)
    return held_out if 0 < held_out < structures else 0


def split_test_set(
    config: TrainerConfig, structures: Sequence[Atoms]
) -> tuple[list[Atoms], list[Atoms]]:
    """Training and test structures. The test set is drawn (seeded) from the structures whose
    energy teaches, because pacemaker refuses a set whose energy weights are all zero, and a
    cluster's energy (buffer and caps included) teaches nothing; the training set keeps at
    least one such structure too."""
    taught = [i for i, atoms in enumerate(structures) if energy_weight(atoms) > 0]
    count = min(held_out_count(config, len(structures)), len(taught) - 1)
    if count <= 0:
        return list(structures), []
    rng = np.random.default_rng(config.seed)
    chosen = {int(i) for i in rng.choice(taught, size=count, replace=False)}
    train = [atoms for i, atoms in enumerate(structures) if i not in chosen]
    return train, [structures[i] for i in sorted(chosen)]


def pacemaker_input(
    config: TrainerConfig,
    elements: Sequence[str],
    iterations: int,
    scratch: bool,
    test_set: bool = False,
) -> dict[str, Any]:
    """The whole ``input.yaml``. An update omits ``potential`` (it comes from ``-p``) and the
    reference energy (it comes from the previous potential's metadata)."""
    data: dict[str, Any] = {"filename": DATASET_FILE}
    if test_set:
        data["test_filename"] = TEST_DATASET_FILE
    document: dict[str, Any] = {"seed": config.seed, "data": data}
    if scratch:
        if config.energy_reference == "auto":
            data["reference_energy"] = "auto"
        document["potential"] = potential_section(config, elements)
    document["fit"] = {
        "loss": {"kappa": config.kappa, "L1_coeffs": 1e-8, "L2_coeffs": 1e-8},
        "optimizer": "BFGS",
        "maxiter": iterations,
    }
    document["backend"] = {
        "evaluator": "tensorpot",
        "batch_size": config.batch_size,
        "display_step": DISPLAY_STEP,
    }
    return document


# --- output -----------------------------------------------------------------------------
def read_fit_history(path: Path) -> list[dict[str, float]]:
    """pacemaker's per-iteration metrics table (``metrics.txt``), one dict per row.

    Row ``iter_num == 0`` is the loss of the starting potential, before any step.
    """
    if not path.is_file():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    return [dict(zip(header, map(float, row), strict=True)) for row in lines[1:]]


def _weighted_errors(path: Path) -> tuple[float | None, float | None]:
    """Energy RMSE (meV/atom) and force-component RMSE (meV/Å) over what the fit was taught."""
    if not path.is_file():
        return None, None
    frame = pd.read_pickle(path, compression="gzip")
    taught_energy = frame["w_energy"] > 0
    energy_error = (frame["energy_pred"] - frame["energy_corrected"]) / frame["NUMBER_OF_ATOMS"]
    energy_rmse = (
        float(np.sqrt(np.mean(energy_error[taught_energy] ** 2))) * 1e3
        if taught_energy.any()
        else None
    )
    force_errors = [
        (np.asarray(predicted) - np.asarray(reference))[np.asarray(weights) > 0]
        for predicted, reference, weights in zip(
            frame["forces_pred"], frame["forces"], frame["w_forces"], strict=True
        )
    ]
    stacked = np.concatenate([errors.reshape(-1) for errors in force_errors])
    force_rmse = float(np.sqrt(np.mean(stacked**2))) * 1e3 if stacked.size else None
    return energy_rmse, force_rmse


def collect_metrics(workdir: Path, wall_seconds: float) -> TrainingMetrics:
    """Train/test RMSE over the taught atoms, from pacemaker's prediction files."""
    energy_train, force_train = _weighted_errors(workdir / TRAIN_PREDICTIONS)
    energy_test, force_test = _weighted_errors(workdir / TEST_PREDICTIONS)
    history = read_fit_history(workdir / TRAIN_METRICS_FILE)
    iterations = int(max(row["iter_num"] for row in history)) if history else None
    return TrainingMetrics(
        energy_rmse_train=energy_train,
        force_rmse_train=force_train,
        energy_rmse_test=energy_test,
        force_rmse_test=force_test,
        iterations=iterations,
        wall_seconds=wall_seconds,
    )


def reference_energies(potential_yaml: Path) -> tuple[dict[str, float], float]:
    """The per-element reference energies and per-atom shift that pacemaker took out of the
    data (``reference_energy`` in the potential's metadata); none for a raw-energy fit."""
    document = yaml.safe_load(Path(potential_yaml).read_text()) or {}
    raw = (document.get("metadata") or {}).get(REFERENCE_ENERGY_KEY)
    if not raw:
        return {}, 0.0
    values = json.loads(raw) if isinstance(raw, str) else dict(raw)
    shift = float(values.pop("shift", 0.0))
    return {str(symbol): float(energy) for symbol, energy in values.items()}, shift


def energy_offset(potential_yaml: Path, atoms: Atoms) -> float:
    """Total energy of the labels minus the potential's energy for ``atoms`` (eV).

    pacemaker fits ``energy - sum_i e_ref(element_i) + n_atoms * shift``; a potential without
    stored reference energies fits raw energies.
    """
    per_element, shift = reference_energies(potential_yaml)
    return sum(per_element.get(symbol, 0.0) - shift for symbol in atoms.get_chemical_symbols())


class ProgressLog:
    """Forwards pacemaker's output: every line at DEBUG, iteration summaries at INFO."""

    def __init__(self, extra: LineCallback | None = None) -> None:
        self.extra = extra

    def __call__(self, line: str) -> None:
        if "Iteration" in line or "Initial" in line or "RMSE" in line:
            log.info("pacemaker: %s", line.strip())
        else:
            log.debug("pacemaker: %s", line)
        if self.extra is not None:
            self.extra(line)


# --- the trainer ------------------------------------------------------------------------
def record_version(parent: PotentialRecord | None, version: int | None = None) -> int:
    """The version of a new fit: ``version`` if given, else one more than ``parent``'s, else 1.

    The trainer keeps no registry of versions; the caller that persists records names the
    version when it must be deterministic (a rerun of the same fit gets the same number).
    """
    if version is None:
        return parent.version + 1 if parent is not None else 1
    if version < 1:
        raise ValueError(f"version must be at least 1, got {version}")
    if parent is not None and version <= parent.version:
        raise ValueError(
            f"version {version} must be greater than its parent's version {parent.version}"
        )
    return version


class PacemakerTrainer(BaseTrainer):
    """Fits ACE potentials with pacemaker and returns their records; it persists nothing.

    ``train(structures, workdir)`` fits from scratch. ``train(new, workdir, previous)`` updates
    ``previous`` incrementally (``loop.update_mode == 'incremental'``): new data plus a replay
    sample, then the new data join the buffer. In ``scratch`` update mode it refits from
    scratch on exactly the structures it is given. Every scratch fit also seeds the buffer, so
    the first fit on the Phase 1 data fills it with the bulk. The buffer is in memory: the
    caller saves ``replay.state()`` after a fit if it must outlive the process.
    """

    def __init__(
        self,
        config: TrainerConfig,
        elements: Sequence[str],
        loop: LoopStrategyConfig | None = None,
        replay: ReplayBuffer | None = None,
        on_line: LineCallback | None = None,
        active_set: bool = True,
    ) -> None:
        self.config = config
        self.elements = list(elements)
        self.loop = loop or LoopStrategyConfig()
        self.replay = replay
        self.progress = ProgressLog(on_line)
        self.active_set = active_set

    def train(
        self,
        structures: Sequence[Atoms],
        workdir: Path,
        previous: PotentialRecord | None = None,
        *,
        version: int | None = None,
    ) -> PotentialRecord:
        """Fit from scratch, or update ``previous``; the record gets :func:`record_version`."""
        if previous is not None and self.loop.update_mode == INCREMENTAL:
            return self.update(structures, workdir, previous, version=version)
        return self.fit_scratch(structures, workdir, parent=previous, version=version)

    def fit_scratch(
        self,
        structures: Sequence[Atoms],
        workdir: Path,
        parent: PotentialRecord | None = None,
        *,
        version: int | None = None,
    ) -> PotentialRecord:
        """A new basis fitted to ``structures``."""
        number = record_version(parent, version)
        record = self._fit(
            list(structures), workdir, self.config.max_iterations, None, SCRATCH, parent, number
        )
        if self.replay is not None:
            self.replay.add(structures)
        return record

    def update(
        self,
        new: Sequence[Atoms],
        workdir: Path,
        previous: PotentialRecord,
        *,
        version: int | None = None,
    ) -> PotentialRecord:
        """``previous`` continued on ``new`` plus a replay sample, for a bounded number of steps.

        Without a replay buffer the update sees only ``new``.
        """
        number = record_version(previous, version)
        training_set = list(new)
        if self.replay is not None:
            training_set = self.replay.training_set(new, self.loop.new_fraction)
        iterations = self.config.incremental_iterations
        record = self._fit(
            training_set, workdir, iterations, previous, INCREMENTAL, previous, number
        )
        if self.replay is not None:
            self.replay.add(new)
        return record

    def _fit(
        self,
        training_set: list[Atoms],
        workdir: Path,
        iterations: int,
        start: PotentialRecord | None,
        mode: str,
        parent: PotentialRecord | None,
        version: int,
    ) -> PotentialRecord:
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        if start is not None:
            _copy_unless_same(start.files.yaml, workdir / PREVIOUS_FILE)
        for stale in STALE_OUTPUTS:
            # A reused folder must not hand back an earlier fit's potential or metrics.
            (workdir / stale).unlink(missing_ok=True)
        train, test = split_test_set(self.config, training_set)
        write_dataset(train, workdir / DATASET_FILE, self.elements)
        if test:
            write_dataset(test, workdir / TEST_DATASET_FILE, self.elements)
        document = pacemaker_input(
            self.config, self.elements, iterations, scratch=start is None, test_set=bool(test)
        )
        (workdir / INPUT_FILE).write_text(yaml.safe_dump(document, sort_keys=False))
        argv = [executable("pacemaker"), INPUT_FILE, "-o", POTENTIAL_FILE]
        if start is not None:
            argv += ["-p", PREVIOUS_FILE]
        run_streaming(argv, workdir, workdir / LOG_FILE, self.progress)
        files = self._products(workdir, training_set)
        record = PotentialRecord(
            version=version,
            parent_version=parent.version if parent is not None else None,
            mode=mode,
            files=files,
            dataset_ids=[str(a.info[keys.STRUCTURE_ID]) for a in training_set if _has_id(a)],
            metrics=collect_metrics(workdir, time.perf_counter() - began),
        )
        log.info("potential v%d (%s): %s", record.version, mode, record.metrics)
        return record

    def _products(self, workdir: Path, training_set: list[Atoms]) -> PotentialFiles:
        potential = workdir / POTENTIAL_FILE
        run_streaming(
            [executable("pace_yaml2yace"), POTENTIAL_FILE, "-o", YACE_FILE],
            workdir,
            workdir / "pace_yaml2yace.log",
        )
        asi: Path | None = None
        if self.active_set:
            covered = training_set + (self.replay.structures() if self.replay else [])
            asi = write_active_set(potential, covered, workdir / ASI_FILE)
        return PotentialFiles(yaml=potential, yace=workdir / YACE_FILE, asi=asi)


# --- clean-up ---------------------------------------------------------------------------
def remove_fit_scratch(workdir: Path) -> int:
    """Delete the bulky intermediates of a finished fit in ``workdir``; return bytes freed.

    Removed: the dataset (``train.pkl.gz``), pacemaker's prediction and data-info pickles and
    its interim, ensemble and ladder potentials. Kept: ``potential.yaml``/``.yace``/``.asi``,
    ``previous.yaml``, ``input.yaml``, the logs, the metrics tables and pacemaker's plots. The
    record's metrics were computed from the removed pickles, so collect them first. A folder
    without ``potential.yaml`` is not a finished fit, and its files may explain a failure:
    it is refused.
    """
    workdir = Path(workdir)
    if not (workdir / POTENTIAL_FILE).is_file():
        raise FileNotFoundError(
            f"{workdir} holds no {POTENTIAL_FILE}: not a finished fit, nothing removed"
        )
    doomed = {workdir / name for name in SCRATCH_FILES}
    for pattern in SCRATCH_PATTERNS:
        doomed.update(workdir.glob(pattern))
    freed = 0
    for path in sorted(doomed):
        if path.is_file() and not path.is_symlink():
            freed += path.stat().st_size
            path.unlink()
    log.info("removed fit scratch of %s: %.1f MB", workdir, freed / 1e6)
    return freed


def _copy_unless_same(source: Path, target: Path) -> None:
    if not (target.exists() and source.resolve().samefile(target)):
        shutil.copyfile(source, target)


def _has_id(atoms: Atoms) -> bool:
    return keys.STRUCTURE_ID in atoms.info
