"""QE reference properties of diamond Si at the production settings: EOS and phonons at X and L.

- **EOS:** Birch–Murnaghan fit (the project's ``equation_of_state``) of Si2 with the
  EspressoOracle at kspacing 0.1 (4×4×4, the production default), 0.05 (7×7×7) and 0.035
  (10×10×10), to show the lattice constant is k-converged.
- **Phonons:** the project's ``phonon_bands`` (phonopy, 0.01 Å displacements) on a 2×2×2
  supercell of the primitive cell (16 atoms) at the converged lattice constant, with a 3×3×3
  k-grid (the Si2 6×6×6 equivalent) and conv_thr 1e-10. X and L are commensurate with that
  supercell, so their frequencies are exact for these force constants, not interpolated.

- **Cutoff check:** forces of a rattled Si8 (2×2×2 k) and a rattled SiH4 at 30/240 Ry against
  45/360 and 60/480 Ry (H.pbe-kjpaw.UPF suggests 46/201 Ry).

Writes ``qe_reference.json``, and ``qe_properties.json``: the converged EOS and the phonon bands
as the validator's ``ModelProperties``, which ``validation.reference_properties`` of
``workflows/si_demo.yaml`` gives the Phase 2 gate as its QE reference. Run: ``nice -n 15 .venv/bin/python workflows/si_demo/qe_reference.py``
(a few CPU minutes).
"""

from __future__ import annotations

import json

import numpy as np
from ase.build import bulk, molecule
from common import CACHE, HERE, label, qe_config, rms

from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle
from pyacemaker_fw.validation.eos import equation_of_state
from pyacemaker_fw.validation.phonons import phonon_bands
from pyacemaker_fw.validation.report import ModelProperties

OUTPUT = HERE / "qe_reference.json"
PROPERTIES = HERE / "qe_properties.json"


def cutoff_check() -> dict[str, dict[str, float]]:
    si8 = bulk("Si", "diamond", a=5.431, cubic=True)
    si8.rattle(0.1, seed=1)
    silane = molecule("SiH4")
    silane.rattle(0.08, seed=2)
    silane.center(vacuum=4.0)
    silane.pbc = False
    errors: dict[str, dict[str, float]] = {}
    for name, atoms in (("Si8", si8), ("SiH4", silane)):
        forces = {
            (wfc, rho): label(atoms, f"cutoff/{name}_{wfc:g}_{rho:g}", ecutwfc=wfc, ecutrho=rho)
            for wfc, rho in ((30.0, 240.0), (45.0, 360.0), (60.0, 480.0))
        }
        best = forces[(60.0, 480.0)].get_forces()
        for (wfc, rho), labelled in forces.items():
            diff = labelled.get_forces() - best
            errors[f"{name} {wfc:g}/{rho:g} Ry"] = {
                "force_rms_vs_60_480": rms(diff),
                "force_max_vs_60_480": float(np.abs(diff).max()),
                "cpu_s": float(labelled.info["qe_cpu_s"]),
            }
            print(name, f"{wfc:g}/{rho:g}", errors[f"{name} {wfc:g}/{rho:g} Ry"])
    return errors


def main() -> None:
    pin_threads(1)
    result: dict[str, object] = {"settings": qe_config().model_dump(mode="json")}
    result["cutoff_check"] = cutoff_check()
    eos = {}
    fits = {}
    for kspacing in (0.1, 0.05, 0.035):
        oracle = EspressoOracle(qe_config(kspacing=kspacing), CACHE / f"eos_k{kspacing}")
        fit = equation_of_state(bulk("Si", "diamond", a=5.47), oracle, relax_internal=False)
        fits[kspacing] = fit
        eos[str(kspacing)] = fit.model_dump(mode="json")
        print(
            f"kspacing {kspacing}: a0 {fit.lattice_constant:.4f} Å, B0 {fit.bulk_modulus:.1f} GPa"
        )
    result["eos"] = eos
    a0 = eos["0.035"]["lattice_constant"]
    oracle = EspressoOracle(qe_config(kspacing=0.07, conv_thr=1e-10), CACHE / "phonons")
    phonons = phonon_bands(bulk("Si", "diamond", a=a0), oracle, supercell=(2, 2, 2))
    result["phonons_THz"] = {name: phonons.special_points[name] for name in ("G", "X", "L")}
    result["phonons_supercell"] = "2x2x2 primitive (Si16), k 3x3x3, displacement 0.01 Å"
    for name in ("X", "L"):
        print(name, [round(value, 2) for value in phonons.special_points[name]], "THz")
    OUTPUT.write_text(json.dumps(result, indent=1))
    properties = ModelProperties(eos=fits[0.035], phonons=phonons)
    PROPERTIES.write_text(properties.model_dump_json(indent=1))


if __name__ == "__main__":
    main()
