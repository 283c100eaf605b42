"""The orchestration's share of a whole campaign's wall time.

Runs ``workflows/si_fast.yaml`` end to end on the embedded LaunchPad (in a temporary folder)
with a timer around every engine step the FireTasks call (``pyacemaker_fw.campaign``'s
functions: selection, labelling, fits, validation, MD, cutouts, surrogate data). Everything
else is orchestration: FireWorks launching Fireworks and applying their actions, the campaign
store's reads and writes, the launchpad.json snapshots, and (de)serialising configs and results.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_orchestration.py``
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pyacemaker_fw.campaign import distill, learn
from pyacemaker_fw.campaign import md as md_steps
from pyacemaker_fw.config import load_config
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.runner import run_embedded

SI_FAST = Path(__file__).resolve().parents[1] / "workflows" / "si_fast.yaml"
STEPS = {
    distill: ("select_candidates", "surrogate_labels", "dft_labels"),
    learn: (
        "validate",
        "cut_clusters",
        "make_surrogates",
        "fit_potential",
        "finetune_surrogate",
        "holdout_errors",
    ),
    md_steps: ("run_segment",),
}
engine_seconds: dict[str, float] = defaultdict(float)


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            engine_seconds[name] += time.perf_counter() - began

    return wrapper


def main() -> None:
    for module, names in STEPS.items():
        for name in names:
            setattr(module, name, _timed(name, getattr(module, name)))
    # Where the orchestration's own time goes: the embedded LaunchPad's snapshots.
    EmbeddedLaunchPad.save = _timed("(snapshot saves)", EmbeddedLaunchPad.save)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        data = yaml.safe_load(SI_FAST.read_text())
        data["workdir"] = str(Path(folder) / "campaign")
        holdout = data["validation"]["holdout_set"]
        data["validation"]["holdout_set"] = str(SI_FAST.parent / holdout)
        path = Path(folder) / "si_fast.yaml"
        path.write_text(yaml.safe_dump(data))
        began = time.perf_counter()
        summary = run_embedded(load_config(path))
        total = time.perf_counter() - began
    saves = engine_seconds.pop("(snapshot saves)", 0.0)
    engine = sum(engine_seconds.values())
    print(f"{'step':<22}{'seconds':>10}{'share':>9}")
    for name, seconds in sorted(engine_seconds.items(), key=lambda item: -item[1]):
        print(f"{name:<22}{seconds:>10.1f}{seconds / total:>9.1%}")
    print(f"{'engines':<22}{engine:>10.1f}{engine / total:>9.1%}")
    print(f"{'orchestration':<22}{total - engine:>10.1f}{(total - engine) / total:>9.1%}")
    print(f"{'  of it, snapshots':<22}{saves:>10.1f}{saves / total:>9.1%}")
    print(
        f"{'whole run':<22}{total:>10.1f}   ({len(summary.launched)} Fireworks, {summary.states})"
    )
    print(f"orchestration share of wall time: {(total - engine) / total:.1%} (goal < 2 %)")


if __name__ == "__main__":
    main()
