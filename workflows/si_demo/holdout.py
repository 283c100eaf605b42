"""The demo potential's held-out test set: hot Si64 MD snapshots labelled by QE, never trained on.

Ten independent Stillinger–Weber Langevin runs (seeds 9000+, none shared with ``frames/``) of
the 64-atom diamond cell, at 900, 1050, 1200, 1350 and 1500 K, each with and without a
vacancy; one snapshot from each, after 1.5 ps. Labelled at the production settings (Gamma for
64 atoms; see docs/cutout.md for what Gamma costs in accuracy). Writes ``holdout.extxyz``.
Run: ``nice -n 15 .venv/bin/python workflows/si_demo/holdout.py`` (about 6 CPU minutes).
"""

from __future__ import annotations

from ase.io import write
from common import HERE, label
from hot_frames import cell, run_md

from pyacemaker_fw.core.threads import pin_threads

OUTPUT = HERE / "holdout.extxyz"
TEMPERATURES = (900.0, 1050.0, 1200.0, 1350.0, 1500.0)


def main() -> None:
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


if __name__ == "__main__":
    main()
