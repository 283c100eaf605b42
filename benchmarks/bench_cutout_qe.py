"""QE accuracy and cost of cutout labels against the periodic frame they were cut from.

Every label here is what the campaign would compute: the project's ``EspressoOracle`` at the
production settings (PBE, Si.pbe-rrkj + H.pbe-kjpaw, ecutwfc 30 Ry, ecutrho 240 Ry,
Marzari–Vanderbilt 0.01 Ry, conv_thr 1e-7, serial pw.x 6.7), on hot Stillinger–Weber MD frames
of silicon from ``workflows/si_demo/frames`` (64/63 and 215 atoms, 1200–1400 K, with and
without a vacancy).

Tables:
1. **k-point convergence of the parent.** Hot Si64/Si63 frames at Gamma, at one shifted point
   (½,½,½), at a shifted 2×2×2 grid (pw.x offsets 1 1 1, 4 k-points) and at the unshifted
   2×2×2 reference (kspacing 0.09, 8 k-points). Two different grids of the same density that
   agree show the reference is converged.
2. **Error and cost per cutout option,** against the 2×2×2 parent: the whole frame (what
   ``periodic_box`` mode gives when the cell is smaller than one box) at each k-sampling; the
   default cluster (core 3, buffer 5, vacuum 3 Å, H caps), the same labels scored on the centre
   atom only, and the cluster as ``prepare_clusters`` makes it with the seed MACE
   (``workflows/si_demo/seed_mace.model``) pre-relaxing buffer and caps. Options:
   ``--more-centres`` (a second centre per frame), ``--buffer-4``, ``--caps-only`` (relax only
   the H caps).
3. With ``--box``: the 64-atom periodic box in a 215-atom frame, against that frame at Gamma
   (2×2×2 of 215 atoms is out of reach here), and the cost of one cluster against its parent at
   63 and 215 atoms, extrapolated to 1000.
3b. **Geometry-only error**, with the seed MACE standing in for QE on both sides: the faces of
   a periodic box and the caps of a cluster, for many centres at no DFT cost.

Errors are per weighted atom (force weight 1), against the parent's force on the same atom:
``centre`` is |ΔF| of the centre atom, ``RMS`` the root mean square over the Cartesian
components of every weighted atom (how a potential's force RMSE is quoted), ``max`` the largest
|ΔF|. All in eV/Å. CPU seconds are pw.x's own, serial, on a shared 2-core machine.

Each label is kept under ``--workdir`` by name; a rerun reads it instead of running pw.x again.
``--export FILE`` writes every label used to one extxyz (committed as
``workflows/si_demo/cutout_labels.extxyz``). Run from the repository root:
``OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/bench_cutout_qe.py`` (about 60 CPU
minutes from scratch; each unshifted 2×2×2 parent takes 9 minutes; ``--box`` adds about 20).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import CutoutConfig, EspressoConfig, RelaxationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.extraction import extract_clusters, prepare_clusters, relax_buffer
from pyacemaker_fw.extraction.accuracy import ForceErrors, reweighted, weighted_force_errors
from pyacemaker_fw.oracles.espresso import oracle as oracle_module
from pyacemaker_fw.oracles.espresso.inputs import OUTPUT_FILE, PwInput
from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle, read_final_frame

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / "workflows/si_demo/frames"
SEED_MACE = ROOT / "workflows/si_demo/seed_mace.model"
PRODUCTION = EspressoConfig(ecutwfc=30.0, ecutrho=240.0, smearing="mv", degauss=0.01)
CONVERGED_KSPACING = 0.09  # 2×2×2 for a 10.86 Å cell
PRODUCTION_ATOMS = 1000
FROZEN = RelaxationConfig(enabled=False)
CPU_TIME = re.compile(r"PWSCF\s*:\s*(?:(\d+)h\s*)?(?:(\d+)m\s*)?([\d.]+)s CPU")
DEFAULT = CutoutConfig(relaxation=FROZEN)


@dataclass
class Case:
    """A parent frame and the centres cut from it."""

    name: str
    file: str
    index: int
    centres: list[int]


@contextmanager
def shifted_grid(grid: tuple[int, int, int]) -> Iterator[None]:
    """The oracle writes ``grid`` shifted by half a step (pw.x offsets 1 1 1) for every input.

    The project's k-point rule has no offset yet; this measures what one would give. A
    1×1×1 shifted grid is the single point (½, ½, ½) of the cell's reciprocal lattice.
    """
    original = oracle_module.build_pw_input

    def build(atoms: Atoms, config: EspressoConfig, overrides: Any = None) -> PwInput:
        pw_input = original(atoms, config, overrides)
        for index, line in enumerate(pw_input.cards):
            if line.split()[:1] == ["K_POINTS"]:
                automatic = "automatic" in line.lower()
                end = index + 2 if automatic else index + 1
                pw_input.cards[index:end] = [
                    "K_POINTS automatic",
                    " ".join(str(n) for n in grid) + " 1 1 1",
                ]
                break
        return pw_input

    oracle_module.build_pw_input = build
    try:
        yield
    finally:
        oracle_module.build_pw_input = original


class Labeller:
    """The EspressoOracle at production settings, each label kept on disk by name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.used: dict[str, Atoms] = {}

    def export(self, path: Path) -> None:
        """Every label this run used, tagged by ``kind`` and ``kpoints``, in one extxyz."""
        exported = []
        for name, labelled in self.used.items():
            atoms = labelled.copy()
            atoms.calc = labelled.calc
            periodic = bool(atoms.pbc.any())
            kind = "box" if "_box" in name else "parent" if periodic else "cluster"
            atoms.info.update(qe_name=name, kind=kind, kpoints=name.rsplit("_", 1)[-1])
            if not periodic or kind == "cluster":
                atoms.info["kpoints"] = "gamma"
            exported.append(atoms)
        write(path, exported, format="extxyz")

    def __call__(
        self,
        atoms: Atoms,
        name: str,
        kspacing: float | None = None,
        shifted: tuple[int, int, int] | None = None,
    ) -> Atoms:
        directory = self.root / name
        stored = directory / "labelled.extxyz"
        if stored.is_file():
            cached = read(stored)
            assert isinstance(cached, Atoms)
            self.used[name] = cached
            return cached
        config = PRODUCTION.model_copy(update={"kspacing": kspacing or PRODUCTION.kspacing})
        began = time.perf_counter()
        labelled = finished_run(atoms, directory)
        if labelled is None:
            with shifted_grid(shifted) if shifted else nullcontext():
                labelled = EspressoOracle(config, self.root).label_one(atoms, directory)
        labelled.info["qe_wall_s"] = time.perf_counter() - began
        labelled.info["qe_cpu_s"] = pw_cpu_seconds(directory / "pw.out")
        for key in (keys.ORACLE_SETTINGS, keys.CORRECTIONS):
            labelled.info[key] = repr(labelled.info.get(key))  # extxyz stores flat values
        write(stored, labelled, format="extxyz")
        self.used[name] = labelled
        return labelled


def pw_cpu_seconds(output: Path) -> float:
    """pw.x's own CPU time, from its last ``PWSCF : 4m26.59s CPU`` line."""
    found = CPU_TIME.findall(output.read_text())
    if not found:
        raise ValueError(f"no PWSCF CPU time in {output}")
    hours, minutes, seconds = found[-1]
    return 3600 * float(hours or 0) + 60 * float(minutes or 0) + float(seconds)


def finished_run(atoms: Atoms, directory: Path) -> Atoms | None:
    """The label of a pw.x run that finished in ``directory`` but was never stored."""
    output = directory / OUTPUT_FILE
    if not output.is_file():
        return None
    text = output.read_text()
    if "JOB DONE" not in text or "convergence NOT achieved" in text:
        return None
    final = read_final_frame(output)
    stress = final.get_stress() if atoms.pbc.any() else None
    return attach_labels(atoms, final.get_potential_energy(), final.get_forces(), "qe", stress)


def frame(case: Case) -> Atoms:
    atoms = read(FRAMES / f"{case.file}.extxyz", index=case.index)
    assert isinstance(atoms, Atoms)
    return atoms


def undercoordinated(atoms: Atoms) -> int:
    """The atom with fewest neighbours within 2.7 Å (a vacancy neighbour), lowest index first."""
    first, _ = neighbor_list("ij", atoms, 2.7)
    return int(np.argmin(np.bincount(first, minlength=len(atoms))))


def farthest(atoms: Atoms, index: int) -> int:
    return int(np.argmax(atoms.get_distances(index, range(len(atoms)), mic=True)))


def cases() -> list[Case]:
    clean = read(FRAMES / "si64.extxyz", index=2)
    vacancy = read(FRAMES / "si64_vacancy.extxyz", index=3)
    assert isinstance(clean, Atoms) and isinstance(vacancy, Atoms)
    near = undercoordinated(vacancy)
    return [
        Case("si64_1200K", "si64", 2, [0, farthest(clean, 0)]),
        Case("si63_vacancy", "si64_vacancy", 3, [near, farthest(vacancy, near)]),
    ]


def row(option: str, label: Atoms, errors: ForceErrors, cpu: float | None = None) -> str:
    seconds = label.info["qe_cpu_s"] if cpu is None else cpu
    return (
        f"| {option} | {label.get_chemical_formula()} | {seconds:.0f} | {errors.atoms} | "
        f"{errors.centre:.3f} | {errors.component_rms:.3f} | {errors.largest:.3f} |"
    )


HEADER = (
    "| option | label | QE CPU s | weighted atoms | centre err | RMS err (component) | "
    "max err |\n|---|---|---|---|---|---|---|"
)


def kpoint_table(labeller: Labeller, all_cases: list[Case]) -> dict[str, Atoms]:
    print("\n## 1. The parent's k-point convergence, against 2×2×2 (8 k-points)")
    print("| frame | atoms | k-points | QE CPU s | RMS diff (component) | largest ΔF |")
    print("|---|---|---|---|---|---|")
    converged = {}
    for case in all_cases:
        atoms = frame(case)
        kgrid = labeller(atoms, f"{case.name}_k222", CONVERGED_KSPACING)
        samplings = [
            ("Gamma", labeller(atoms, f"{case.name}_gamma")),
            ("1×1×1 shifted (½,½,½)", labeller(atoms, f"{case.name}_k111s", shifted=(1, 1, 1))),
        ]
        # Is the reference converged? A different grid of the same density, at half the cost.
        samplings.append(
            ("2×2×2 shifted", labeller(atoms, f"{case.name}_k222s", shifted=(2, 2, 2)))
        )
        samplings.append(("2×2×2 (reference)", kgrid))
        for sampling, label in samplings:
            diff = label.get_forces() - kgrid.get_forces()
            print(
                f"| {case.name} | {len(atoms)} | {sampling} | {label.info['qe_cpu_s']:.0f} | "
                f"{np.sqrt(np.mean(diff**2)):.3f} | {np.linalg.norm(diff, axis=1).max():.3f} |"
            )
        converged[case.name] = kgrid
    return converged


def seed_mace() -> Any:
    from mace.calculators import MACECalculator

    return MACECalculator(model_paths=[str(SEED_MACE)], device="cpu", default_dtype="float32")


def relaxed_cluster(atoms: Atoms, centre: int) -> Atoms | None:
    """The default cluster as the campaign makes it: cut, capped, pre-relaxed by the seed MACE."""
    if not SEED_MACE.is_file():
        return None
    return prepare_clusters(atoms, [centre], CutoutConfig(), relaxer=seed_mace())[0]


def caps_relaxed(cluster: Atoms) -> Atoms:
    """Only the H caps relaxed by the seed MACE; every Si stays where the frame had it.

    ``relax_buffer`` holds the core fixed, so every Si is marked core for the relaxation and
    the cluster's own regions are put back afterwards.
    """
    marked = cluster.copy()
    silicon = marked.arrays[keys.REGION] != keys.REGION_PASSIVANT
    marked.arrays[keys.REGION][silicon] = keys.REGION_CORE
    relaxed = relax_buffer(marked, seed_mace(), RelaxationConfig())
    relaxed.arrays[keys.REGION] = cluster.arrays[keys.REGION].copy()
    return relaxed


def options_table(
    labeller: Labeller,
    case: Case,
    parent: Atoms,
    with_buffer_4: bool,
    more_centres: bool,
    caps_only: bool,
) -> list[dict[str, Any]]:
    atoms = frame(case)
    reference = parent.get_forces()
    rows: list[dict[str, Any]] = []
    print(f"\n### {case.name}: {len(atoms)} atoms, {atoms.info.get('kinetic_K', 0):.0f} K")
    print(HEADER)
    whole = extract_clusters(atoms, [case.centres[0]], CutoutConfig(mode="periodic_box"))[0]
    whole_label = labeller(atoms, f"{case.name}_gamma")  # the frame itself, at Gamma
    order = whole.arrays[keys.PARENT_INDEX]
    errors = weighted_force_errors(whole, whole_label.get_forces()[order], reference)
    print(row("whole frame (periodic_box), Gamma", whole_label, errors))
    rows.append({"case": case.name, "option": "whole_frame_gamma", **errors.__dict__})
    shifted = labeller(atoms, f"{case.name}_k111s", shifted=(1, 1, 1))
    errors = weighted_force_errors(whole, shifted.get_forces()[order], reference)
    print(row("whole frame (periodic_box), 1×1×1 shifted", shifted, errors))
    rows.append({"case": case.name, "option": "whole_frame_k111s", **errors.__dict__})
    shifted = labeller(atoms, f"{case.name}_k222s", shifted=(2, 2, 2))
    errors = weighted_force_errors(whole, shifted.get_forces()[order], reference)
    print(row("whole frame (periodic_box), 2×2×2 shifted", shifted, errors))
    rows.append({"case": case.name, "option": "whole_frame_k222s", **errors.__dict__})
    for centre in case.centres[: 2 if more_centres else 1]:
        first = centre == case.centres[0]
        variants = [("cluster, buffer 5", DEFAULT)]
        if first and with_buffer_4:
            thinner = DEFAULT.model_copy(update={"buffer_radius": 4.0})
            variants.append(("cluster, buffer 4", thinner))
        for option, config in variants:
            cluster = extract_clusters(atoms, [centre], config)[0]
            tag = f"{case.name}_c{centre}_b{config.buffer_radius:g}"
            label = labeller(cluster, tag)
            errors = weighted_force_errors(cluster, label.get_forces(), reference)
            print(row(f"{option}, centre {centre}", label, errors))
            rows.append({"case": case.name, "option": tag, **errors.__dict__})
            if config is not DEFAULT:
                continue
            centre_only = weighted_force_errors(
                reweighted(cluster, 0.5), label.get_forces(), reference
            )
            print(row(f"  same, centre atom only, centre {centre}", label, centre_only))
            rows.append({"case": case.name, "option": f"{tag}_centre", **centre_only.__dict__})
            if first and caps_only and SEED_MACE.is_file():
                capped = caps_relaxed(cluster)
                label = labeller(capped, f"{tag}_capsrelaxed")
                errors = weighted_force_errors(capped, label.get_forces(), reference)
                print(row(f"  same, only H caps relaxed, centre {centre}", label, errors))
                rows.append({"case": case.name, "option": f"{tag}_caps", **errors.__dict__})
            relaxed = relaxed_cluster(atoms, centre) if first else None
            if relaxed is not None:
                label = labeller(relaxed, f"{tag}_seedmace")
                errors = weighted_force_errors(relaxed, label.get_forces(), reference)
                # The box is refitted after the relaxation: measure from the fixed centre.
                shift = relaxed.positions[0] - cluster.positions[0]
                moved = np.linalg.norm(relaxed.positions - shift - cluster.positions, axis=1)
                heavy = relaxed.arrays[keys.PARENT_INDEX] >= 0
                print(
                    row(f"  same, seed-MACE relaxed, centre {centre}", label, errors)
                    + f" (Si moved ≤ {moved[heavy].max():.2f} Å)"
                )
                rows.append({"case": case.name, "option": f"{tag}_relaxed", **errors.__dict__})
    return rows


def periodic_box_table(labeller: Labeller) -> Atoms:
    case = Case("si215_vacancy", "si216_vacancy", 0, [])
    atoms = frame(case)
    near = undercoordinated(atoms)
    centres = [near, farthest(atoms, near)]
    parent = labeller(atoms, f"{case.name}_gamma")
    reference = parent.get_forces()
    print(
        f"\n## 3. Periodic box in a {len(atoms)}-atom frame "
        f"({atoms.info.get('kinetic_K', 0):.0f} K; parent at Gamma, "
        f"{parent.info['qe_cpu_s']:.0f} CPU s)"
    )
    print(HEADER)
    for centre in centres:
        box = extract_clusters(atoms, [centre], CutoutConfig(mode="periodic_box"))[0]
        label = labeller(box, f"{case.name}_box{centre}_gamma")
        errors = weighted_force_errors(box, label.get_forces(), reference)
        edges = "×".join(f"{length:.2f}" for length in box.cell.lengths())
        print(row(f"periodic box {edges} Å, Gamma, centre {centre}", label, errors))
        label = labeller(box, f"{case.name}_box{centre}_k111s", shifted=(1, 1, 1))
        errors = weighted_force_errors(box, label.get_forces(), reference)
        print(row(f"periodic box, 1×1×1 shifted, centre {centre}", label, errors))
    return parent


def model_geometry_table(centres_per_frame: int = 6) -> None:
    """The cut's own error with electrons left out: seed-MACE forces of each cutout against
    the seed-MACE forces of its frame. A local model sees only the geometry (faces, caps), so
    this isolates what the box faces and the caps do, for many centres at no DFT cost."""
    if not SEED_MACE.is_file():
        return
    model = seed_mace()
    print(
        "\n## 3b. Geometry-only error (seed MACE on cutout vs seed MACE on frame), "
        f"{centres_per_frame} random centres per frame"
    )
    print("| frame | option | weighted atoms | centre err | RMS err (component) | max err |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(5)
    for file in ("si216", "si216_vacancy"):
        atoms = read(FRAMES / f"{file}.extxyz", index=0)
        assert isinstance(atoms, Atoms)
        reference = _forces(atoms, model)
        for option, config in (
            ("periodic box", CutoutConfig(mode="periodic_box")),
            ("cluster, buffer 5", DEFAULT),
        ):
            found = []
            for centre in rng.choice(len(atoms), centres_per_frame, replace=False):
                cut = extract_clusters(atoms, [int(centre)], config)[0]
                found.append(weighted_force_errors(cut, _forces(cut, model), reference))
            print(
                f"| {file} | {option} | {sum(e.atoms for e in found)} | "
                f"{np.mean([e.centre for e in found]):.3f} (mean) | "
                f"{np.sqrt(np.mean([e.component_rms**2 for e in found])):.3f} | "
                f"{max(e.largest for e in found):.3f} |"
            )


def _forces(atoms: Atoms, model: Any) -> Any:
    work = atoms.copy()
    work.calc = model
    return work.get_forces()


def cost_table(labeller: Labeller, small: Atoms, large: Atoms, cluster: Atoms) -> None:
    print("\n## 4. QE cost: one default cluster against its periodic parent (serial, Gamma)")
    print("| parent atoms | periodic CPU s | cluster | cluster CPU s | periodic/cluster |")
    print("|---|---|---|---|---|")
    sizes, seconds = [], []
    for parent in (small, large):
        cost = float(parent.info["qe_cpu_s"])
        sizes.append(len(parent))
        seconds.append(cost)
        print(
            f"| {len(parent)} | {cost:.0f} | {cluster.get_chemical_formula()} | "
            f"{cluster.info['qe_cpu_s']:.0f} | {cost / cluster.info['qe_cpu_s']:.2f} |"
        )
    power, offset = np.polyfit(np.log(sizes), np.log(seconds), 1)
    production = float(np.exp(offset) * PRODUCTION_ATOMS**power)
    print(
        f"| {PRODUCTION_ATOMS} (fit N^{power:.2f}) | {production:.0f} | | "
        f"{cluster.info['qe_cpu_s']:.0f} | {production / cluster.info['qe_cpu_s']:.0f} |"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--workdir", type=Path, default=Path("/work/scratch/si_demo/qe"))
    options.add_argument("--json", type=Path, default=None, help="write the error rows here")
    options.add_argument("--export", type=Path, default=None, help="write every label used here")
    options.add_argument("--more-centres", action="store_true", help="a second centre per frame")
    options.add_argument("--buffer-4", action="store_true", help="a 4 Å buffer, first frame")
    options.add_argument("--caps-only", action="store_true", help="relax only the H caps too")
    options.add_argument("--box", action="store_true", help="the 215-atom frame and cost table")
    arguments = options.parse_args()
    pin_threads(1)
    labeller = Labeller(arguments.workdir)
    all_cases = cases()
    converged = kpoint_table(labeller, all_cases)
    print("\n## 2. Error and cost per option, against the 2×2×2 parent")
    rows: list[dict[str, Any]] = []
    for case in all_cases:
        with_buffer_4 = arguments.buffer_4 and case is all_cases[0]
        parent = converged[case.name]
        rows += options_table(
            labeller, case, parent, with_buffer_4, arguments.more_centres, arguments.caps_only
        )
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=1))
    if arguments.export:
        labeller.export(arguments.export)
    model_geometry_table()
    if arguments.box:
        parent = periodic_box_table(labeller)
        first = all_cases[0]
        cluster = extract_clusters(frame(first), first.centres[:1], DEFAULT)[0]
        cluster_label = labeller(cluster, f"{first.name}_c{first.centres[0]}_b5")
        small = labeller(frame(all_cases[1]), f"{all_cases[1].name}_gamma")
        cost_table(labeller, small, parent, cluster_label)


if __name__ == "__main__":
    main()
