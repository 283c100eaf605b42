"""The demo potential's held-out test set: hot Si64 MD snapshots labelled by QE, never trained on.

Ten independent Stillinger–Weber Langevin runs (seeds 9000+, none shared with ``frames/``) of
the 64-atom diamond cell, at 900, 1050, 1200, 1350 and 1500 K, each with and without a
vacancy; one snapshot from each, after 3 ps. Labelled at the production settings (Gamma for
64 atoms; see docs/cutout.md for what Gamma costs in accuracy). Writes ``holdout.extxyz``.
With ``--converged``, four of them are also labelled at the shifted 2×2×2 grid that the
cutout benchmark found converged, into ``holdout_k222s.extxyz``, each with the RMS error of
its Gamma label. Run: ``nice -n 15 .venv/bin/python workflows/si_demo/holdout.py [--converged]``
(about 6 CPU minutes, plus 18 with ``--converged``).
"""

from __future__ import annotations

import sys

from ase import Atoms
from ase.io import write
from common import HERE, label, rms
from hot_frames import cell, run_md

from pyacemaker_fw.core.threads import pin_threads

OUTPUT = HERE / "holdout.extxyz"
CONVERGED_OUTPUT = HERE / "holdout_k222s.extxyz"
CONVERGED_SUBSET = (1, 4, 7, 8)
"""900 K vacancy, 1200 K, 1350 K vacancy and 1500 K: relabelled at the k-converged shifted
2×2×2 grid with ``--converged`` (about 4.5 CPU minutes each)."""
TEMPERATURES = (900.0, 1050.0, 1200.0, 1350.0, 1500.0)


def main() -> None:
    converged = "--converged" in sys.argv
    pin_threads(1)
    labelled = []
    for number, temperature in enumerate(TEMPERATURES):
        for defect in ("none", "vacancy"):
            seed = 9000 + 10 * number + (defect == "vacancy")
            frame = run_md(cell((2, 2, 2), defect, seed), temperature, seed, 3000, 1500)[-1]
            frame.info.update(defect=defect, source="holdout", structure_id=f"holdout-{seed}")
            result = label(frame, f"holdout/{seed}")
            labelled.append(result)
            print(
                f"{result.get_chemical_formula()} {temperature:.0f} K ({defect}): "
                f"{result.info['qe_cpu_s']:.0f} CPU s",
                flush=True,
            )
    write(OUTPUT, labelled, format="extxyz")
    if converged:
        relabelled = []
        for frame in [labelled[index] for index in CONVERGED_SUBSET]:
            bare = Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True)
            bare.info.update({k: frame.info[k] for k in ("defect", "source", "structure_id")})
            result = label(bare, f"holdout/{frame.info['qe_name'][8:]}_k222s", shifted=(2, 2, 2))
            gamma_error = rms(result.get_forces() - frame.get_forces())
            result.info["gamma_label_rms_error"] = gamma_error
            relabelled.append(result)
            print(
                f"{result.info['structure_id']}: shifted 2×2×2 {result.info['qe_cpu_s']:.0f} "
                f"CPU s; Gamma label off by {gamma_error:.3f} eV/Å (RMS)",
                flush=True,
            )
        write(CONVERGED_OUTPUT, relabelled, format="extxyz")


if __name__ == "__main__":
    main()
