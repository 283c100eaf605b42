"""Routing of the tiered oracle: MACE at or below the threshold, DFT (or drop) above it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import EspressoConfig, MACEConfig, OracleConfig, TieredOracleConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.oracles.espresso import EspressoOracle
from pyacemaker_fw.oracles.mace_manager import MACEManager
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.oracles.tiered import TieredOracle, build_tiered_oracle
from tests.oracles.paths import MACE_COMMITTEE

THRESHOLD = 0.15
UNCERTAINTIES = [0.05, 0.40, 0.15, 0.90, 0.10]  # 0.15 sits exactly on the threshold


def _structures() -> list[Atoms]:
    structures = []
    for index in range(len(UNCERTAINTIES)):
        atoms = bulk("Si", "diamond", a=5.3 + 0.05 * index)
        atoms.info["tag"] = index
        structures.append(atoms)
    return structures


def _mocked_mace(uncertainties: Sequence[float] = UNCERTAINTIES) -> MagicMock:
    mace = MagicMock(spec=MACEManager)
    mace.committee_size = 3

    def label(structures: Sequence[Atoms]) -> list[Atoms]:
        labelled = []
        for atoms, uncertainty in zip(structures, uncertainties, strict=True):
            copy = attach_labels(atoms, -1.0, np.zeros((len(atoms), 3)), "mace")
            copy.info[keys.UNCERTAINTY] = uncertainty
            labelled.append(copy)
        return labelled

    mace.label.side_effect = label
    return mace


class RecordingDFT(BaseOracle):
    """Stands in for QE: labels everything it gets, except tags listed in ``fail``."""

    name = "qe"

    def __init__(self, fail: Sequence[int] = ()) -> None:
        self.calls: list[list[int]] = []
        self.fail = set(fail)

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        self.calls.append([atoms.info["tag"] for atoms in structures])
        return [
            attach_labels(atoms, -2.0, np.ones((len(atoms), 3)), self.name)
            for atoms in structures
            if atoms.info["tag"] not in self.fail
        ]


def _oracle(dft: BaseOracle | None, policy: str = "dft") -> TieredOracle:
    config = TieredOracleConfig(force_spread_threshold=THRESHOLD)
    return TieredOracle(_mocked_mace(), dft, config, policy)  # type: ignore[arg-type]


def test_dft_is_called_only_above_the_threshold() -> None:
    dft = RecordingDFT()
    oracle = _oracle(dft)
    labelled = oracle.label(_structures())
    assert dft.calls == [[1, 3]]
    assert [atoms.info["tag"] for atoms in labelled] == [0, 1, 2, 3, 4]
    sources = [atoms.info[keys.LABEL_SOURCE] for atoms in labelled]
    assert sources == ["mace", "qe", "mace", "qe", "mace"]
    assert labelled[1].get_potential_energy() == -2.0
    assert labelled[3].info[keys.UNCERTAINTY] == 0.90  # why it went to DFT stays on record
    counts = oracle.last_counts
    assert (counts.mace, counts.dft, counts.dropped, counts.failed) == (3, 2, 0, 0)
    assert counts.total == 5


def test_nothing_uncertain_means_no_dft_call() -> None:
    dft = RecordingDFT()
    config = TieredOracleConfig(force_spread_threshold=1.0)
    oracle = TieredOracle(_mocked_mace(), dft, config)  # type: ignore[arg-type]
    assert len(oracle.label(_structures())) == 5
    assert dft.calls == []


def test_energy_spread_alone_sends_a_structure_to_dft() -> None:
    # Forces vanish by symmetry in a one-atom cell, so only the energy spread can tell.
    mace = _mocked_mace([0.0, 0.0])
    plain_label = mace.label.side_effect

    def label_with_energy_spread(structures: Sequence[Atoms]) -> list[Atoms]:
        labelled = plain_label(structures)
        labelled[0].info[keys.ENERGY_UNCERTAINTY] = 0.001
        labelled[1].info[keys.ENERGY_UNCERTAINTY] = 0.5
        return labelled

    mace.label.side_effect = label_with_energy_spread
    dft = RecordingDFT()
    config = TieredOracleConfig(force_spread_threshold=THRESHOLD, energy_spread_threshold=0.02)
    labelled = TieredOracle(mace, dft, config).label(_structures()[:2])
    assert dft.calls == [[1]]
    assert labelled[1].info[keys.ENERGY_UNCERTAINTY] == 0.5


def test_drop_policy_leaves_uncertain_structures_out() -> None:
    labelled = (oracle := _oracle(None, "drop")).label(_structures())
    assert [atoms.info["tag"] for atoms in labelled] == [0, 2, 4]
    assert (oracle.last_counts.mace, oracle.last_counts.dropped) == (3, 2)


def test_a_structure_dft_cannot_label_is_counted_as_failed() -> None:
    oracle = _oracle(RecordingDFT(fail=[3]))
    labelled = oracle.label(_structures())
    assert [atoms.info["tag"] for atoms in labelled] == [0, 1, 2, 4]
    assert oracle.last_counts.failed == 1
    assert "tiered_oracle_index" not in labelled[1].info


def test_misconfigurations_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a DFT oracle"):
        _oracle(None, "dft")
    single = _mocked_mace()
    single.committee_size = 1
    with pytest.raises(ValueError, match="committee"):
        TieredOracle(single, RecordingDFT(), TieredOracleConfig())


@pytest.mark.engine
def test_real_committee_sends_only_the_distorted_cell_to_the_reference() -> None:
    calm = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    calm.rattle(0.02, seed=4)
    distorted = calm.copy()
    distorted.positions[0] += (0.6, 0.5, 0.4)
    config = TieredOracleConfig(force_spread_threshold=0.3)
    oracle = TieredOracle(MACEManager.from_paths(MACE_COMMITTEE), stillinger_weber_si(), config)
    mace_label, reference_label = oracle.label([calm, distorted])
    assert mace_label.info[keys.LABEL_SOURCE] == "mace"
    assert reference_label.info[keys.LABEL_SOURCE] == "lammps"
    [sw] = stillinger_weber_si().label([distorted])
    assert reference_label.get_potential_energy() == pytest.approx(sw.get_potential_energy())


@pytest.mark.engine
def test_built_from_the_campaign_oracle_section(tmp_path: Path) -> None:
    config = OracleConfig(
        qe=EspressoConfig(command=">>pw_cmd<<"),
        mace=MACEConfig(model_paths=[str(path) for path in MACE_COMMITTEE]),
        tiered=TieredOracleConfig(force_spread_threshold=0.2),
    )
    tiered = build_tiered_oracle(config, tmp_path, env={"pw_cmd": "pw.x"})
    assert isinstance(tiered.dft, EspressoOracle) and tiered.dft.argv == ["pw.x"]
    assert tiered.config.force_spread_threshold == 0.2 and tiered.mace.committee_size == 3
    assert build_tiered_oracle(config, tmp_path, uncertain_policy="drop").dft is None
