"""The campaign configuration: Pydantic v2 models loaded from one YAML file.

Each section of the YAML file is one model below. Defaults are what a careful user would pick
for a small covalent system such as silicon; every number has its unit in the field's
description. Cross-field rules raise errors that name the field and say what is allowed.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Strict numbers: YAML's `true` must not pass as 1 (pydantic's lax mode would accept it).
Real = Annotated[float, Strict()]
PositiveFloat = Annotated[float, Strict(), Field(gt=0)]
Count = Annotated[int, Strict()]
DEFAULT_PSEUDO_DIR = Path("/usr/share/espresso/pseudo")
MACE_MP_NAMES = frozenset({"small", "medium", "large", "medium-mpa-0", "medium-omat-0"})
ENV_CHK = r"^>>[A-Za-z_][A-Za-z0-9_]*<<$"
"""A site value taken from the FireWorks worker's ``env`` at run time (atomate's env_chk)."""


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the directory of the config file being loaded."""
    base = (info.context or {}).get("base_dir")
    if path.is_absolute() or base is None:
        return path
    return Path(base) / path


def is_env_chk(value: object) -> bool:
    """Whether ``value`` is a '>>key<<' reference to the FireWorks worker's env."""
    return isinstance(value, str) and re.match(ENV_CHK, value) is not None


def _resolved_list(value: list[str] | str, field: str) -> list[str]:
    """A site list that must have been resolved from the FWorker env by now."""
    if isinstance(value, str):
        raise ValueError(
            f"{field} is {value!r}, a site value that was not resolved from the FWorker env "
            "(see pyacemaker_fw.site.resolve_site)"
        )
    return list(value)


def _optional_path(value: Path | None, info: ValidationInfo) -> Path | None:
    return None if value is None else _resolve(value, info)


Lattice = Literal["diamond", "fcc", "bcc", "hcp", "sc"]


def _all_lattices() -> list[Lattice]:
    return ["diamond", "fcc", "bcc", "hcp", "sc"]


class DistillationConfig(_Section):
    """Phase 1: combinatorial structures, active-set selection and MACE labelling."""

    pool_size: Count = Field(
        400, ge=1, le=100_000, description="Candidate structures generated before selection."
    )
    n_select: Count = Field(
        60, ge=1, le=100_000, description="Structures kept by active-set selection."
    )
    max_atoms: Count = Field(
        64, ge=1, le=2000, description="Largest structure the generator may make (atoms)."
    )
    strain_range: PositiveFloat = Field(
        0.08, le=0.3, description="Largest volumetric strain (fraction)."
    )
    rattle_amplitudes: list[Annotated[float, Strict(), Field(gt=0, le=0.5)]] = Field(
        default_factory=lambda: [0.02, 0.05, 0.1], description="Rattle standard deviations (Å)."
    )
    surfaces: bool = Field(True, description="Include low-index slabs.")
    defects: bool = Field(True, description="Include vacancies and interstitials.")
    prototypes: list[Lattice] = Field(
        default_factory=_all_lattices,
        min_length=1,
        description="Bulk lattices built for every element and alloy composition.",
    )
    compositions: list[dict[str, Annotated[float, Strict(), Field(gt=0, le=1e6)]]] = Field(
        default_factory=list,
        description="Alloy compositions as element -> fraction (normalised); empty with several "
        "elements means equiatomic plus 3:1 for every pair.",
    )
    uncertain_policy: Literal["dft", "drop"] = Field(
        "dft",
        description="What happens to structures the surrogate (MACE) is unsure about: label them "
        "with the DFT engine, or drop them.",
    )
    dft_batch_size: Count = Field(
        4, ge=1, le=1000, description="Structures per DFT Firework (batches run in parallel)."
    )
    seed: Count = Field(0, ge=0)

    @model_validator(mode="after")
    def _selection_fits_pool(self) -> Self:
        if self.n_select > self.pool_size:
            raise field_error(
                "n_select", f"{self.n_select} must not exceed pool_size ({self.pool_size})"
            )
        return self


class ActiveLearningThresholds(_Section):
    """Dual thresholds on the ACE extrapolation grade gamma, with smoothing against noise."""

    threshold_add_train: PositiveFloat = Field(
        5.0, le=1e6, description="Atoms whose gamma exceeds this are learning candidates."
    )
    threshold_call_dft: PositiveFloat = Field(
        25.0, le=1e6, description="The smoothed maximum gamma above which MD halts for DFT."
    )
    smooth_steps: Count = Field(
        5,
        ge=1,
        le=1000,
        description="Number of checks in the moving average of the maximum gamma.",
    )
    hard_ceiling: PositiveFloat = Field(
        100.0,
        le=1e9,
        description="A single gamma reading above this halts at once (blow-up guard).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.threshold_add_train < self.threshold_call_dft:
            raise field_error(
                "threshold_add_train",
                f"{self.threshold_add_train} must be below threshold_call_dft "
                f"({self.threshold_call_dft})",
            )
        if not self.threshold_call_dft < self.hard_ceiling:
            raise field_error(
                "hard_ceiling",
                f"{self.hard_ceiling} must exceed threshold_call_dft ({self.threshold_call_dft})",
            )
        return self


class RelaxationConfig(_Section):
    """Buffer pre-relaxation of a cutout cluster (core fixed)."""

    enabled: bool = Field(
        False,
        description="Relax buffer and caps with the surrogate before DFT. On hot Si frames it "
        "made cluster labels 3-4× worse (it removes the buffer's thermal displacement): off "
        "unless your surrogate and system are shown to gain (docs/cutout.md).",
    )
    optimizer: Literal["FIRE", "BFGS"] = "FIRE"
    fmax: PositiveFloat = Field(0.05, le=10, description="Force convergence criterion (eV/Å).")
    max_steps: Count = Field(200, ge=1, le=100_000)
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
    core_radius: PositiveFloat = Field(
        3.0, le=20, description="Atoms within this distance are core (Å)."
    )
    buffer_radius: PositiveFloat = Field(
        5.0, le=30, description="Atoms within this distance are in the cluster (Å)."
    )
    taper_width: Real = Field(
        0.0,
        ge=0,
        le=20,
        description="Width of a linear force-weight taper beyond the core (Å); 0 is a step.",
    )
    mode: Literal["cluster", "periodic_box"] = Field(
        "periodic_box",
        description="A periodic box cut from the frame (no surface, no caps; the whole frame "
        "when the cell is small), or a vacuum cluster with passivation. For hot Si at "
        "production settings the box labels core forces to 0.006-0.03 eV/Å, the H-capped "
        "cluster to 0.17-0.41 (docs/cutout.md).",
    )
    vacuum: PositiveFloat = Field(3.0, le=30, description="Vacuum padding around a cluster (Å).")
    passivation_element: str = "H"
    passivate: bool = True
    bond_lengths: dict[str, Annotated[float, Strict(), Field(gt=0.5, le=3.0)]] = Field(
        default_factory=lambda: {"Si": 1.48, "C": 1.09, "O": 0.97, "N": 1.01, "Ge": 1.53},
        description="X–H bond length per element X (Å).",
    )
    bond_cutoff_scale: PositiveFloat = Field(
        1.2,
        ge=0.8,
        le=2.0,
        description="A bond exists within this multiple of the sum of covalent radii.",
    )
    min_passivant_distance: PositiveFloat = Field(
        1.0, le=3.0, description="Passivants closer than this to each other are merged (Å)."
    )
    relaxation: RelaxationConfig = Field(default_factory=RelaxationConfig)
    max_clusters: Count = Field(
        4,
        ge=1,
        le=1000,
        description="Most clusters cut (and labelled by DFT) per halt, around the highest gamma.",
    )

    @model_validator(mode="after")
    def _buffer_outside_core(self) -> Self:
        if not self.buffer_radius > self.core_radius:
            raise field_error(
                "buffer_radius",
                f"{self.buffer_radius} must exceed core_radius ({self.core_radius})",
            )
        return self


class LoopStrategyConfig(_Section):
    """Phases 3 and 4: how long the loop runs and how the ACE potential is updated."""

    # The two settings that end the campaign, side by side: whichever comes first.
    total_md_steps: Count = Field(
        10_000,
        ge=1,
        le=10**10,
        description="MD steps per walker over the whole campaign; the loop ends when every "
        "walker has run them.",
    )
    max_iterations: Count = Field(
        10,
        ge=0,
        le=10_000,
        description="Uncertainty-triggered retrains before the loop ends (0: Phases 1-2 and "
        "one MD run, no loop).",
    )
    update_mode: Literal["incremental", "scratch"] = "incremental"
    replay_buffer_size: Count = Field(
        200, ge=1, le=1_000_000, description="Structures held by the replay buffer."
    )
    new_fraction: Real = Field(
        0.2,
        gt=0,
        le=1,
        description="Fraction of each update's training set that is new data; 0.2 kept the "
        "error on the first data from rising over 20 updates (benchmarks/bench_incremental.py).",
    )
    replay_strategy: Literal["random", "farthest_point"] = "random"
    surrogates_per_structure: Count = Field(
        8,
        ge=0,
        le=1000,
        description="Perturbed neighbours labelled by fine-tuned MACE per DFT structure.",
    )
    surrogate_rattle: PositiveFloat = Field(
        0.04, le=0.3, description="Standard deviation of surrogate rattles (Å)."
    )
    surrogate_strain: PositiveFloat = Field(
        0.02, le=0.1, description="Largest strain component of surrogate deformations (fraction)."
    )
    surrogate_relax_steps: Count = Field(
        20,
        ge=1,
        le=10_000,
        description="FIRE steps of a surrogate buffer relaxation (core atoms fixed).",
    )
    finetune_mace: bool = True


class EspressoConfig(_Section):
    """Quantum ESPRESSO pw.x settings. ``command``, ``mpi_command`` and ``pseudo_dir`` are site
    settings (see :data:`SITE_FIELDS`): each may be '>>key<<', read from the FWorker env."""

    command: list[str] | Annotated[str, Field(min_length=1)] = Field(
        default_factory=lambda: ["pw.x"],
        description="argv list, or an env_chk string such as '>>pw_cmd<<' set in the FWorker env.",
    )
    mpi_command: list[str] | Annotated[str, Field(pattern=ENV_CHK)] = Field(
        default_factory=list,
        description="Prefix such as ['mpirun', '-np', '4']; empty is serial; or '>>mpi_cmd<<'.",
    )
    pseudo_dir: Path = Field(
        DEFAULT_PSEUDO_DIR, description="Folder of the UPF files, or '>>pseudo_dir<<'."
    )
    pseudopotentials: dict[str, str] = Field(
        default_factory=lambda: {"Si": "Si.pbe-rrkj.UPF", "H": "H.pbe-kjpaw.UPF"}
    )
    ecutwfc: PositiveFloat = Field(30.0, ge=5, le=500, description="Wavefunction cutoff (Ry).")
    ecutrho: PositiveFloat | None = Field(
        240.0,
        ge=20,
        le=4000,
        description="Density cutoff (Ry); null is 4×ecutwfc. 240 Ry for the H PAW dataset.",
    )
    kspacing: PositiveFloat = Field(
        0.05,
        ge=0.01,
        le=2.0,
        description="Maximum k-point spacing (2π/Å): n_i = ceil(|b_i|/kspacing), giving 7×7×7 "
        "for Si2, 4×4×4 for Si8 and 2×2×2 for Si64 (edges up to 20 Å); clusters always use "
        "Gamma. For hot 64-atom Si, Gamma is 0.05-0.1 eV/Å off the converged forces, a "
        "shifted 2×2×2 grid 0.006-0.03 (benchmarks/bench_cutout_qe.py).",
    )
    kpoint_shift: bool = Field(
        True,
        description="Shift the Monkhorst–Pack grid by half a step on every axis with more than "
        "one point: as accurate as the unshifted grid with half the k-points; 1×1×1 stays "
        "Gamma.",
    )
    smearing: Literal["gaussian", "mv", "mp", "fd"] | None = Field(
        "mv", description="Occupation smearing; None for fixed occupations (insulators only)."
    )
    degauss: PositiveFloat = Field(0.01, le=0.2, description="Smearing width (Ry).")
    mixing_beta: PositiveFloat = Field(0.5, le=1)
    electron_maxstep: Count = Field(100, ge=1, le=10_000)
    conv_thr: PositiveFloat = Field(1e-7, le=1e-2, description="SCF convergence threshold (Ry).")
    max_seconds: PositiveFloat | None = Field(None, description="pw.x wall-time limit (s).")
    max_corrections: Count = Field(
        5, ge=0, le=100, description="custodian corrections before giving up."
    )
    keep_artifacts: bool = Field(False, description="Keep *.wfc and *.save after success.")

    @field_validator("pseudo_dir")
    @classmethod
    def _pseudo_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return value if is_env_chk(str(value)) else _resolve(value, info)

    def mpi_argv(self) -> list[str]:
        """The MPI prefix; an error if it is still an unresolved '>>key<<' site value."""
        return _resolved_list(self.mpi_command, "oracle.qe.mpi_command")

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, str) and not is_env_chk(value):
            raise ValueError(f"give an argv list such as [{value!r}], or '>>pw_cmd<<'")
        if isinstance(value, list) and not value:
            raise ValueError("must name the pw.x executable")
        return value


class MACEConfig(_Section):
    """MACE models: local files (one, or several for a committee) or MACE-MP names.

    ``model_paths`` is a site setting: a list, or '>>mace_models<<' from the FWorker env. The
    files are checked where the job runs (and by ``pyacemaker-fw validate``, as a warning).
    """

    model_paths: list[str] | Annotated[str, Field(pattern=ENV_CHK)] = Field(
        default_factory=list, description="Local model files, or MACE-MP names where downloadable."
    )
    device: Literal["cpu", "cuda"] = "cpu"
    default_dtype: Literal["float32", "float64"] = "float32"
    batch_size: Count = Field(8, ge=1, le=10_000)
    threads: Count = Field(
        1, ge=1, le=1024, description="torch threads; keep 1 when sharing cores."
    )

    def model_files(self) -> list[str]:
        """The model entries; an error if they are still an unresolved '>>key<<' site value."""
        return _resolved_list(self.model_paths, "oracle.mace.model_paths")

    @field_validator("model_paths")
    @classmethod
    def _resolve_models(cls, value: list[str] | str, info: ValidationInfo) -> list[str] | str:
        if isinstance(value, str):
            return value
        return [
            entry if entry in MACE_MP_NAMES else str(_resolve(Path(entry), info)) for entry in value
        ]


class TieredOracleConfig(_Section):
    """Routing between MACE and QE by MACE committee disagreement."""

    force_spread_threshold: PositiveFloat = Field(
        0.15,
        le=100,
        description="Committee force spread (eV/Å) above which a structure goes to QE.",
    )
    energy_spread_threshold: PositiveFloat = Field(
        0.02,
        le=100,
        description="Committee energy spread (eV/atom) above which a structure goes to QE; it "
        "catches cells whose forces vanish by symmetry, where the force spread is zero.",
    )
    align_energies: bool = Field(
        True,
        description="Shift MACE energies onto the DFT scale by per-element constants fitted on "
        "the structures that both labelled, so one fit never mixes two energy scales.",
    )


DftEngine = Literal["qe", "stillinger_weber", "emt"]
SurrogateEngine = Literal["mace", "stillinger_weber", "emt"]


class OracleConfig(_Section):
    dft_engine: DftEngine = Field(
        "qe",
        description="Who labels what the surrogate cannot: Quantum ESPRESSO, or a classical "
        "reference (Stillinger-Weber Si, EMT) standing in for DFT in tests and quick demos.",
    )
    surrogate_engine: SurrogateEngine = Field(
        "mace",
        description="The cheap labeller (Phase 1 labels, buffer relaxation, surrogate data): "
        "the MACE models of oracle.mace, or a classical reference.",
    )
    qe: EspressoConfig = Field(default_factory=EspressoConfig)
    mace: MACEConfig = Field(default_factory=MACEConfig)
    tiered: TieredOracleConfig = Field(default_factory=TieredOracleConfig)


class WalkerConfig(_Section):
    """One MD walker: what sets it apart from the others (unset fields take md's values)."""

    temperature: PositiveFloat | None = Field(
        None, le=10_000, description="Target temperature (K)."
    )
    seed: Count | None = Field(
        None, ge=1, le=2**31 - 1, description="Velocity seed; None: md.seed + walker index."
    )
    initial_structure: Path | None = Field(None, description="Starting structure file.")

    _structure_path = field_validator("initial_structure")(_optional_path)


class MDConfig(_Section):
    """Production MD with the ACE potential (LAMMPS metal units). How many steps the campaign
    runs is ``loop.total_md_steps``."""

    initial_structure: Path | None = Field(
        None,
        description="Starting structure (any ASE-readable file); None: the ground-state bulk "
        "of the first element repeated by `supercell`.",
    )
    supercell: tuple[
        Annotated[int, Strict(), Field(ge=1, le=100)],
        Annotated[int, Strict(), Field(ge=1, le=100)],
        Annotated[int, Strict(), Field(ge=1, le=100)],
    ] = Field(
        (3, 3, 3),
        description="Repeats of the generated crystal; not applied to initial_structure.",
    )
    ensemble: Literal["nve", "nvt", "npt"] = "nvt"
    temperature: PositiveFloat = Field(600.0, le=10_000, description="Target temperature (K).")
    pressure: Real = Field(0.0, ge=-1e7, le=1e7, description="Target pressure for NPT (bar).")
    timestep: PositiveFloat = Field(0.001, le=0.01, description="Timestep (ps).")
    segment_steps: Count | None = Field(
        None,
        ge=1,
        le=10**10,
        description="Most MD steps one MD Firework runs before handing over to a child (a "
        "checkpoint for queue walltimes); None runs to the end or the next halt.",
    )
    check_interval: Count = Field(10, ge=1, le=100_000, description="Steps between gamma checks.")
    restart_interval: Count = Field(
        1000, ge=1, le=10**9, description="Steps between restart files."
    )
    thermostat_damping: PositiveFloat = Field(0.1, le=100, description="Nosé–Hoover Tdamp (ps).")
    barostat_damping: PositiveFloat = Field(1.0, le=1000, description="Nosé–Hoover Pdamp (ps).")
    soft_start_steps: Count = Field(
        200, ge=0, le=10**7, description="Langevin steps after a potential swap."
    )
    soft_start_damping: PositiveFloat = Field(0.05, le=100, description="Langevin damping (ps).")
    min_distance: PositiveFloat = Field(
        1.0, le=5, description="Pairs closer than this end the run (Å)."
    )
    retry_timestep_factor: PositiveFloat = Field(
        0.5,
        lt=1,
        description="After lost atoms, a too-close pair or non-finite forces, the MD is retried "
        "once from the last good restart with the timestep times this.",
    )
    seed: Count = Field(12345, ge=1, le=2**31 - 1)
    ace_backend: Literal["auto", "native", "external"] = Field(
        "auto",
        description="How ACE runs in LAMMPS: ML-PACE pace/extrapolation ('native'), pyace in "
        "fix external ('external'), or native where the LAMMPS build has it ('auto').",
    )
    walkers: list[WalkerConfig] = Field(
        default_factory=lambda: [WalkerConfig()],
        min_length=1,
        max_length=1000,
        description="Independent MD walkers run side by side (seeds, temperatures or starting "
        "structures); one by default.",
    )

    _structure_path = field_validator("initial_structure")(_optional_path)


class MACEFinetuneConfig(_Section):
    epochs: Count = Field(10, ge=1, le=10_000)
    learning_rate: PositiveFloat = Field(0.005, le=1)
    replay_structures: Count = Field(
        50, ge=0, le=1_000_000, description="Old structures mixed into fine-tuning."
    )
    batch_size: Count = Field(4, ge=1, le=10_000)
    energy_weight: PositiveFloat = Field(
        1.0,
        le=1e6,
        description="Loss weight of energies per atom (mace_run_train --energy_weight).",
    )
    forces_weight: PositiveFloat = Field(
        10.0, le=1e6, description="Loss weight of forces (mace_run_train --forces_weight)."
    )


class TrainerConfig(_Section):
    """pacemaker (ACE) fitting."""

    cutoff: PositiveFloat = Field(5.0, ge=1.5, le=12, description="ACE radial cutoff (Å).")
    functions_per_element: Count = Field(
        60, ge=1, le=100_000, description="B-basis functions per element."
    )
    max_iterations: Count = Field(
        300, ge=1, le=1_000_000, description="Optimiser iterations of a scratch fit."
    )
    incremental_iterations: Count = Field(
        100,
        ge=1,
        le=1_000_000,
        description="Optimiser iterations of an incremental update (constant cost).",
    )
    kappa: Real = Field(0.3, gt=0, lt=1, description="Loss weight of forces vs energies.")
    ndensity: Count = Field(
        2, ge=1, le=4, description="Densities of the Finnis-Sinclair embedding (1 is linear)."
    )
    energy_reference: Literal["auto", "none"] = Field(
        "auto",
        description="'auto': fit energies relative to per-element reference energies "
        "(pacemaker's reference_energy: auto; the potential then predicts E minus a constant "
        "per atom, see training.pacemaker.energy_offset); 'none': fit raw total energies, "
        "only sensible for a few eV/atom such as classical references.",
    )
    batch_size: Count = Field(50, ge=1, le=1_000_000)
    test_fraction: Real = Field(0.1, ge=0, lt=1)
    seed: Count = Field(42, ge=0)
    mace_finetune: MACEFinetuneConfig = Field(default_factory=MACEFinetuneConfig)


class ValidationConfig(_Section):
    """Phase 2 gate: tolerances of the potential against a reference oracle."""

    reference: Literal["surrogate", "dft"] = Field(
        "surrogate",
        description="Validate against oracle.surrogate_engine (MACE) or oracle.dft_engine (QE).",
    )
    structure: Path | None = Field(
        None,
        description="Crystal to validate on (any ASE-readable file); None builds the ground "
        "state of the first element with ase.build.bulk.",
    )
    holdout_set: Path | None = Field(
        None,
        description="Labelled structures (extxyz) that no fit ever sees: every potential "
        "version's force and energy errors on them go into the store and the report's "
        "learning curve.",
    )
    reference_properties: Path | None = Field(
        None,
        description="The reference's properties measured once, as a JSON ModelProperties "
        "(e.g. QE's EOS and phonons, workflows/si_demo/qe_properties.json): the gate compares "
        "against them instead of measuring the reference again. A property the file lacks "
        "is reported as not checked.",
    )
    on_failure: Literal["stop", "more_data"] = Field(
        "more_data",
        description="A failed gate either stops the campaign with its reasons, or goes back "
        "for more Phase 1 data (at most max_more_data times) and refits.",
    )
    max_more_data: Count = Field(
        2, ge=0, le=100, description="Phase 1 detours a failing gate may ask for."
    )
    eos_volume_tolerance: PositiveFloat = Field(
        0.02, le=1, description="Relative error allowed on V0."
    )
    eos_bulk_modulus_tolerance: PositiveFloat = Field(
        0.1, le=10, description="Relative error on B0."
    )
    eos_energy_tolerance: PositiveFloat = Field(
        20.0, le=10_000, description="Absolute error allowed on E0 (meV/atom)."
    )
    eos_points: Count = Field(
        7, ge=5, le=1000, description="Volumes in the equation-of-state scan."
    )
    eos_volume_range: PositiveFloat = Field(
        0.06, le=0.3, description="The EOS scan spans V0 × (1 ± this) (fraction)."
    )
    elastic_tolerance: PositiveFloat = Field(0.15, le=10, description="Relative error on Cij.")
    elastic_strain: PositiveFloat = Field(
        0.005, le=0.05, description="Finite strain of the elastic-constant differences."
    )
    elastic_relax_internal: bool = Field(
        True, description="Relax atoms inside each strained cell (relaxed-ion Cij)."
    )
    phonon_supercell: tuple[
        Annotated[int, Strict(), Field(ge=1, le=20)],
        Annotated[int, Strict(), Field(ge=1, le=20)],
        Annotated[int, Strict(), Field(ge=1, le=20)],
    ] = Field((3, 3, 3), description="Phonopy supercell of the validation cell (repetitions).")
    phonon_displacement: PositiveFloat = Field(
        0.01, le=0.5, description="Phonopy displacement (Å)."
    )
    phonon_imaginary_tolerance: PositiveFloat = Field(
        0.1, le=100, description="Largest allowed imaginary frequency (THz)."
    )
    phonon_frequency_tolerance: PositiveFloat = Field(
        0.15,
        le=10,
        description="Error on frequencies at high-symmetry points, relative to the highest "
        "reference frequency.",
    )
    md_temperature: PositiveFloat = Field(
        1200.0, le=10_000, description="Stress-test temperature (K)."
    )
    md_steps: Count = Field(500, ge=1, le=10**8)
    md_timestep: PositiveFloat = Field(0.001, le=0.01, description="Stress-test timestep (ps).")
    md_min_atoms: Count = Field(
        64,
        ge=1,
        le=1_000_000,
        description="The stress-test supercell has at least this many atoms.",
    )
    md_max_drift: PositiveFloat = Field(
        1.0, le=1e6, description="Largest NVE energy drift (meV/atom/ps)."
    )
    md_min_distance: PositiveFloat = Field(1.5, le=5, description="Closest pair allowed (Å).")
    md_max_gamma: PositiveFloat | None = Field(
        25.0,
        le=1e9,
        description="Largest ACE extrapolation grade allowed in the stress test (one reading; "
        "pacemaker's usual halt level, as threshold_call_dft); None only reports it.",
    )

    _structure_path = field_validator("structure", "holdout_set", "reference_properties")(
        _optional_path
    )


Category = Literal["dft", "md", "train", "light"]
CATEGORIES: tuple[Category, ...] = ("dft", "md", "train", "light")


class FireWorksConfig(_Section):
    """Where the campaign's Fireworks live and what each kind asks of the queue."""

    launchpad_file: Path | None = Field(
        None,
        description="my_launchpad.yaml for `submit`; None: `run` keeps an embedded LaunchPad "
        "in the campaign folder. A site setting: '>>launchpad_file<<' reads the FWorker env.",
    )
    queueadapter: dict[Category, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-category `_queueadapter` hints copied into each Firework's spec "
        "(for example {dft: {ntasks: 32, walltime: '02:00:00'}}); qlaunch applies them.",
    )

    @field_validator("launchpad_file")
    @classmethod
    def _launchpad_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None or is_env_chk(str(value)):
            return value
        return _resolve(value, info)


class CleanupConfig(_Section):
    """What the campaign keeps on disk as it goes (``pyacemaker-fw status`` shows disk use)."""

    keep_md_segments: Count = Field(
        2,
        ge=2,
        le=1_000_000,
        description="MD segments per walker whose restarts and frames are kept; older ones "
        "lose them (their logs and md_result.json stay).",
    )
    remove_fit_scratch: bool = Field(
        True,
        description="Delete pacemaker's scratch (datasets, prediction pickles) once a fit is "
        "recorded; the potential files and logs stay.",
    )


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
    cleanup: CleanupConfig = Field(default_factory=CleanupConfig)

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
                raise field_error(
                    "distillation.compositions",
                    f"entry {composition} names {unknown}, which are not in elements "
                    f"{self.elements}",
                )
        return self

    @model_validator(mode="after")
    def _every_element_has_a_pseudopotential(self) -> Self:
        if self.oracle.dft_engine != "qe":
            return self
        missing = [
            symbol
            for symbol in dict.fromkeys(self.qe_elements())
            if symbol not in self.oracle.qe.pseudopotentials
        ]
        if missing:
            raise field_error("oracle.qe.pseudopotentials", f"no entry for {', '.join(missing)}")
        return self

    def fit_elements(self) -> list[str]:
        """The elements of the ACE potential: the campaign's, plus the cutout's passivant,
        whose caps sit within the cutoff of the core atoms that teach."""
        return list(dict.fromkeys(self.qe_elements()))

    def qe_elements(self) -> list[str]:
        """Every element QE will see: the campaign's, plus the cutout's passivant."""
        needed = list(self.elements)
        if self.cutout.mode == "cluster" and self.cutout.passivate:
            needed.append(self.cutout.passivation_element)
        return needed


class ConfigFileError(ValueError):
    """The config file is not a YAML mapping at all."""


def field_error(field: str, message: str) -> ValueError:
    """A cross-field error that :func:`describe_errors` reports under ``field``."""
    return ValueError(f"{field}: {message}")


_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): (.*)$", re.DOTALL)


def describe_errors(error: ValidationError) -> list[str]:
    """One line per problem: ``dotted.field: message``, for users rather than developers."""
    return [_describe_item(item) for item in error.errors()]


def _describe(loc: tuple[int | str, ...], raw: str) -> str:
    message = raw.removeprefix("Value error, ")
    parts = [str(part) for part in loc]
    named = _FIELD_PREFIX.match(message)
    if named:
        field, message = named.groups()
        # A section's rule names its field relative to the section; a top-level rule in full.
        parts = (
            [*parts, field] if not field.startswith(tuple(CampaignConfig.model_fields)) else [field]
        )
    return f"{'.'.join(parts) or '(top level)'}: {message}"


def config_problems(data: Any, base_dir: Path | None = None) -> list[str]:
    """Every problem of raw config ``data`` at once, each naming its field.

    Pydantic skips a model's cross-field rules once one of its fields fails. To report those
    rules too, the failing fields are dropped (their defaults stand in) and the data validated
    again; a rule is reported only if its message does not name a dropped field.
    """
    if not isinstance(data, dict):
        return ["(top level): the top level must be a mapping of sections"]
    context = {"base_dir": base_dir} if base_dir is not None else None
    problems: list[str] = []
    dropped: set[str] = set()
    current = copy.deepcopy(data)
    for _ in range(4):  # each round can only uncover rules of a shallower model
        try:
            CampaignConfig.model_validate(current, context=context)
            break
        except ValidationError as error:
            found = error.errors()
        fresh = [item for item in found if not any(name in item["msg"] for name in dropped)]
        problems += [line for line in map(_describe_item, fresh) if line not in problems]
        removed = {_drop(current, item["loc"]) for item in found}
        removed.discard(None)
        if not removed:
            break
        dropped |= {name for name in removed if name}
    return problems


def _describe_item(item: Any) -> str:
    line = _describe(tuple(item["loc"]), str(item["msg"]))
    if item["type"] in _TYPE_ERRORS:
        line += f" (got {item['input']!r})"
    return line


_TYPE_ERRORS = frozenset({"float_type", "int_type", "string_type", "bool_type", "list_type"})


def _drop(data: Any, loc: tuple[int | str, ...]) -> str | None:
    """Remove the value at ``loc`` (the failing field) from nested ``data``; its name."""
    *parents, leaf = loc if loc else (None,)
    node = data
    for part in parents:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and leaf in node:
        del node[leaf]
        return str(leaf)
    return None


def load_config(path: str | os.PathLike[str]) -> CampaignConfig:
    """Read and validate a campaign YAML file; relative paths resolve against its folder.

    Raises :class:`ConfigError` listing every problem (each with its field), or
    :class:`ConfigFileError` when the file is not a YAML mapping. Input files the campaign
    reads (``md.initial_structure``, ``validation.structure``) must exist here; site files
    (pseudopotentials, MACE models, the LaunchPad file) are checked where the job runs, see
    :func:`site_problems`.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of sections")
    base_dir = path.resolve().parent
    problems = config_problems(data, base_dir)
    if problems:
        raise ConfigError(problems)
    config = CampaignConfig.model_validate(data, context={"base_dir": base_dir})
    problems = input_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


class ConfigError(ValueError):
    """A config with problems; ``problems`` has one line per problem, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def input_problems(config: CampaignConfig) -> list[str]:
    """Input structure files that do not exist."""
    inputs = {
        "md.initial_structure": config.md.initial_structure,
        "validation.structure": config.validation.structure,
        "validation.holdout_set": config.validation.holdout_set,
        "validation.reference_properties": config.validation.reference_properties,
    }
    for index, walker in enumerate(config.md.walkers):
        inputs[f"md.walkers.{index}.initial_structure"] = walker.initial_structure
    return [
        f"{field}: file {str(path)!r} does not exist"
        for field, path in inputs.items()
        if path is not None and not path.is_file()
    ]


def dump_config(config: CampaignConfig) -> dict[str, Any]:
    """The config as plain JSON-able data, for a FireWorks spec."""
    return config.model_dump(mode="json")
