"""Errors of the seed MACE on QE data it never saw, written to ``seed_mace_errors.json``.

- the held-out split of ``seed_data.extxyz`` (Si only and Si–H, by category);
- ``holdout.extxyz``: the demo's hot Si64 test set (Gamma labels), and the four of it in
  ``holdout_k222s.extxyz`` (shifted 2×2×2);
- ``cutout_labels.extxyz``: the cutout benchmark's labels (hot Si64/Si63 parents at Gamma and
  2×2×2, and the default Si29H36-type clusters cut from them), from frames kept out of training.

Run after ``train_seed_mace.py``:
``nice -n 15 .venv/bin/python workflows/si_demo/evaluate_seed_mace.py``.
"""

from __future__ import annotations

import json

from ase import Atoms
from ase.io import read
from common import HERE

from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.training.mace_finetune import mace_errors

MODEL = HERE / "seed_mace.model"


def has_hydrogen(atoms: Atoms) -> bool:
    return bool((atoms.numbers == 1).any())


def groups() -> dict[str, list[Atoms]]:
    seed = read(HERE / "seed_data.extxyz", index=":")
    heldout = [atoms for atoms in seed if atoms.info["split"] == "heldout"]
    found = {
        "seed held-out, Si only": [a for a in heldout if not has_hydrogen(a)],
        "seed held-out, Si-H": [a for a in heldout if has_hydrogen(a)],
        "seed held-out, all": heldout,
        "seed training split": [atoms for atoms in seed if atoms.info["split"] == "train"],
    }
    for category in sorted({a.info["category"] for a in heldout}):
        found[f"seed held-out, {category}"] = [a for a in heldout if a.info["category"] == category]
    if (HERE / "holdout.extxyz").is_file():
        found["holdout.extxyz (hot Si64, Gamma)"] = read(HERE / "holdout.extxyz", index=":")
    if (HERE / "holdout_k222s.extxyz").is_file():
        found["holdout_k222s.extxyz (hot Si64, shifted 2×2×2)"] = read(
            HERE / "holdout_k222s.extxyz", index=":"
        )
    if (HERE / "cutout_labels.extxyz").is_file():
        cutout = read(HERE / "cutout_labels.extxyz", index=":")
        found["cutout benchmark, Si64 parents (Gamma)"] = [
            a for a in cutout if a.info["kind"] == "parent" and a.info["kpoints"] == "gamma"
        ]
        found["cutout benchmark, clusters (as cut and relaxed)"] = [
            a for a in cutout if a.info["kind"] == "cluster"
        ]
    return {name: members for name, members in found.items() if members}


def main() -> None:
    pin_threads(1)
    report = {}
    for name, members in groups().items():
        errors = mace_errors(MODEL, members).model_dump()
        report[name] = errors
        print(
            f"{name}: {errors['structures']} structures, E {errors['energy_rmse']:.1f} meV/atom, "
            f"F {errors['force_rmse']:.0f} meV/Å"
        )
    (HERE / "seed_mace_errors.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
