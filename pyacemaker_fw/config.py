"""The campaign configuration: Pydantic v2 models loaded from one YAML file.

Each section of the YAML file is one model below. Defaults are what a careful user would pick
for a small covalent system such as silicon; every number has its unit in the field's
description. Cross-field rules raise errors that name the field and say what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

PositiveFloat = Annotated[float, Field(gt=0)]
DEFAULT_PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
MACE_MP_NAMES = frozenset({"small", "medium", "large", "medium-mpa-0", "medium-omat-0"})


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the directory of the config file being loaded."""
    base = (info.context or {}).get("base_dir")
    if path.is_absolute() or base is None:
        return path
    return Path(base) / path


def _existing_file(value: Path | None, info: ValidationInfo, what: str) -> Path | None:
    """``value`` resolved against the config's folder; an error naming ``what`` if absent."""
    if value is None:
        return None
    path = _resolve(value, info)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    return path


Lattice = Literal["diamond", "fcc", "bcc", "hcp", "sc"]


def _all_lattices() -> list[Lattice]:
    return ["diamond", "fcc", "bcc", "hcp", "sc"]


class DistillationConfig(_Section):
    """Phase 1: combinatorial structures, active-set selection and MACE labelling."""

    pool_size: int = Field(
        400, ge=1, description="Candidate structures generated before selection."
    )
    n_select: int = Field(60, ge=1, description="Structures kept by active-set selection.")
    max_atoms: int = Field(
        64, ge=1, description="Largest structure the generator may make (atoms)."
    )
    strain_range: PositiveFloat = Field(
        0.08, le=0.3, description="Largest volumetric strain (fraction)."
    )
    rattle_amplitudes: list[PositiveFloat] = Field(
        default_factory=lambda: [0.02, 0.05, 0.1], description="Rattle standard deviations (Å)."
    )
    surfaces: bool = Field(True, description="Include low-index slabs.")
    defects: bool = Field(True, description="Include vacancies and interstitials.")
    prototypes: list[Lattice] = Field(
        default_factory=_all_lattices,
        min_length=1,
        description="Bulk lattices built for every element and alloy composition.",
    )
    compositions: list[dict[str, PositiveFloat]] = Field(
        default_factory=list,
        description="Alloy compositions as element -> fraction (normalised); empty with several "
        "elements means equiatomic plus 3:1 for every pair.",
    )
    uncertain_policy: Literal["qe", "drop"] = Field(
        "qe", description="What happens to structures MACE is unsure about: label with QE or drop."
    )
    seed: int = 0

    @model_validator(mode="after")
    def _selection_fits_pool(self) -> Self:
        if self.n_select > self.pool_size:
            raise ValueError(
                f"n_select ({self.n_select}) must not exceed pool_size ({self.pool_size})"
            )
        return self


class ActiveLearningThresholds(_Section):
    """Dual thresholds on the ACE extrapolation grade gamma, with smoothing against noise."""

    threshold_add_train: PositiveFloat = Field(
        5.0, description="Atoms whose gamma exceeds this are learning candidates."
    )
    threshold_call_dft: PositiveFloat = Field(
        25.0, description="The smoothed maximum gamma above which MD halts for DFT."
    )
    smooth_steps: int = Field(
        5, ge=1, description="Number of checks in the moving average of the maximum gamma."
    )
    hard_ceiling: PositiveFloat = Field(
        100.0, description="A single gamma reading above this halts at once (blow-up guard)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.threshold_add_train < self.threshold_call_dft:
            raise ValueError(
                f"threshold_add_train ({self.threshold_add_train}) must be below "
                f"threshold_call_dft ({self.threshold_call_dft})"
            )
        if not self.threshold_call_dft < self.hard_ceiling:
            raise ValueError(
                f"hard_ceiling ({self.hard_ceiling}) must exceed "
                f"threshold_call_dft ({self.threshold_call_dft})"
            )
        return self


class RelaxationConfig(_Section):
    """Buffer pre-relaxation of a cutout cluster (core fixed)."""

    enabled: bool = True
    optimizer: Literal["FIRE", "BFGS"] = "FIRE"
    fmax: PositiveFloat = Field(0.05, description="Force convergence criterion (eV/Å).")
    max_steps: int = Field(200, ge=1)
    unknown_passivant: Literal["skip", "rigid"] = Field(
        "skip",
        description="When the relaxing model does not know the passivating element: 'skip' "
        "the relaxation, or relax the buffer with each passivant following its host ('rigid'). "
        "With a Si-only MACE, 'rigid' moved buffer atoms by 0.34 Å and changed QE core forces "
        "by up to 2.9 eV/Å (docs/cutout.md), so 'skip' is the default.",
    )


class CutoutConfig(_Section):
    """Phase 3: spherical core + buffer extraction and passivation."""

    # Defaults from benchmarks/bench_cutout_qe.py (docs/cutout.md): with a 5 Å buffer and 3 Å of
    # vacuum, core forces of Si clusters are within 0.15 eV/Å of the periodic parent for a
    # bulk-like centre, and the cluster SCF costs a third of a 215-atom periodic one.
    core_radius: PositiveFloat = Field(3.0, description="Atoms within this distance are core (Å).")
    buffer_radius: PositiveFloat = Field(
        5.0, description="Atoms within this distance are in the cluster (Å)."
    )
    taper_width: float = Field(
        0.0,
        ge=0,
        description="Width of a linear force-weight taper beyond the core (Å); 0 is a step.",
    )
    mode: Literal["cluster", "periodic_box"] = Field(
        "cluster", description="Vacuum cluster with passivation, or a periodic box for metals."
    )
    vacuum: PositiveFloat = Field(3.0, description="Vacuum padding around a cluster (Å).")
    passivation_element: str = "H"
    passivate: bool = True
    bond_lengths: dict[str, PositiveFloat] = Field(
        default_factory=lambda: {"Si": 1.48, "C": 1.09, "O": 0.97, "N": 1.01, "Ge": 1.53},
        description="X–H bond length per element X (Å).",
    )
    bond_cutoff_scale: PositiveFloat = Field(
        1.2, description="A bond exists within this multiple of the sum of covalent radii."
    )
    min_passivant_distance: PositiveFloat = Field(
        1.0, description="Passivants closer than this to each other are merged (Å)."
    )
    relaxation: RelaxationConfig = Field(default_factory=RelaxationConfig)

    @model_validator(mode="after")
    def _buffer_outside_core(self) -> Self:
        if not self.buffer_radius > self.core_radius:
            raise ValueError(
                f"buffer_radius ({self.buffer_radius}) must exceed core_radius ({self.core_radius})"
            )
        return self


class LoopStrategyConfig(_Section):
    """Phase 4: how the ACE potential is updated after each DFT event."""

    update_mode: Literal["incremental", "scratch"] = "incremental"
    replay_buffer_size: int = Field(200, ge=1, description="Structures held by the replay buffer.")
    new_fraction: float = Field(
        0.5, gt=0, le=1, description="Fraction of each update's training set that is new data."
    )
    replay_strategy: Literal["random", "farthest_point"] = "random"
    max_iterations: int = Field(10, ge=1, description="Active-learning iterations before stopping.")
    surrogates_per_structure: int = Field(
        8, ge=0, description="Perturbed neighbours labelled by fine-tuned MACE per DFT structure."
    )
    surrogate_rattle: PositiveFloat = Field(
        0.04, le=0.3, description="Standard deviation of surrogate rattles (Å)."
    )
    surrogate_strain: PositiveFloat = Field(
        0.02, le=0.1, description="Largest strain component of surrogate deformations (fraction)."
    )
    surrogate_relax_steps: int = Field(
        20, ge=1, description="FIRE steps of a surrogate buffer relaxation (core atoms fixed)."
    )
    finetune_mace: bool = True


class EspressoConfig(_Section):
    """Quantum ESPRESSO pw.x settings."""

    command: list[str] | str = Field(
        default_factory=lambda: ["pw.x"],
        description="argv list, or an env_chk string such as '>>pw_cmd<<' set in the FWorker env.",
    )
    mpi_command: list[str] = Field(
        default_factory=list, description="Prefix such as ['mpirun', '-np', '4']; empty is serial."
    )
    pseudo_dir: Path = DEFAULT_PSEUDO_DIR
    pseudopotentials: dict[str, str] = Field(
        default_factory=lambda: {"Si": "Si.pbe-rrkj.UPF", "H": "H.pbe-kjpaw.UPF"}
    )
    ecutwfc: PositiveFloat = Field(30.0, description="Wavefunction cutoff (Ry).")
    ecutrho: PositiveFloat | None = Field(
        None, description="Density cutoff (Ry); default 4×ecutwfc."
    )
    kspacing: PositiveFloat = Field(
        0.1,
        description="Maximum k-point spacing (2π/Å): n_i = ceil(|b_i|/kspacing), giving 4×4×4 "
        "for Si2, 2×2×2 for Si8 and Gamma from 64 Si atoms; clusters always use Gamma.",
    )
    smearing: Literal["gaussian", "mv", "mp", "fd"] | None = Field(
        "mv", description="Occupation smearing; None for fixed occupations (insulators only)."
    )
    degauss: PositiveFloat = Field(0.01, description="Smearing width (Ry).")
    mixing_beta: PositiveFloat = Field(0.5, le=1)
    electron_maxstep: int = Field(100, ge=1)
    conv_thr: PositiveFloat = Field(1e-7, description="SCF convergence threshold (Ry).")
    max_seconds: PositiveFloat | None = Field(None, description="pw.x wall-time limit (s).")
    max_corrections: int = Field(5, ge=0, description="custodian corrections before giving up.")
    keep_artifacts: bool = Field(False, description="Keep *.wfc and *.save after success.")

    @field_validator("pseudo_dir")
    @classmethod
    def _pseudo_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


class MACEConfig(_Section):
    """MACE models: local files (one, or several for a committee) or MACE-MP names."""

    model_paths: list[str] = Field(
        default_factory=list, description="Local model files, or MACE-MP names where downloadable."
    )
    device: Literal["cpu", "cuda"] = "cpu"
    default_dtype: Literal["float32", "float64"] = "float32"
    batch_size: int = Field(8, ge=1)
    threads: int = Field(1, ge=1, description="torch threads; keep 1 when sharing cores.")

    @field_validator("model_paths")
    @classmethod
    def _models_exist(cls, value: list[str], info: ValidationInfo) -> list[str]:
        resolved = []
        for entry in value:
            if entry in MACE_MP_NAMES:
                resolved.append(entry)
                continue
            path = _resolve(Path(entry), info)
            if not path.is_file():
                raise ValueError(f"MACE model file {str(path)!r} does not exist")
            resolved.append(str(path))
        return resolved


class TieredOracleConfig(_Section):
    """Routing between MACE and QE by MACE committee uncertainty."""

    threshold_call_dft: PositiveFloat = Field(
        0.15, description="Committee force spread (eV/Å) above which a structure goes to QE."
    )
    energy_threshold_call_dft: PositiveFloat = Field(
        0.02,
        description="Committee energy spread (eV/atom) above which a structure goes to QE; it "
        "catches cells whose forces vanish by symmetry, where the force spread is zero.",
    )
    align_energies: bool = Field(
        True,
        description="Shift MACE energies onto the DFT scale by per-element constants fitted on "
        "the structures that both labelled, so one fit never mixes two energy scales.",
    )


class OracleConfig(_Section):
    qe: EspressoConfig = Field(default_factory=EspressoConfig)
    mace: MACEConfig = Field(default_factory=MACEConfig)
    tiered: TieredOracleConfig = Field(default_factory=TieredOracleConfig)


class MDConfig(_Section):
    """Production MD with the ACE potential (LAMMPS metal units)."""

    initial_structure: Path | None = Field(
        None, description="Starting structure (any ASE-readable file); None uses the generator."
    )
    supercell: tuple[int, int, int] = (3, 3, 3)
    ensemble: Literal["nve", "nvt", "npt"] = "nvt"
    temperature: PositiveFloat = Field(600.0, description="Target temperature (K).")
    pressure: float = Field(0.0, description="Target pressure for NPT (bar).")
    timestep: PositiveFloat = Field(0.001, le=0.01, description="Timestep (ps).")
    steps: int = Field(10000, ge=1)
    check_interval: int = Field(10, ge=1, description="Steps between gamma checks.")
    restart_interval: int = Field(1000, ge=1, description="Steps between restart files.")
    thermostat_damping: PositiveFloat = Field(0.1, description="Nosé–Hoover Tdamp (ps).")
    barostat_damping: PositiveFloat = Field(1.0, description="Nosé–Hoover Pdamp (ps).")
    soft_start_steps: int = Field(200, ge=0, description="Langevin steps after a potential swap.")
    soft_start_damping: PositiveFloat = Field(0.05, description="Langevin damping (ps).")
    min_distance: PositiveFloat = Field(1.0, description="Pairs closer than this end the run (Å).")
    seed: int = Field(12345, ge=1)
    ace_backend: Literal["auto", "native", "external"] = Field(
        "auto",
        description="How ACE runs in LAMMPS: ML-PACE pace/extrapolation ('native'), pyace in "
        "fix external ('external'), or native where the LAMMPS build has it ('auto').",
    )

    @field_validator("initial_structure")
    @classmethod
    def _structure_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "initial structure")


class MACEFinetuneConfig(_Section):
    epochs: int = Field(10, ge=1)
    learning_rate: PositiveFloat = 0.005
    replay_structures: int = Field(50, ge=0, description="Old structures mixed into fine-tuning.")
    batch_size: int = Field(4, ge=1)
    energy_weight: PositiveFloat = Field(
        1.0, description="Loss weight of energies per atom (mace_run_train --energy_weight)."
    )
    forces_weight: PositiveFloat = Field(
        10.0, description="Loss weight of forces (mace_run_train --forces_weight)."
    )


class TrainerConfig(_Section):
    """pacemaker (ACE) fitting."""

    cutoff: PositiveFloat = Field(5.0, le=12, description="ACE radial cutoff (Å).")
    functions_per_element: int = Field(60, ge=1, description="B-basis functions per element.")
    max_iterations: int = Field(300, ge=1, description="Optimiser iterations of a scratch fit.")
    incremental_iterations: int = Field(
        100, ge=1, description="Optimiser iterations of an incremental update (constant cost)."
    )
    kappa: float = Field(0.3, gt=0, lt=1, description="Loss weight of forces vs energies.")
    ndensity: int = Field(
        2, ge=1, le=4, description="Densities of the Finnis-Sinclair embedding (1 is linear)."
    )
    energy_reference: Literal["auto", "none"] = Field(
        "auto",
        description="'auto': fit energies relative to per-element reference energies "
        "(pacemaker's reference_energy: auto; the potential then predicts E minus a constant "
        "per atom, see training.pacemaker.energy_offset); 'none': fit raw total energies, "
        "only sensible for a few eV/atom such as classical references.",
    )
    batch_size: int = Field(50, ge=1)
    test_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    mace_finetune: MACEFinetuneConfig = Field(default_factory=MACEFinetuneConfig)


class ValidationConfig(_Section):
    """Phase 2 gate: tolerances of the potential against a reference oracle."""

    reference: Literal["mace", "qe"] = "mace"
    structure: Path | None = Field(
        None,
        description="Crystal to validate on (any ASE-readable file); None builds the ground "
        "state of the first element with ase.build.bulk.",
    )
    eos_volume_tolerance: PositiveFloat = Field(0.02, description="Relative error allowed on V0.")
    eos_bulk_modulus_tolerance: PositiveFloat = Field(0.1, description="Relative error on B0.")
    eos_energy_tolerance: PositiveFloat = Field(
        20.0, description="Absolute error allowed on E0 (meV/atom)."
    )
    eos_points: int = Field(7, ge=5, description="Volumes in the equation-of-state scan.")
    eos_volume_range: PositiveFloat = Field(
        0.06, le=0.3, description="The EOS scan spans V0 × (1 ± this) (fraction)."
    )
    elastic_tolerance: PositiveFloat = Field(0.15, description="Relative error on Cij.")
    elastic_strain: PositiveFloat = Field(
        0.005, le=0.05, description="Finite strain of the elastic-constant differences."
    )
    elastic_relax_internal: bool = Field(
        True, description="Relax atoms inside each strained cell (relaxed-ion Cij)."
    )
    phonon_supercell: tuple[int, int, int] = Field(
        (3, 3, 3), description="Phonopy supercell of the validation cell (repetitions)."
    )
    phonon_displacement: PositiveFloat = Field(0.01, description="Phonopy displacement (Å).")
    phonon_imaginary_tolerance: PositiveFloat = Field(
        0.1, description="Largest allowed imaginary frequency (THz)."
    )
    phonon_frequency_tolerance: PositiveFloat = Field(
        0.15,
        description="Error on frequencies at high-symmetry points, relative to the highest "
        "reference frequency.",
    )
    md_temperature: PositiveFloat = Field(1200.0, description="Stress-test temperature (K).")
    md_steps: int = Field(500, ge=1)
    md_timestep: PositiveFloat = Field(0.001, le=0.01, description="Stress-test timestep (ps).")
    md_min_atoms: int = Field(
        64, ge=1, description="The stress-test supercell has at least this many atoms."
    )
    md_max_drift: PositiveFloat = Field(1.0, description="Largest NVE energy drift (meV/atom/ps).")
    md_min_distance: PositiveFloat = Field(1.5, description="Closest pair allowed (Å).")
    md_max_gamma: PositiveFloat | None = Field(
        None,
        description="Largest ACE extrapolation grade allowed in the stress test; None only "
        "reports it.",
    )

    @field_validator("structure")
    @classmethod
    def _structure_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "validation structure")


class FireWorksConfig(_Section):
    launchpad_file: Path | None = Field(
        None, description="my_launchpad.yaml; None runs on an in-process mongomock LaunchPad."
    )

    @field_validator("launchpad_file")
    @classmethod
    def _launchpad_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "LaunchPad file")


class CampaignConfig(_Section):
    """One active-learning campaign: the whole YAML file."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    elements: list[str] = Field(..., min_length=1)
    workdir: Path = Field(Path("runs"), validate_default=True)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    thresholds: ActiveLearningThresholds = Field(default_factory=ActiveLearningThresholds)
    cutout: CutoutConfig = Field(default_factory=CutoutConfig)
    loop: LoopStrategyConfig = Field(default_factory=LoopStrategyConfig)
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    md: MDConfig = Field(default_factory=MDConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    fireworks: FireWorksConfig = Field(default_factory=FireWorksConfig)

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, value: list[str]) -> list[str]:
        from ase.data import atomic_numbers

        unknown = [symbol for symbol in value if symbol not in atomic_numbers]
        if unknown:
            raise ValueError(f"unknown chemical symbols {unknown}")
        if len(set(value)) != len(value):
            raise ValueError(f"elements repeat: {value}")
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _compositions_use_campaign_elements(self) -> Self:
        for composition in self.distillation.compositions:
            unknown = sorted(set(composition) - set(self.elements))
            if unknown:
                raise ValueError(
                    f"distillation.compositions entry {composition} names {unknown}, "
                    f"which are not in elements {self.elements}"
                )
        return self

    @model_validator(mode="after")
    def _every_element_has_a_pseudopotential(self) -> Self:
        qe = self.oracle.qe
        needed = list(self.elements)
        if self.cutout.mode == "cluster" and self.cutout.passivate:
            needed.append(self.cutout.passivation_element)
        problems = []
        for symbol in dict.fromkeys(needed):
            name = qe.pseudopotentials.get(symbol)
            if name is None:
                problems.append(f"element {symbol} has no entry in oracle.qe.pseudopotentials")
            elif not (qe.pseudo_dir / name).is_file():
                problems.append(f"pseudopotential {name!r} for {symbol} is not in {qe.pseudo_dir}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_config(path: str | os.PathLike[str]) -> CampaignConfig:
    """Read and validate a campaign YAML file; relative paths resolve against its folder."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of sections")
    return CampaignConfig.model_validate(data, context={"base_dir": path.resolve().parent})


class ConfigFileError(ValueError):
    """The config file is not a YAML mapping at all."""


def describe_errors(error: ValidationError) -> list[str]:
    """One line per problem: ``dotted.field: message``, for users rather than developers."""
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    return lines


def dump_config(config: CampaignConfig) -> dict[str, Any]:
    """The config as plain JSON-able data, for a FireWorks spec."""
    return config.model_dump(mode="json")
