"""MACE training with ``mace_run_train``: fine-tuning a local model, or a small model from scratch.

Fine-tuning (Phase 4) continues a local model file (``--foundation_model path``) on new DFT
data mixed with replay data, for a few epochs in float32, and reports the errors on old and new
data before and after. Multihead fine-tuning is switched off: for a single-element model it
crashes on the shape of the atomic energies, and the replay data already guard against
forgetting. For the same reason the atomic energies (E0s) are read from the model file and
passed explicitly instead of ``--E0s foundation``. The validation set given to mace_run_train
holds both old and new structures, so the epoch it keeps is the best compromise of the two.

MACE has no per-atom force weights: every atom of a cutout cluster is a valid DFT label for
that cluster, so MACE learns them all; ``force_weight`` only matters to the ACE fit.

Each run works in its own folder: ``train.xyz``, ``valid.xyz``, ``mace_run_train.log``,
``<name>.model`` (the result), ``checkpoints/``, ``logs/`` and ``results/``; a fine-tune also
writes ``finetune_result.json`` (the :class:`MACETrainingResult`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.io import write
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.config import MACEFinetuneConfig
from pyacemaker_fw.training.process import LineCallback, executable, run_streaming
from pyacemaker_fw.training.replay import ReplayBuffer

log = logging.getLogger(__name__)

ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"
TRAIN_FILE = "train.xyz"
VALID_FILE = "valid.xyz"
LOG_FILE = "mace_run_train.log"
STALE_FOLDERS = ("checkpoints", "logs", "results")
RESULT_FILE = "finetune_result.json"
Dtype = Literal["float32", "float64"]


class MACEArchitecture(BaseModel):
    """Hyperparameters of a model trained from scratch (a fine-tune keeps its model's)."""

    model_config = ConfigDict(extra="forbid")

    num_channels: int = Field(16, ge=1, description="Channels of the hidden features.")
    max_L: int = Field(0, ge=0, le=3, description="Largest symmetry order of the messages.")
    num_interactions: int = Field(2, ge=1, description="Message-passing layers.")
    correlation: int = Field(2, ge=1, le=4, description="Body order of each message minus 1.")
    r_max: float = Field(4.5, gt=0, description="Radial cutoff (Å).")
    swa_from_epoch: int | None = Field(
        None, ge=1, description="Start of the stochastic weight averaging stage, or none."
    )


class ErrorSummary(BaseModel):
    """Errors of a model on a set of labelled structures."""

    model_config = ConfigDict(extra="forbid")

    structures: int
    energy_rmse: float = Field(..., description="meV/atom")
    force_rmse: float = Field(..., description="meV/Å, per force component")


class MACETrainingResult(BaseModel):
    """The trained model file and its errors, before and after, on named validation sets."""

    model_config = ConfigDict(extra="forbid")

    model: Path
    parent: Path | None = Field(None, description="The model that was fine-tuned, if any.")
    wall_seconds: float
    before: dict[str, ErrorSummary] = Field(default_factory=dict)
    after: dict[str, ErrorSummary] = Field(default_factory=dict)


# --- files ------------------------------------------------------------------------------
def _labelled_copy(atoms: Atoms) -> Atoms:
    """Only geometry and the reference labels, under keys MACE is told to read."""
    copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    copy.info[ENERGY_KEY] = float(atoms.get_potential_energy())
    copy.arrays[FORCES_KEY] = np.asarray(atoms.get_forces(), dtype=float)
    return copy


def write_mace_xyz(structures: Sequence[Atoms], path: Path) -> Path:
    write(path, [_labelled_copy(atoms) for atoms in structures], format="extxyz")
    return path


# --- models -----------------------------------------------------------------------------
def model_settings(model: Path) -> tuple[str, dict[int, float]]:
    """The class name of a saved MACE model and its atomic energies E0 (eV) per Z."""
    import torch

    loaded = torch.load(model, map_location="cpu", weights_only=False)
    energies = loaded.atomic_energies_fn.atomic_energies.detach().cpu().numpy().reshape(-1)
    numbers = [int(z) for z in loaded.atomic_numbers]
    return type(loaded).__name__, dict(zip(numbers, map(float, energies), strict=True))


def mace_errors(model: Path, structures: Sequence[Atoms], dtype: Dtype = "float32") -> ErrorSummary:
    """RMSE of ``model`` on labelled structures: energy per atom and force components."""
    from mace.calculators import MACECalculator

    calculator = MACECalculator(model_paths=str(model), device="cpu", default_dtype=dtype)
    energy_errors, force_errors = [], []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        energy_error = work.get_potential_energy() - atoms.get_potential_energy()
        energy_errors.append(energy_error / len(atoms))
        force_errors.append((work.get_forces() - atoms.get_forces()).reshape(-1))
    forces = np.concatenate(force_errors)
    return ErrorSummary(
        structures=len(structures),
        energy_rmse=float(np.sqrt(np.mean(np.square(energy_errors)))) * 1e3,
        force_rmse=float(np.sqrt(np.mean(forces**2))) * 1e3,
    )


# --- training ---------------------------------------------------------------------------
def mace_train_argv(
    name: str,
    config: MACEFinetuneConfig,
    seed: int,
    dtype: Dtype,
    foundation: Path | None,
    architecture: MACEArchitecture,
) -> list[str]:
    """The ``mace_run_train`` command line, run inside the work folder."""
    argv = [
        executable("mace_run_train"),
        f"--name={name}",
        f"--train_file={TRAIN_FILE}",
        f"--valid_file={VALID_FILE}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--batch_size={config.batch_size}",
        f"--valid_batch_size={config.batch_size}",
        f"--max_num_epochs={config.epochs}",
        f"--lr={config.learning_rate}",
        f"--default_dtype={dtype}",
        "--device=cpu",
        f"--seed={seed}",
        f"--energy_weight={config.energy_weight}",
        f"--forces_weight={config.forces_weight}",
    ]
    if foundation is None:
        return argv + _scratch_arguments(architecture)
    return argv + _finetune_arguments(foundation)


def _scratch_arguments(architecture: MACEArchitecture) -> list[str]:
    arguments = [
        "--model=MACE",
        "--E0s=average",
        f"--num_channels={architecture.num_channels}",
        f"--max_L={architecture.max_L}",
        f"--num_interactions={architecture.num_interactions}",
        f"--correlation={architecture.correlation}",
        f"--r_max={architecture.r_max}",
    ]
    if architecture.swa_from_epoch is not None:
        arguments += ["--swa", f"--start_swa={architecture.swa_from_epoch}"]
    return arguments


def _finetune_arguments(foundation: Path) -> list[str]:
    model_class, energies = model_settings(foundation)
    e0s = "{" + ", ".join(f"{z}: {energy!r}" for z, energy in energies.items()) + "}"
    return [
        f"--foundation_model={foundation.resolve()}",
        "--multiheads_finetuning=False",
        f"--model={model_class}",
        f"--E0s={e0s}",
        # keep every element of the model, not only those in this round's data: a Si-only
        # round must not drop H (nor break the E0 table's shape)
        "--foundation_model_elements=True",
    ]


def train_mace(
    train: Sequence[Atoms],
    valid: Sequence[Atoms],
    workdir: Path,
    config: MACEFinetuneConfig,
    *,
    foundation: Path | None = None,
    architecture: MACEArchitecture | None = None,
    name: str = "mace",
    seed: int = 0,
    dtype: Dtype = "float32",
    on_line: LineCallback | None = None,
) -> Path:
    """Train a MACE model (from ``foundation`` when given) and return the model file."""
    if not train or not valid:
        raise ValueError("MACE training needs at least one training and one validation structure")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in STALE_FOLDERS:
        # mace_run_train would resume from, or pick its final model among, old checkpoints.
        shutil.rmtree(workdir / stale, ignore_errors=True)
    for model_file in workdir.glob(f"{name}*.model"):
        model_file.unlink()
    write_mace_xyz(train, workdir / TRAIN_FILE)
    write_mace_xyz(valid, workdir / VALID_FILE)
    # mace_run_train drops the last incomplete batch: with fewer structures than a batch
    # (a round that labelled one frame) it would see no data at all.
    config = config.model_copy(update={"batch_size": min(config.batch_size, len(train))})
    argv = mace_train_argv(
        name, config, seed, dtype, foundation, architecture or MACEArchitecture()
    )
    run_streaming(argv, workdir, workdir / LOG_FILE, on_line)
    # With stochastic weight averaging, <name>.model is the first stage's model and the
    # averaged one (92 vs 28 meV/atom on the seed MACE's training set) is <name>_stagetwo.
    averaged = workdir / f"{name}_stagetwo.model"
    model = averaged if averaged.is_file() else workdir / f"{name}.model"
    if not model.is_file():
        raise FileNotFoundError(f"mace_run_train finished without writing {model}")
    return model


class MACEFineTuner:
    """Fine-tunes a MACE model on new DFT data plus replay data (Phase 4)."""

    def __init__(
        self,
        config: MACEFinetuneConfig,
        replay: ReplayBuffer | None = None,
        dtype: Dtype = "float32",
        seed: int = 0,
        on_line: LineCallback | None = None,
    ) -> None:
        self.config = config
        self.replay = replay
        self.dtype: Dtype = dtype
        self.seed = seed
        self.on_line = on_line

    def finetune(
        self,
        model: Path,
        new: Sequence[Atoms],
        workdir: Path,
        old: Sequence[Atoms] | None = None,
        validation_new: Sequence[Atoms] | None = None,
        validation_old: Sequence[Atoms] | None = None,
    ) -> MACETrainingResult:
        """Fine-tune ``model`` on ``new`` plus ``old`` (default: a replay-buffer sample).

        The errors are measured on ``validation_new`` and ``validation_old``; by default these
        are the training data themselves, ``new`` and ``old``.
        """
        if old is None:
            old = self.replay.sample(self.config.replay_structures) if self.replay else []
        sets = {"new": list(validation_new or new), "old": list(validation_old or old)}
        sets = {label: structures for label, structures in sets.items() if structures}
        began = time.perf_counter()
        before = {label: mace_errors(model, s, self.dtype) for label, s in sets.items()}
        trained = train_mace(
            [*new, *old],
            [structure for structures in sets.values() for structure in structures],
            workdir,
            self.config,
            foundation=model,
            name="finetuned",
            seed=self.seed,
            dtype=self.dtype,
            on_line=self.on_line,
        )
        after = {label: mace_errors(trained, s, self.dtype) for label, s in sets.items()}
        result = MACETrainingResult(
            model=trained,
            parent=model,
            wall_seconds=time.perf_counter() - began,
            before=before,
            after=after,
        )
        (trained.parent / RESULT_FILE).write_text(result.model_dump_json(indent=2))
        log.info("fine-tuned %s -> %s: before %s, after %s", model, trained, before, after)
        return result
