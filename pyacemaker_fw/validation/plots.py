"""PNG plots of the report: both EOS curves, both phonon band structures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase.eos import EquationOfState

from pyacemaker_fw.validation.report import EOSResult, PhononResult

MODEL_STYLE = {"color": "tab:red", "linestyle": "--"}
REFERENCE_STYLE = {"color": "black", "linestyle": "-"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_eos(model: EOSResult, reference: EOSResult, path: Path, names: tuple[str, str]) -> Path:
    """E(V) points and Birch–Murnaghan fits of both models, relative to the reference E0
    (so an offset in E0 shows as a vertical shift)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 4))
    for result, name, style in (
        (reference, names[1], REFERENCE_STYLE),
        (model, names[0], MODEL_STYLE),
    ):
        volumes = np.array(result.volumes)
        fit = EquationOfState(volumes, np.array(result.energies), eos="birchmurnaghan")
        fit.fit()
        grid = np.linspace(volumes.min(), volumes.max(), 200)
        label = (
            f"{name}: V0={result.volume:.2f} Å³, E0={result.energy:.3f} eV, "
            f"B0={result.bulk_modulus:.0f} GPa"
        )
        curve = fit.func(grid, *fit.eos_parameters)
        axes.plot(grid, 1000 * (curve - reference.energy), label=label, **style)
        points = 1000 * (np.array(result.energies) - reference.energy)
        axes.plot(volumes, points, "o", color=style["color"])
    axes.set_xlabel("volume (Å³/atom)")
    axes.set_ylabel(f"E − {reference.energy:.3f} eV (meV/atom)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_bands(
    model: PhononResult, reference: PhononResult, path: Path, names: tuple[str, str]
) -> Path:
    """Phonon dispersions of both models on the reference's path axis (the model's own axis,
    longer or shorter with its lattice constant, is stretched to the same special points)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    for result, name, style in (
        (reference, names[1], REFERENCE_STYLE),
        (model, names[0], MODEL_STYLE),
    ):
        bands = np.array(result.frequencies)
        axis = np.interp(result.distances, result.label_positions, reference.label_positions)
        for index in range(bands.shape[1]):
            axes.plot(axis, bands[:, index], label=name if index == 0 else None, **style)
    for position in reference.label_positions:
        axes.axvline(position, color="grey", linewidth=0.5)
    axes.axhline(0.0, color="grey", linewidth=0.5)
    positions, labels = _merged_labels(reference)
    axes.set_xticks(positions, labels)
    axes.set_xlim(reference.distances[0], reference.distances[-1])
    axes.set_ylabel("frequency (THz)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _merged_labels(result: PhononResult) -> tuple[list[float], list[str]]:
    """Tick labels, with the two labels of a path break (same position) shown as 'K|U'."""
    positions: list[float] = []
    labels: list[str] = []
    for position, label in zip(result.label_positions, result.labels, strict=True):
        text = r"$\Gamma$" if label == "G" else label
        if positions and abs(position - positions[-1]) < 1e-9:
            labels[-1] = f"{labels[-1]}|{text}"
        else:
            positions.append(position)
            labels.append(text)
    return positions, labels
