"""The tiered oracle: MACE where the committee agrees, DFT (or nothing) where it does not.

Every structure is first labelled by the MACE committee. One whose uncertainty (the largest
per-atom committee force spread, eV/Å) is at or below ``force_spread_threshold``, and whose energy
spread (eV/atom) is at or below ``energy_spread_threshold``, keeps the MACE label; any
other goes to the expensive oracle (Quantum ESPRESSO in production, any
:class:`BaseOracle` in tests) or, with ``uncertain_policy='drop'``, is left out.
``info['label_source']`` says which tier labelled each structure and :attr:`last_counts`
holds the tallies for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.config import OracleConfig, TieredOracleConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.oracles.energy_alignment import fit_energy_shifts, shift_energy
from pyacemaker_fw.oracles.mace_manager import MACEManager

UncertainPolicy = Literal["dft", "drop"]
_ROUTING_KEY = "tiered_oracle_index"


class TierCounts(BaseModel):
    """How many structures each tier labelled in one :meth:`TieredOracle.label` call."""

    model_config = ConfigDict(extra="forbid")

    mace: int = Field(0, ge=0, description="Kept with their MACE labels.")
    dft: int = Field(0, ge=0, description="Sent to the expensive oracle (QE).")
    dropped: int = Field(0, ge=0, description="Too uncertain and dropped by policy.")
    failed: int = Field(0, ge=0, description="Sent to the expensive oracle, which gave no label.")
    threshold: float = Field(..., description="force_spread_threshold used (eV/Å).")
    energy_shifts: dict[str, float] = Field(
        default_factory=dict,
        description="Per-element shifts (eV/atom) that moved MACE energies onto the DFT scale.",
    )

    @property
    def total(self) -> int:
        return self.mace + self.dft + self.dropped + self.failed


def is_uncertain(atoms: Atoms, config: TieredOracleConfig) -> bool:
    """Whether a surrogate-labelled structure must go to DFT: its committee force spread or
    energy spread is above the threshold. A label without a spread (a single model or a
    classical reference) is taken as certain."""
    force_spread = float(atoms.info.get(keys.UNCERTAINTY) or 0.0)
    energy_spread = float(atoms.info.get(keys.ENERGY_UNCERTAINTY) or 0.0)
    return (
        force_spread > config.force_spread_threshold
        or energy_spread > config.energy_spread_threshold
    )


def uncertain_indices(labelled: Sequence[Atoms], config: TieredOracleConfig) -> list[int]:
    """Indices of the structures the tiers send to DFT."""
    return [index for index, atoms in enumerate(labelled) if is_uncertain(atoms, config)]


def merge_tiers(
    surrogate_labelled: Sequence[Atoms],
    dft_labelled: Mapping[int, Atoms],
    dropped: Sequence[int] = (),
    align_energies: bool = True,
) -> tuple[list[Atoms], dict[str, float]]:
    """One training set from both tiers, in input order, and the energy shifts applied.

    ``dft_labelled`` maps input indices to DFT labels; those replace the surrogate labels and
    keep the surrogate's spreads in ``info``. Indices in ``dropped`` are left out. With
    ``align_energies`` the remaining surrogate energies move onto the DFT scale by per-element
    shifts fitted on the structures both labelled, so one fit never mixes two energy scales.
    """
    for index, atoms in dft_labelled.items():
        for key in (keys.UNCERTAINTY, keys.ENERGY_UNCERTAINTY):
            if key in surrogate_labelled[index].info:
                atoms.info[key] = surrogate_labelled[index].info[key]
    shifts: dict[str, float] = {}
    if align_energies and dft_labelled:
        indices = sorted(dft_labelled)
        shifts = fit_energy_shifts(
            [dft_labelled[index] for index in indices],
            [dft_labelled[index].get_potential_energy() for index in indices],
            [surrogate_labelled[index].get_potential_energy() for index in indices],
        )
    skip = set(dropped) | set(dft_labelled)
    merged = {
        index: shift_energy(atoms, shifts) if shifts else atoms
        for index, atoms in enumerate(surrogate_labelled)
        if index not in skip
    }
    merged.update(dft_labelled)
    return [merged[index] for index in sorted(merged)], shifts


class TieredOracle(BaseOracle):
    """Routes each structure to MACE or to ``dft`` by the MACE committee uncertainty."""

    name = "tiered"

    def __init__(
        self,
        mace: MACEManager,
        dft: BaseOracle | None,
        config: TieredOracleConfig,
        uncertain_policy: UncertainPolicy = "dft",
    ) -> None:
        if uncertain_policy == "dft" and dft is None:
            raise ValueError("uncertain_policy 'dft' needs a DFT oracle; pass one or use 'drop'")
        if mace.committee_size < 2:
            raise ValueError(
                "routing by uncertainty needs a MACE committee (two or more model files), "
                f"got {mace.committee_size}"
            )
        self.mace = mace
        self.dft = dft
        self.config = config
        self.uncertain_policy = uncertain_policy
        self.last_counts = TierCounts(threshold=config.force_spread_threshold)

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        """Labelled copies in input order; dropped (and failed) structures are left out."""
        mace_labelled = self.mace.label(structures)
        uncertain = uncertain_indices(mace_labelled, self.config)
        to_dft = uncertain if self.uncertain_policy == "dft" else []
        dft_labelled = self._label_with_dft(structures, to_dft)
        merged, shifts = merge_tiers(
            mace_labelled,
            dft_labelled,
            dropped=uncertain,
            align_energies=self.config.align_energies,
        )
        self.last_counts = TierCounts(
            mace=len(structures) - len(uncertain),
            dft=len(dft_labelled),
            dropped=len(uncertain) - len(to_dft),
            failed=len(to_dft) - len(dft_labelled),
            threshold=self.config.force_spread_threshold,
            energy_shifts=shifts,
        )
        return merged

    def _label_with_dft(self, structures: Sequence[Atoms], indices: list[int]) -> dict[int, Atoms]:
        """DFT labels by input index; a DFT oracle may skip structures it cannot converge."""
        if not indices or self.dft is None:
            return {}
        tagged = []
        for index in indices:
            atoms = structures[index].copy()
            atoms.info[_ROUTING_KEY] = index
            tagged.append(atoms)
        labelled = {}
        for atoms in self.dft.label(tagged):
            labelled[int(atoms.info.pop(_ROUTING_KEY))] = atoms
        return labelled


def build_tiered_oracle(
    config: OracleConfig,
    workdir: Path,
    env: Mapping[str, Any] | None = None,
    uncertain_policy: UncertainPolicy = "dft",
) -> TieredOracle:
    """MACE committee plus (unless dropping) the QE oracle, from the campaign's oracle section.

    ``env`` is the FWorker env that resolves an ``'>>pw_cmd<<'`` command.
    """
    from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle

    dft = None if uncertain_policy == "drop" else EspressoOracle(config.qe, workdir, env=env)
    return TieredOracle(MACEManager(config.mace), dft, config.tiered, uncertain_policy)
