"""One factory for the LaunchPad: the user's MongoDB, or in-process mongomock.

Callers never learn which one they got. ``my_launchpad.yaml`` points at a real MongoDB for
production; ``None`` gives a mongomock LaunchPad for tests and the embedded ``run`` mode, all
of whose clients share one in-process server, so the store and the LaunchPad see each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mongomock
import mongomock.gridfs
from fireworks import LaunchPad
from fireworks.core import launchpad as fw_launchpad_module

from pyacemaker_fw.core.store import CampaignStore

IN_PROCESS_DB = "pyacemaker_fw"
# LaunchPad opens a GridFS bucket, which only accepts mongomock after this patch.
mongomock.gridfs.enable_gridfs_integration()
_SHARED_SERVER: Any = mongomock.MongoClient()


def _shared_client(*_args: Any, **_kwargs: Any) -> Any:
    return _SHARED_SERVER


def get_launchpad(launchpad_file: Path | None = None) -> LaunchPad:
    """The user's LaunchPad from ``launchpad_file``, or a mongomock one when ``None``."""
    if launchpad_file is not None:
        return LaunchPad.from_file(str(launchpad_file))
    # FireWorks binds MongoClient at import time, so replace it in its own module.
    original = fw_launchpad_module.MongoClient
    fw_launchpad_module.MongoClient = _shared_client
    try:
        launchpad = LaunchPad(name=IN_PROCESS_DB, strm_lvl="ERROR")
    finally:
        fw_launchpad_module.MongoClient = original
    if launchpad.fw_id_assigner.count_documents({}) == 0:
        launchpad.reset("", require_password=False)
    return launchpad


def get_store(launchpad: LaunchPad, campaign: str) -> CampaignStore:
    """The campaign store, in the LaunchPad's own database (next to its FireWorks)."""
    return CampaignStore(launchpad.db, campaign)


def ping(launchpad: LaunchPad) -> None:
    """Raise if the LaunchPad's database cannot be reached."""
    launchpad.connection.admin.command("ping")
