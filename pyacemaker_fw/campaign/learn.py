"""Phases 2-4 as steps: validate a potential, cut clusters, fine-tune the surrogate, make
surrogate data and fit or update ACE. Each returns results; nothing here writes MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.campaign.md import read_frame
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import PotentialRecord
from pyacemaker_fw.extraction.cutout import centres_from_gamma
from pyacemaker_fw.extraction.pipeline import prepare_clusters
from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.oracles.energy_alignment import shift_energy
from pyacemaker_fw.oracles.factory import dft_oracle, surrogate_calculator, surrogate_oracle
from pyacemaker_fw.training.mace_finetune import MACEFineTuner
from pyacemaker_fw.training.pacemaker import PacemakerTrainer, remove_fit_scratch
from pyacemaker_fw.training.replay import ReplayBuffer
from pyacemaker_fw.training.surrogates import SurrogateGenerator
from pyacemaker_fw.validation.models import ShiftedCalculator
from pyacemaker_fw.validation.report import ModelProperties, ValidationReport
from pyacemaker_fw.validation.validator import validate_potential, validation_structure


# --- Phase 2 --------------------------------------------------------------------------------
def validate(
    config: CampaignConfig,
    potential: PotentialRecord,
    workdir: Path,
    surrogate_models: list[str] | None = None,
    surrogate_shifts: dict[str, float] | None = None,
) -> ValidationReport:
    """The gate: ``potential`` against the configured reference (surrogate or DFT).

    ``surrogate_shifts`` (eV per atom of each element) move a surrogate's energies onto the
    DFT scale the potential was fitted on, as Phase 1 did for its labels; without them a
    surrogate on another energy scale would fail every E0 check by that offset.
    """
    reference: Model | ModelProperties
    name: str
    if config.validation.reference_properties is not None:
        path = config.validation.reference_properties
        reference = ModelProperties.model_validate_json(path.read_text())
        name = f"{config.validation.reference} ({path.name})"
    elif config.validation.reference == "dft":
        reference, name = dft_oracle(config, workdir / "dft"), config.oracle.dft_engine
    elif surrogate_shifts:
        calculator = surrogate_calculator(config, surrogate_models)
        reference = ShiftedCalculator(calculator, surrogate_shifts, 0.0)
        name = f"{config.oracle.surrogate_engine} (on the DFT energy scale)"
    else:
        reference = surrogate_oracle(config, surrogate_models)
        name = config.oracle.surrogate_engine
    structure = validation_structure(config.validation, config.elements)
    report = validate_potential(
        potential.files, reference, config.validation, structure, workdir, reference_name=name
    )
    (workdir / "validation_report.json").write_text(report.model_dump_json(indent=2))
    return report


class HoldoutErrors(BaseModel):
    """A potential's errors on structures no fit has seen."""

    model_config = ConfigDict(extra="forbid")

    structures: int
    atoms: int
    force_rmse: float = Field(..., description="Per force component (meV/Å).")
    energy_rmse: float = Field(..., description="Per atom (meV/atom).")


def holdout_errors(potential: PotentialRecord, holdout: Path) -> HoldoutErrors:
    """``potential`` (on the labels' energy scale) against every structure in ``holdout``."""
    from ase.io import read

    from pyacemaker_fw.validation.models import ace_calculator

    structures = read(holdout, index=":")
    calculator = ace_calculator(potential.files)
    force_errors, energy_errors = [], []
    for labelled in structures:
        atoms = labelled.copy()
        atoms.calc = calculator
        force_errors.append((atoms.get_forces() - labelled.get_forces()).reshape(-1))
        energy_errors.append(
            (atoms.get_potential_energy() - labelled.get_potential_energy()) / len(atoms)
        )
    forces = np.concatenate(force_errors)
    return HoldoutErrors(
        structures=len(structures),
        atoms=sum(len(atoms) for atoms in structures),
        force_rmse=float(np.sqrt(np.mean(forces**2))) * 1e3,
        energy_rmse=float(np.sqrt(np.mean(np.square(energy_errors)))) * 1e3,
    )


# --- Phase 3: the cutout --------------------------------------------------------------------
def cut_clusters(
    config: CampaignConfig,
    frame_file: Path,
    gamma_frame: Path,
    surrogate_models: list[str] | None = None,
) -> list[Atoms]:
    """Passivated, buffer-relaxed clusters around the uncertain atoms of ``frame_file``.

    The centres are the atoms whose gamma in ``gamma_frame`` (the halt frame) exceeds
    ``threshold_add_train``, most uncertain first; at most ``cutout.max_clusters`` clusters
    are kept, those around the highest gamma.
    """
    frame = read_frame(frame_file)
    halt = read_frame(gamma_frame) if gamma_frame != frame_file else frame
    frame.arrays[keys.GAMMA] = np.asarray(halt.arrays[keys.GAMMA], dtype=float)
    centres = centres_from_gamma(frame, config.thresholds.threshold_add_train)
    if not centres:  # the smoothed maximum halted the run; its last reading dipped below
        centres = centres_from_gamma(frame, -np.inf)[:1]
    relaxer = None
    if config.cutout.relaxation.enabled:
        relaxer = surrogate_calculator(config, surrogate_models)
    clusters = prepare_clusters(frame, centres, config.cutout, relaxer)
    gamma = frame.arrays[keys.GAMMA]
    clusters.sort(key=lambda cluster: -max(gamma[i] for i in cluster.info[keys.CENTRE_ATOMS]))
    return clusters[: config.cutout.max_clusters]


# --- Phase 4 --------------------------------------------------------------------------------
class FinetuneOutcome(BaseModel):
    """A fine-tuned surrogate model, or why there is none this round."""

    model_config = ConfigDict(extra="forbid")

    model: Path | None = None
    parent: Path | None = None
    skipped: str | None = None
    errors: dict[str, Any] = Field(default_factory=dict)


def finetune_surrogate(
    config: CampaignConfig,
    models: list[str] | None,
    new: Sequence[Atoms],
    old: Sequence[Atoms],
    workdir: Path,
    shifts: dict[str, float] | None = None,
) -> FinetuneOutcome:
    """The surrogate's first model fine-tuned on the new DFT labels plus a replay sample of
    ``old`` (``trainer.mace_finetune.replay_structures`` of them, seeded).

    ``shifts`` are the per-element offsets from the surrogate's energy scale to DFT's (Phase
    1's alignment): the DFT labels are moved back onto the surrogate's scale first, so the
    model learns interactions, not a constant."""
    if config.oracle.surrogate_engine != "mace" or not config.loop.finetune_mace:
        return FinetuneOutcome(skipped="the surrogate is not MACE or loop.finetune_mace is off")
    if not new:
        return FinetuneOutcome(skipped="no new DFT labels this round")
    base = Path((models or config.oracle.mace.model_files())[0])
    missing = _unknown_elements(base, [*new, *old])
    if missing:
        return FinetuneOutcome(
            parent=base,
            skipped=f"the surrogate {base.name} does not know {missing}; naive fine-tuning "
            "cannot add elements (give oracle.mace a model that knows them)",
        )
    settings = config.trainer.mace_finetune
    rng = np.random.default_rng(config.trainer.seed + len(old))
    count = min(settings.replay_structures, len(old))
    replayed = [old[i] for i in sorted(rng.choice(len(old), size=count, replace=False))]
    tuner = MACEFineTuner(
        settings, dtype=config.oracle.mace.default_dtype, seed=config.trainer.seed
    )
    if shifts:
        back = {symbol: -offset for symbol, offset in shifts.items()}
        new = [shift_energy(atoms, back) for atoms in new]
        replayed = [shift_energy(atoms, back) for atoms in replayed]
    result = tuner.finetune(base, list(new), workdir, old=replayed)
    return FinetuneOutcome(
        model=result.model,
        parent=base,
        errors={"before": result.before, "after": result.after},
    )


def _unknown_elements(model: Path, structures: Sequence[Atoms]) -> list[str]:
    from pyacemaker_fw.training.mace_finetune import model_settings

    _, energies = model_settings(model)
    known = set(energies)
    present = {int(number) for atoms in structures for number in atoms.numbers}
    return [chemical_symbols[z] for z in sorted(present - known)]


class SurrogateData(BaseModel):
    """Surrogate-labelled neighbours of the new DFT structures, or why there are none."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    structures: list[Atoms] = Field(default_factory=list)
    skipped: str | None = None


def make_surrogates(
    config: CampaignConfig,
    structures: Sequence[Atoms],
    surrogate_models: list[str] | None,
    seed: int,
) -> SurrogateData:
    """Perturbed neighbours of the new DFT structures, labelled by the (fine-tuned) surrogate.

    A MACE surrogate that does not know an element of the structures (a Si-only model and H
    caps) cannot label them: the round goes on without surrogate data, and says why."""
    if config.oracle.surrogate_engine == "mace" and structures:
        model = Path((surrogate_models or config.oracle.mace.model_files())[0])
        missing = _unknown_elements(model, structures)
        if missing:
            return SurrogateData(
                skipped=f"the surrogate {model.name} does not know {missing}, so it cannot "
                "label neighbours of these structures"
            )
    oracle = surrogate_oracle(config, surrogate_models)
    return SurrogateData(
        structures=SurrogateGenerator(oracle, config.loop, seed=seed).generate(structures)
    )


def fit_potential(
    config: CampaignConfig,
    structures: Sequence[Atoms],
    workdir: Path,
    version: int,
    previous: PotentialRecord | None,
    replay: ReplayBuffer | None,
) -> PotentialRecord:
    """A scratch fit (``previous`` None) or an update of ``previous``, as ``loop.update_mode``
    says; ``replay`` takes part and takes in the new data."""
    trainer = PacemakerTrainer(config.trainer, config.fit_elements(), config.loop, replay=replay)
    record = trainer.train(structures, workdir, previous, version=version)
    if config.cleanup.remove_fit_scratch:
        remove_fit_scratch(workdir)
    return record
