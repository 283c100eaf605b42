"""The tiered oracle: MACE where the committee agrees, DFT (or nothing) where it does not.

Every structure is first labelled by the MACE committee. One whose uncertainty (the largest
per-atom committee force spread, eV/Å) is at or below ``threshold_call_dft``, and whose energy
spread (eV/atom) is at or below ``energy_threshold_call_dft``, keeps the MACE label; any
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

UncertainPolicy = Literal["qe", "drop"]
_ROUTING_KEY = "tiered_oracle_index"


class TierCounts(BaseModel):
    """How many structures each tier labelled in one :meth:`TieredOracle.label` call."""

    model_config = ConfigDict(extra="forbid")

    mace: int = Field(0, ge=0, description="Kept with their MACE labels.")
    dft: int = Field(0, ge=0, description="Sent to the expensive oracle (QE).")
    dropped: int = Field(0, ge=0, description="Too uncertain and dropped by policy.")
    failed: int = Field(0, ge=0, description="Sent to the expensive oracle, which gave no label.")
    threshold: float = Field(..., description="threshold_call_dft used (eV/Å).")
    energy_shifts: dict[str, float] = Field(
        default_factory=dict,
        description="Per-element shifts (eV/atom) that moved MACE energies onto the DFT scale.",
    )

    @property
    def total(self) -> int:
        return self.mace + self.dft + self.dropped + self.failed


class TieredOracle(BaseOracle):
    """Routes each structure to MACE or to ``dft`` by the MACE committee uncertainty."""

    name = "tiered"

    def __init__(
        self,
        mace: MACEManager,
        dft: BaseOracle | None,
        config: TieredOracleConfig,
        uncertain_policy: UncertainPolicy = "qe",
    ) -> None:
        if uncertain_policy == "qe" and dft is None:
            raise ValueError("uncertain_policy 'qe' needs a DFT oracle; pass one or use 'drop'")
        if mace.committee_size < 2:
            raise ValueError(
                "routing by uncertainty needs a MACE committee (two or more model files), "
                f"got {mace.committee_size}"
            )
        self.mace = mace
        self.dft = dft
        self.threshold = config.threshold_call_dft
        self.energy_threshold = config.energy_threshold_call_dft
        self.align_energies = config.align_energies
        self.uncertain_policy = uncertain_policy
        self.last_counts = TierCounts(threshold=self.threshold)

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        """Labelled copies in input order; dropped (and failed) structures are left out."""
        mace_labelled = self.mace.label(structures)
        uncertain = [
            index for index, atoms in enumerate(mace_labelled) if self._is_uncertain(atoms)
        ]
        results = {
            index: atoms for index, atoms in enumerate(mace_labelled) if index not in uncertain
        }
        to_dft = uncertain if self.uncertain_policy == "qe" else []
        dft_labelled = self._label_with_dft(structures, to_dft)
        for index, atoms in dft_labelled.items():
            for key in (keys.UNCERTAINTY, keys.ENERGY_UNCERTAINTY):
                if key in mace_labelled[index].info:
                    atoms.info[key] = mace_labelled[index].info[key]
        shifts = self._energy_shifts(mace_labelled, dft_labelled)
        if shifts:
            results = {index: shift_energy(atoms, shifts) for index, atoms in results.items()}
        results.update(dft_labelled)
        self.last_counts = TierCounts(
            mace=len(structures) - len(uncertain),
            dft=len(dft_labelled),
            dropped=len(uncertain) - len(to_dft),
            failed=len(to_dft) - len(dft_labelled),
            threshold=self.threshold,
            energy_shifts=shifts,
        )
        return [results[index] for index in sorted(results)]

    def _energy_shifts(
        self, mace_labelled: Sequence[Atoms], dft_labelled: dict[int, Atoms]
    ) -> dict[str, float]:
        """Per-element MACE→DFT shifts from the structures both labelled; none if none did."""
        if not self.align_energies or not dft_labelled:
            return {}
        indices = sorted(dft_labelled)
        return fit_energy_shifts(
            [dft_labelled[index] for index in indices],
            [dft_labelled[index].get_potential_energy() for index in indices],
            [mace_labelled[index].get_potential_energy() for index in indices],
        )

    def _is_uncertain(self, atoms: Atoms) -> bool:
        energy_spread = atoms.info.get(keys.ENERGY_UNCERTAINTY) or 0.0
        return (
            float(atoms.info[keys.UNCERTAINTY]) > self.threshold
            or float(energy_spread) > self.energy_threshold
        )

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
    uncertain_policy: UncertainPolicy = "qe",
) -> TieredOracle:
    """MACE committee plus (unless dropping) the QE oracle, from the campaign's oracle section.

    ``env`` is the FWorker env that resolves an ``'>>pw_cmd<<'`` command.
    """
    from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle

    dft = None if uncertain_policy == "drop" else EspressoOracle(config.qe, workdir, env=env)
    return TieredOracle(MACEManager(config.mace), dft, config.tiered, uncertain_policy)
