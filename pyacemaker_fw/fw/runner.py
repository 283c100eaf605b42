"""``pyacemaker-fw run``: the whole campaign in this process, on the embedded LaunchPad.

Fireworks run one at a time, in FireWorks' priority order, exactly as ``rlaunch`` would run
them; after each one the LaunchPad is saved (see :mod:`pyacemaker_fw.fw.embedded`). Run the
command again after a kill and it continues where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket
from pydantic import BaseModel, Field

from pyacemaker_fw.config import CampaignConfig, dump_config
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad, deactivate
from pyacemaker_fw.fw.env import CONFIG_KEY, layout
from pyacemaker_fw.fw.workflows import campaign_workflow


class CampaignChanged(RuntimeError):
    """The campaign folder holds a run of a different config."""


class FireworkRun(BaseModel):
    fw_id: int
    name: str
    state: str
    seconds: float


class RunSummary(BaseModel):
    """How an embedded run ended."""

    states: dict[str, int] = Field(default_factory=dict, description="Fireworks by state.")
    rerun: list[int] = Field(default_factory=list, description="Interrupted Fireworks rerun.")
    launched: list[FireworkRun] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return set(self.states) == {"COMPLETED"}


Listener = Callable[[FireworkRun, EmbeddedLaunchPad], None]


def open_campaign(config: CampaignConfig) -> EmbeddedLaunchPad:
    """The campaign's embedded LaunchPad, with its workflow added on the first run."""
    session = EmbeddedLaunchPad(layout(config).launchpad_snapshot)
    launchpad = session.launchpad
    existing = launchpad.workflows.find_one({"metadata.campaign": config.name})
    if existing is None:
        launchpad.add_wf(campaign_workflow(config))
        session.save()
        return session
    first = launchpad.fireworks.find_one({"fw_id": min(existing["nodes"])})
    if first is not None and first["spec"].get(CONFIG_KEY) != dump_config(config):
        raise CampaignChanged(
            f"{layout(config).launchpad_snapshot} holds campaign {config.name!r} started from "
            "a different config; restore that config, or start over with --restart"
        )
    return session


def run_embedded(
    config: CampaignConfig,
    env: Mapping[str, Any] | None = None,
    listener: Listener | None = None,
    max_fireworks: int | None = None,
) -> RunSummary:
    """Run the campaign to its end (or ``max_fireworks`` Fireworks) in this process."""
    _quiet_fireworks()
    session = open_campaign(config)
    session.activate()
    summary = RunSummary(rerun=session.rerun_interrupted())
    launches = layout(config).launches
    launches.mkdir(parents=True, exist_ok=True)
    worker = FWorker(name="embedded", env=dict(env or {}))
    try:
        while max_fireworks is None or len(summary.launched) < max_fireworks:
            ran = _launch_one(session, worker, launches)
            if ran is None:
                break
            summary.launched.append(ran)
            if listener is not None:
                listener(ran, session)
    finally:
        session.save()
        deactivate()
    summary.states = fireworks_by_state(session)
    return summary


def _launch_one(session: EmbeddedLaunchPad, worker: FWorker, launches: Path) -> FireworkRun | None:
    launchpad = session.launchpad
    ready = launchpad.fireworks.find_one({"state": "READY"}, {"fw_id": 1})
    if ready is None:
        return None
    began = time.perf_counter()
    with contextlib.chdir(tempfile.mkdtemp(prefix="launcher_", dir=launches)):
        launched = launch_rocket(launchpad, worker, strm_lvl="ERROR")
    session.save()
    if not launched:
        return None
    newest = next(iter(launchpad.launches.find().sort("launch_id", -1).limit(1)))
    fw_id = int(newest["fw_id"])
    document = launchpad.fireworks.find_one({"fw_id": fw_id}, {"name": 1, "state": 1})
    return FireworkRun(
        fw_id=fw_id,
        name=document["name"],
        state=document["state"],
        seconds=time.perf_counter() - began,
    )


def _quiet_fireworks() -> None:
    """FireWorks logs every launch at INFO to stdout; the run reports progress itself. Its
    rocket's stream level is the FW_config setting ROCKET_STREAM_LOGLEVEL, read at import."""
    from fireworks.core import rocket

    rocket.ROCKET_STREAM_LOGLEVEL = "WARNING"
    for name in ("launchpad", "rocket.launcher"):
        logging.getLogger(name).propagate = False
    logging.getLogger().setLevel(logging.WARNING)
    # The engines log their progress at INFO (pacemaker's iterations, validation reports);
    # libraries such as pyace add root handlers on import, so quiet them at the source.
    logging.getLogger("pyacemaker_fw").setLevel(logging.WARNING)


def fireworks_by_state(session: EmbeddedLaunchPad) -> dict[str, int]:
    counts: dict[str, int] = {}
    for document in session.launchpad.fireworks.find({}, {"state": 1}):
        counts[document["state"]] = counts.get(document["state"], 0) + 1
    return counts
