"""Surrogate data (spec Phase 4): cheap neighbours of each new DFT structure, labelled by MACE.

Around every DFT structure it makes ``surrogates_per_structure`` perturbed copies, cycling
through three kinds:

- ``rattle``: every atom displaced by a Gaussian of ``surrogate_rattle`` Å;
- ``strain``: a random symmetric strain, each component within ``surrogate_strain`` (the cell
  of a periodic structure, the coordinates about the centre of a cluster);
- ``relax``: the atoms that teach nothing (buffer and passivants, ``force_weight == 0``; all
  atoms if there are none) rattled, then relaxed for ``surrogate_relax_steps`` FIRE steps with
  the oracle's calculator while the others stay fixed. A structure that has a calculator-free
  oracle gets a rattle instead.

The copies are labelled by the oracle (normally the freshly fine-tuned MACE), so the ACE update
gets many consistent labels for the price of a few DFT calls. They keep their parent's
``force_weight`` and ``energy_weight``; ``info['label_source']`` is ``"surrogate"`` and
``info['provenance']`` names the kind, the parent and the oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms
from ase.optimize import FIRE

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.training.dataset import force_weights

KINDS = ("rattle", "strain", "relax")
SURROGATE_SOURCE = "surrogate"


class SurrogateGenerator:
    """Perturbs DFT structures and labels the perturbed copies with ``oracle``."""

    def __init__(self, oracle: BaseOracle, loop: LoopStrategyConfig, seed: int = 0) -> None:
        self.oracle = oracle
        self.per_structure = loop.surrogates_per_structure
        self.rattle = loop.surrogate_rattle
        self.strain = loop.surrogate_strain
        self.relax_steps = loop.surrogate_relax_steps
        self.seed = seed

    @property
    def calculator(self) -> Calculator | None:
        """The oracle's ASE calculator, used for buffer relaxations, if it exposes one."""
        calculator = getattr(self.oracle, "calculator", None)
        return calculator if isinstance(calculator, Calculator) else None

    def generate(self, structures: Sequence[Atoms]) -> list[Atoms]:
        """Labelled surrogates of every structure, ``per_structure`` each, parents in order."""
        perturbed: list[Atoms] = []
        for index, parent in enumerate(structures):
            rng = np.random.default_rng([self.seed, index])
            perturbed += [self.perturb(parent, k, rng) for k in range(self.per_structure)]
        if not perturbed:
            return []
        return [self._mark(atoms) for atoms in self.oracle.label(perturbed)]

    def perturb(self, parent: Atoms, number: int, rng: np.random.Generator) -> Atoms:
        """The ``number``-th (unlabelled) neighbour of ``parent``."""
        kind = KINDS[number % len(KINDS)]
        if kind == "relax" and self.calculator is None:
            kind = "rattle"
        atoms = _child(parent)
        if kind == "rattle":
            atoms.positions += rng.normal(0.0, self.rattle, atoms.positions.shape)
        elif kind == "strain":
            _strain(atoms, _random_strain(rng, self.strain))
        else:
            self._relax_untaught(atoms, rng)
        provenance: dict[str, Any] = {
            "surrogate": kind,
            "parent": parent.info.get(keys.STRUCTURE_ID),
        }
        atoms.info[keys.PROVENANCE] = provenance
        return atoms

    def _relax_untaught(self, atoms: Atoms, rng: np.random.Generator) -> None:
        taught = force_weights(atoms) > 0
        movable = ~taught if (~taught).any() else np.ones(len(atoms), dtype=bool)
        atoms.positions[movable] += rng.normal(0.0, self.rattle, (int(movable.sum()), 3))
        if not movable.all():
            atoms.set_constraint(FixAtoms(mask=~movable))
        atoms.calc = self.calculator
        FIRE(atoms, logfile=None).run(fmax=0.01, steps=self.relax_steps)
        atoms.calc = None
        atoms.set_constraint()

    def _mark(self, labelled: Atoms) -> Atoms:
        provenance = dict(labelled.info.get(keys.PROVENANCE, {}))
        provenance["labelled_by"] = labelled.info.get(keys.LABEL_SOURCE, self.oracle.name)
        labelled.info[keys.PROVENANCE] = provenance
        labelled.info[keys.LABEL_SOURCE] = SURROGATE_SOURCE
        return labelled


def _child(parent: Atoms) -> Atoms:
    """A copy with the parent's metadata but none of its labels or identity."""
    child: Atoms = parent.copy()
    child.calc = None
    child.info.pop(keys.STRUCTURE_ID, None)
    return child


def _random_strain(rng: np.random.Generator, largest: float) -> npt.NDArray[np.float64]:
    upper = rng.uniform(-largest, largest, (3, 3))
    return np.triu(upper) + np.triu(upper, 1).T


def _strain(atoms: Atoms, strain: npt.NDArray[np.float64]) -> None:
    deformation = np.eye(3) + strain
    if atoms.pbc.any():
        atoms.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
        return
    centre = atoms.positions.mean(axis=0)
    atoms.positions = centre + (atoms.positions - centre) @ deformation
