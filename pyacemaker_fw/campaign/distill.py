"""Phase 1 as steps: select candidates, label them in tiers, and merge the tiers.

The tiers run in separate Fireworks: the surrogate labels every selected structure in one
cheap step; the structures it is unsure about go to DFT in parallel batches; the fit then
merges both (:func:`pyacemaker_fw.oracles.tiered.merge_tiers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import write

from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.core.store import LABELLED, document_to_atoms
from pyacemaker_fw.generation.combinatorial import CombinatorialGenerator
from pyacemaker_fw.generation.selection import (
    ActiveSetSelector,
    AtomDescriptor,
    Selection,
    mace_descriptor,
    radial_descriptor,
)
from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle, EspressoRunError
from pyacemaker_fw.oracles.factory import dft_oracle, surrogate_calculator, surrogate_oracle
from pyacemaker_fw.oracles.tiered import merge_tiers

POOL_FILE = "pool.extxyz"
SELECTED_FILE = "selected.extxyz"


def select_candidates(
    config: CampaignConfig, workdir: Path, round_: int, potential: PotentialFiles | None
) -> Selection:
    """A fresh candidate pool (seeded by the round) and the structures selected from it:
    farthest-point over descriptors for the first potential, MaxVol against ``potential``
    once one exists. ``pool.extxyz`` and ``selected.extxyz`` land in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    distillation = config.distillation.model_copy(
        update={"seed": config.distillation.seed + round_}
    )
    pool = CombinatorialGenerator(config.elements, distillation).generate()
    write(workdir / POOL_FILE, pool)
    descriptor = None if potential is not None else _first_descriptor(config)
    selection = ActiveSetSelector(distillation.n_select).select(
        pool, potential=potential, descriptor=descriptor
    )
    write(workdir / SELECTED_FILE, selection.structures)
    return selection


def _first_descriptor(config: CampaignConfig) -> AtomDescriptor:
    if config.oracle.surrogate_engine == "mace":
        return mace_descriptor(surrogate_calculator(config))
    return radial_descriptor(config.elements)


def surrogate_labels(
    config: CampaignConfig, structures: Sequence[Atoms], models: list[str] | None = None
) -> list[Atoms]:
    """Every structure labelled by the surrogate, in order; a MACE committee adds its spreads
    to ``info`` (``uncertainty``, ``energy_uncertainty``)."""
    labelled = surrogate_oracle(config, models).label(structures)
    if len(labelled) != len(structures):
        raise RuntimeError(
            f"the surrogate labelled {len(labelled)} of {len(structures)} structures"
        )
    return labelled


LabelCallback = Callable[[int, Atoms | None, str | None], None]
"""Receives each structure's index and either its label or why it has none."""


def dft_labels(
    config: CampaignConfig,
    structures: Sequence[Atoms],
    directories: Sequence[Path],
    on_result: LabelCallback,
) -> None:
    """Label each structure with the DFT engine in its own folder, reporting each as it ends,
    so that a batch cut short keeps the labels it finished.

    A structure the engine refuses or cannot converge is reported with the reason and the batch
    goes on; a broken installation (no pw.x, say) raises.
    """
    oracle = dft_oracle(config, directories[0].parent if directories else Path.cwd())
    for index, (atoms, directory) in enumerate(zip(structures, directories, strict=True)):
        try:
            labelled = _label_in(oracle, atoms, directory)
        except EspressoRunError as error:
            on_result(index, None, str(error))
        else:
            on_result(index, labelled, None)


def _label_in(oracle: BaseOracle, atoms: Atoms, directory: Path) -> Atoms:
    if isinstance(oracle, EspressoOracle):
        return oracle.label_one(atoms, directory)
    (labelled,) = oracle.label([atoms])
    return labelled


def surrogate_labelled(document: dict[str, Any]) -> Atoms:
    """The structure of a store document with the surrogate's label attached."""
    surrogate = document.get("surrogate")
    if surrogate is None:
        raise ValueError(f"structure {document['key']!r} has no surrogate label")
    atoms = document_to_atoms({k: v for k, v in document.items() if k not in _LABELS})
    return attach_labels(
        atoms,
        surrogate["energy"],
        surrogate["forces"],
        surrogate["source"],
        surrogate.get("stress"),
        **{
            keys.UNCERTAINTY: surrogate.get("uncertainty"),
            keys.ENERGY_UNCERTAINTY: surrogate.get("energy_uncertainty"),
        },
    )


_LABELS = ("energy", "forces", "stress")


def phase1_training_set(
    documents: Sequence[dict[str, Any]], config: CampaignConfig
) -> tuple[list[Atoms], dict[str, float]]:
    """The Phase 1 training set from the store's documents: DFT labels where the surrogate
    was unsure (and DFT succeeded), surrogate labels moved onto the DFT energy scale elsewhere;
    structures the surrogate was unsure about and DFT did not label are left out."""
    surrogate = [surrogate_labelled(document) for document in documents]
    dft = {
        index: document_to_atoms(document)
        for index, document in enumerate(documents)
        if document.get("status") == LABELLED
    }
    unsure = [index for index, document in enumerate(documents) if document.get("uncertain")]
    return merge_tiers(surrogate, dft, unsure, config.oracle.tiered.align_energies)
