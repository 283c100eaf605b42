"""The LaunchPad: the user's MongoDB from ``my_launchpad.yaml``, or the embedded one.

A real LaunchPad needs nothing but FireWorks. The embedded LaunchPad (mongomock, kept on disk)
lives in :mod:`pyacemaker_fw.fw.embedded` and is only imported when it is asked for.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fireworks import LaunchPad

from pyacemaker_fw.core.store import CampaignStore


@cache
def _launchpad_from_file(path: Path) -> LaunchPad:
    return LaunchPad.from_file(str(path))


def get_launchpad(launchpad_file: Path) -> LaunchPad:
    """The LaunchPad described by ``launchpad_file`` (one per process and file)."""
    if not Path(launchpad_file).is_file():
        raise FileNotFoundError(f"LaunchPad file {launchpad_file} does not exist")
    return _launchpad_from_file(Path(launchpad_file).resolve())


def get_store(launchpad: LaunchPad, campaign: str) -> CampaignStore:
    """The campaign store, in the LaunchPad's own database (next to its Fireworks)."""
    return CampaignStore(launchpad.db, campaign)


def ping(launchpad: LaunchPad) -> None:
    """Raise if the LaunchPad's database cannot be reached."""
    launchpad.connection.admin.command("ping")
