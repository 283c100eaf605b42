"""Phase 3 as a step: one MD segment of one walker, and what the loop needs to know about it.

A segment runs in its own folder. If that folder already holds restarts from an earlier
attempt (a worker that was killed, a Firework rerun), the segment continues from the newest of
them instead of from its start, so no MD is done twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from pyacemaker_fw.campaign.loop import SegmentOutcome
from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import MDStatus, PotentialFiles
from pyacemaker_fw.oracles.espresso.plausibility import implausible_pairs
from pyacemaker_fw.simulation.engine import LammpsEngine, read_restart_state
from pyacemaker_fw.simulation.inputs import RESTART_PREFIX
from pyacemaker_fw.simulation.restarts import restart_files, verified_meta
from pyacemaker_fw.simulation.start import initial_md_structure

LAST_GOOD_FRAME = "last_good_frame.extxyz"


def good_restarts(directory: Path) -> dict[int, Path]:
    """Restart files in ``directory`` that the engine vouched for (a matching sidecar), by step."""
    return {
        step: path
        for step, path in restart_files(directory).items()
        if verified_meta(path) is not None
    }


def resume_point(walker: WalkerState, workdir: Path) -> tuple[Path | None, int]:
    """Where the segment starts: the newest restart an earlier attempt left in ``workdir``
    beyond the walker's step, else the walker's own restart (None: its initial structure)."""
    earlier = {step: path for step, path in good_restarts(workdir).items() if step > walker.step}
    if earlier:
        step = max(earlier)
        return earlier[step], step
    return walker.restart, walker.step


def run_segment(
    config: CampaignConfig, walker: WalkerState, potential: PotentialFiles, workdir: Path
) -> SegmentOutcome:
    """Run the walker on to its target step (or a halt) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    md = walker.md_config(config)
    target = walker.target_step(config)
    restart, step = resume_point(walker, workdir)
    start: Atoms | Path
    if restart is None:
        settings = md.walkers[walker.walker]
        if settings.initial_structure is not None:
            md = md.model_copy(update={"initial_structure": settings.initial_structure})
        start = initial_md_structure(md, config.elements)
    else:
        start = restart
    result = LammpsEngine(md, config.thresholds).run(start, potential, workdir, target - step)
    outcome = SegmentOutcome(result=result, walker=walker, target_step=target)
    if result.status == MDStatus.HALTED_CEILING:
        outcome = _ceiling_details(outcome, workdir)
    return outcome


def _ceiling_details(outcome: SegmentOutcome, workdir: Path) -> SegmentOutcome:
    """Is the halt frame fit for DFT, and which earlier state does the walker go back to?"""
    result, walker = outcome.result, outcome.walker
    earlier = {s: p for s, p in good_restarts(workdir).items() if s < result.step}
    restart = earlier[max(earlier)] if earlier else walker.restart
    halt_frame = read_frame(result.frame_file) if result.frame_file is not None else None
    sane = halt_frame is not None and not implausible_pairs(halt_frame)
    frame = None
    if not sane and restart is not None and halt_frame is not None:
        frame = workdir / LAST_GOOD_FRAME
        write(frame, frame_at_restart(restart, halt_frame))
    return outcome.model_copy(
        update={"frame_is_sane": sane, "last_good_restart": restart, "last_good_frame": frame}
    )


def frame_at_restart(restart: Path, halt_frame: Atoms) -> Atoms:
    """The structure stored in ``restart``, carrying the halt frame's per-atom gamma so that
    the cutout centres on the same atoms (atoms keep their ids through a run)."""
    state, cell = read_restart_state(restart)
    atoms = Atoms(
        symbols=halt_frame.get_chemical_symbols(),
        positions=state.unwrapped_positions(cell),
        cell=cell,
        pbc=True,
    )
    atoms.wrap()
    if keys.GAMMA in halt_frame.arrays:
        atoms.arrays[keys.GAMMA] = np.asarray(halt_frame.arrays[keys.GAMMA]).copy()
    atoms.info[keys.MD_STEP] = state.step
    atoms.info[keys.PROVENANCE] = f"restart {restart.name}, before a hard-ceiling halt"
    return atoms


def read_frame(path: Path) -> Atoms:
    """The (last) structure of an extxyz frame file."""
    frame = read(path, index=-1)
    if not isinstance(frame, Atoms):
        raise ValueError(f"{path} holds no structure")
    return frame


def prune_segments(walker_dir: Path, keep: int) -> int:
    """Drop restarts and frames of all but the newest ``keep`` segments of a walker; bytes
    freed. Logs and md_result.json stay, so the history can still be read."""
    segments = sorted(path for path in walker_dir.glob("segment*") if path.is_dir())
    freed = 0
    for segment in segments[:-keep] if keep > 0 else segments:
        for path in [*segment.glob(f"{RESTART_PREFIX}*"), *segment.glob("*.extxyz")]:
            freed += path.stat().st_size
            path.unlink()
        data = segment / "start.data"
        if data.exists():
            freed += data.stat().st_size
            data.unlink()
    return freed


def disk_use(path: Path) -> int:
    """Bytes under ``path``."""
    if not path.exists():
        return 0
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
