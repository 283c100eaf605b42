"""ACE inside LAMMPS through ``fix external``: pyace evaluates, LAMMPS integrates.

Each step LAMMPS calls :meth:`ExternalAceBackend._callback` after the (zero) pair style. The
callback hands pyace an atomic environment made from what LAMMPS already has:

- positions of local and ghost atoms (``x``), copied every step;
- LAMMPS' own full neighbour list of ``pair_style zero <cutoff> full``, copied only after
  LAMMPS rebuilt it (thermo keyword ``nbuild``), so the cost is linear in N and no second
  neighbour search runs in Python;
- ``origins``, mapping each ghost to its local owner, so pyace folds ghost forces back.

Forces come from the recursive C-tilde evaluator, the fastest one. On check steps the
B-basis evaluator with the active set runs instead: it returns the same forces (to 1e-13)
plus the per-atom extrapolation grade, so gamma costs nothing on the other steps.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.backends import (
    AceBackend,
    CheckReading,
    by_atom_id,
    prediction_fault,
)
from pyacemaker_fw.simulation.failures import too_close


class _NeighbourReader:
    """Copies a LAMMPS neighbour list into Python lists through the C library interface.

    The ctypes out-parameters are made once; ``lammps.get_neighlist_element_neighbors``
    allocates them on every call, which costs more than the copy itself.
    """

    def __init__(self, lmp: Any) -> None:
        self._lib = lmp.lib
        self._handle = lmp.lmp
        self._atom = ctypes.c_int()
        self._count = ctypes.c_int()
        self._neighbours = ctypes.POINTER(ctypes.c_int)()

    def read(self, list_index: int, nlocal: int) -> list[list[int]]:
        lists: list[list[int]] = [[] for _ in range(nlocal)]
        element_neighbours = self._lib.lammps_neighlist_element_neighbors
        atom, count, neighbours = self._atom, self._count, self._neighbours
        size = self._lib.lammps_neighlist_num_elements(self._handle, list_index)
        for element in range(size):
            element_neighbours(
                self._handle,
                list_index,
                element,
                ctypes.byref(atom),
                ctypes.byref(count),
                ctypes.byref(neighbours),
            )
            lists[atom.value] = neighbours[: count.value]
        return lists


class ExternalAceBackend(AceBackend):
    """pyace in a ``fix external`` callback; for LAMMPS builds without ML-PACE.

    Serial only: ``origins`` maps every ghost to a local atom, which holds on one process.
    The forces use a C-tilde basis converted in memory from the B-basis ``.yaml``, so both
    evaluators are guaranteed to be the same potential; the ``.yace`` file is not read.
    """

    name = "external"

    def __init__(self, potential: PotentialFiles, elements: Sequence[str], check_interval: int):
        super().__init__(potential, elements, check_interval)
        from pyace.basis import ACEBBasisSet
        from pyace.calculator import ACECalculator
        from pyace.catomicenvironment import ACEAtomicEnvironment
        from pyace.evaluator import ACEBEvaluator, ACERecursiveEvaluator

        # Evaluators keep raw pointers to their basis: the bases must live as long as they do.
        self._b_basis = ACEBBasisSet(str(potential.yaml))
        self._c_basis = self._b_basis.to_ACECTildeBasisSet()
        self._force_evaluator = ACERecursiveEvaluator(self._c_basis)
        self._force_evaluator.set_recursive(True)
        self._gamma_evaluator = ACEBEvaluator(self._b_basis)
        self._gamma_evaluator.load_active_set(str(potential.asi))
        self._force_calculator = ACECalculator()
        self._force_calculator.set_evaluator(self._force_evaluator)
        self._gamma_calculator = ACECalculator()
        self._gamma_calculator.set_evaluator(self._gamma_evaluator)
        self._species_of_type = self._species_map(self._b_basis.elements_name)
        self.cutoff = float(self._b_basis.cutoffmax)
        self._environment = ACEAtomicEnvironment()
        self._built_at: float | None = None
        self._probing = False
        self._neighbours: _NeighbourReader | None = None

    def _species_map(self, basis_elements: Sequence[str]) -> NDArray[np.int64]:
        """pyace species index of each LAMMPS type (type 1 is ``elements[0]``)."""
        index = {str(name): position for position, name in enumerate(basis_elements)}
        missing = [element for element in self.elements if element not in index]
        if missing:
            raise ValueError(f"potential {self.potential.yaml} has no {missing}")
        return np.array([index[element] for element in self.elements], dtype=np.int64)

    def commands(self) -> list[str]:
        return inputs.external_ace(self.cutoff)

    def _install(self, lmp: Any) -> None:
        self._neighbours = _NeighbourReader(lmp)
        lmp.set_fix_external_callback(inputs.EXTERNAL_FIX, self._callback)

    def begin_run(self) -> None:
        # nbuild restarts from zero in every run, so it only identifies a list within a run.
        self._built_at = None

    def probe(self, lmp: Any) -> CheckReading:
        self._probing = True
        self.begin_run()
        try:
            lmp.command("run 0")
        finally:
            self._probing = False
        if self.last_reading is None:
            raise RuntimeError("the gamma probe produced no reading")
        return self.last_reading

    def _callback(
        self, _caller: Any, step: int, nlocal: int, tags: Any, _x: Any, forces_out: Any
    ) -> None:
        try:
            self._evaluate(step, nlocal, tags, forces_out)
        except Exception as error:  # LAMMPS would swallow it: record and stop instead
            self.record_exception(self._lmp, step, error, "ACE callback")

    def _evaluate(self, step: int, nlocal: int, tags: Any, forces_out: Any) -> None:
        lmp = self._lmp
        nall = nlocal + int(lmp.extract_setting("nghost"))
        positions = lmp.numpy.extract_atom("x", nelem=nall, dim=3).tolist()
        # pyace frees the old positions by the current atom count: positions go in first.
        self._environment.x = positions
        self._refresh_environment(nlocal, nall)
        check = self._probing or step % self.check_interval == 0
        closest = float(self._environment.get_minimal_nn_distance()) if check else float("inf")
        if closest < self.min_distance:
            # pyace itself refuses pairs at about 0.5 Å, with a less helpful message.
            forces_out[:] = 0.0
            self.record_fault(lmp, too_close(closest, self.min_distance, step))
            return
        calculator = self._gamma_calculator if check else self._force_calculator
        calculator.compute(self._environment, compute_projections=check)
        forces = np.asarray(calculator.forces, dtype=float)
        energy = float(calculator.energy)
        if not (np.isfinite(forces).all() and np.isfinite(energy)):
            forces_out[:] = 0.0
            fault = prediction_fault(step, by_atom_id(tags, forces), energy)
            assert fault is not None
            self.record_fault(lmp, fault)
            return
        forces_out[:] = forces
        lmp.fix_external_set_energy_global(inputs.EXTERNAL_FIX, energy)
        lmp.fix_external_set_virial_global(inputs.EXTERNAL_FIX, _lammps_virial(calculator))
        if check:
            self._report(step, tags, forces, energy, closest)

    def _report(
        self, step: int, tags: Any, forces: NDArray[np.float64], energy: float, closest: float
    ) -> None:
        reading = CheckReading(
            step=step,
            gamma=by_atom_id(tags, np.asarray(self._gamma_calculator.gamma_grade, dtype=float)),
            forces=by_atom_id(tags, forces),
            min_distance=closest,
            energy=energy,
        )
        self.publish(reading, notify=not self._probing)

    def _refresh_environment(self, nlocal: int, nall: int) -> None:
        lmp = self._lmp
        builds = float(lmp.get_thermo("nbuild"))
        if builds == self._built_at:
            return
        assert self._neighbours is not None
        list_index = lmp.find_pair_neighlist("zero")
        tags = np.asarray(lmp.numpy.extract_atom("id", nelem=nall), dtype=np.int64)
        types = np.asarray(lmp.numpy.extract_atom("type", nelem=nall), dtype=np.int64)
        local_of_tag = np.zeros(int(tags[:nlocal].max()) + 1, dtype=np.int64)
        local_of_tag[tags[:nlocal]] = np.arange(nlocal)
        environment = self._environment
        environment.species_type = self._species_of_type[types - 1].tolist()
        environment.neighbour_list = self._neighbours.read(list_index, nlocal)
        environment.origins = local_of_tag[tags].tolist()
        self._built_at = builds


def _lammps_virial(calculator: Any) -> list[float]:
    """pyace's virial is sum(r_ij f_ij) with r_ij = r_j - r_i; LAMMPS' is sum(r_i f_i)."""
    return [-component for component in calculator.virial]
