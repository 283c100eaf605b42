"""The report's plots, each from plain numbers (no store, no FireWorks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class GammaTrace(BaseModel):
    """One MD segment's monitor readings, and how the segment ended."""

    label: str
    steps: list[int]
    gamma_max: list[float]
    gamma_smoothed: list[float]
    halt_step: int | None = None
    halt_kind: str | None = None


def plot_gamma_traces(
    traces: Sequence[GammaTrace], add_train: float, call_dft: float, path: Path
) -> Path:
    """Max and smoothed gamma of every segment against the MD step, both thresholds dashed,
    halts marked."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for trace in traces:
        (line,) = axes.plot(trace.steps, trace.gamma_max, lw=0.8, alpha=0.6)
        axes.plot(
            trace.steps, trace.gamma_smoothed, lw=1.6, color=line.get_color(), label=trace.label
        )
        if trace.halt_step is not None and trace.gamma_max:
            axes.plot(trace.halt_step, trace.gamma_max[-1], "v", color="black", ms=8)
    axes.axhline(add_train, ls="--", color="tab:orange", label=f"threshold_add_train {add_train:g}")
    axes.axhline(call_dft, ls="--", color="tab:red", label=f"threshold_call_dft {call_dft:g}")
    axes.set_yscale("log")
    axes.set_xlabel("MD step")
    axes.set_ylabel("extrapolation grade γ (max: thin, smoothed: thick)")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(figure, plt, path)


def plot_bars(labels: Sequence[str], values: Sequence[float], ylabel: str, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.bar(range(len(values)), values, color="tab:blue")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(ylabel)
    return _save(figure, plt, path)


def plot_versions(
    versions: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    ylabel: str,
    path: Path,
) -> Path:
    """One line per series against the potential version (gaps where a value is missing)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for name, values in series.items():
        points = [(v, y) for v, y in zip(versions, values, strict=True) if y is not None]
        if points:
            axes.plot(*zip(*points, strict=True), "o-", label=name)
    axes.set_xlabel("potential version")
    axes.set_ylabel(ylabel)
    axes.set_xticks(list(versions))
    axes.legend(fontsize=8)
    return _save(figure, plt, path)


def _save(figure: Any, plt: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
