"""The embedded LaunchPad of ``pyacemaker-fw run``: no server, and its state survives a kill.

FireWorks runs on an in-process mongomock database. After every change of state (each
Firework launched or finished, and a task's writes to the campaign store, at most every
half second) the whole database is written to ``launchpad.json`` in the campaign folder: to
a temporary file, then renamed, so that a kill at any moment leaves the previous snapshot
whole. Running the same command again loads the snapshot, reruns any Firework that was
RUNNING when the process died (its tasks find their finished work in the store and in their
folders), and carries on.

Why a snapshot: a file-backed mongomock only writes on a clean exit, and no MongoDB server can
be assumed on a laptop. The database of a campaign is small (its structures and records, a few
MB), so writing it whole costs milliseconds per change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fireworks import LaunchPad

from pyacemaker_fw.core.store import CampaignStore

DATABASE = "pyacemaker_fw"
SAVE_EVERY = 0.5
"""Seconds between saves triggered by store writes (see :meth:`EmbeddedLaunchPad.save`)."""
_active: EmbeddedLaunchPad | None = None


class EmbeddedLaunchPad:
    """A LaunchPad on an in-process database, snapshotted to ``snapshot`` (or nowhere)."""

    def __init__(self, snapshot: Path | None = None, read_only: bool = False) -> None:
        import mongomock
        import mongomock.gridfs
        from fireworks.core import launchpad as launchpad_module

        # LaunchPad opens a GridFS bucket, which only accepts mongomock after this patch.
        mongomock.gridfs.enable_gridfs_integration()
        self.client: Any = mongomock.MongoClient()
        self.snapshot = snapshot
        self.read_only = read_only
        self._saved = -float("inf")
        # FireWorks binds MongoClient at import time, so replace it in its own module.
        original = launchpad_module.MongoClient
        launchpad_module.MongoClient = lambda *args, **kwargs: self.client
        try:
            self.launchpad = LaunchPad(name=DATABASE, strm_lvl="ERROR")
        finally:
            launchpad_module.MongoClient = original
        self._persist_checkouts()
        # Pings tell other processes a launch is alive (lpad detect_lostruns); this database
        # has no other process, and FireWorks' ping thread would read mongomock while the
        # task writes it, which mongomock does not allow.
        self.launchpad.ping_launch = lambda *args, **kwargs: None
        if snapshot is not None and snapshot.is_file():
            self._restore(snapshot)
        else:
            self.launchpad.reset("", require_password=False)

    @property
    def db(self) -> Any:
        return self.launchpad.db

    def store(self, campaign: str) -> CampaignStore:
        return CampaignStore(self.db, campaign, on_write=lambda: self.save(force=False))

    def save(self, force: bool = True) -> None:
        """Write the whole database to the snapshot file, atomically.

        Without ``force`` (a task's store writes) a save within :data:`SAVE_EVERY` seconds of
        the last such save is left to the next: a burst of small writes costs one save, while the
        write that records finished expensive work (a label, after seconds of pw.x) is saved
        at once. The runner forces a save after every Firework.
        """
        if self.snapshot is None or self.read_only:
            return
        if not force:
            now = time.monotonic()
            if now - self._saved < SAVE_EVERY:
                return
            self._saved = now
        from bson import json_util

        data = {
            name: list(self.db[name].find())
            for name in self.db.list_collection_names()
            if not name.startswith("system.")
        }
        self.snapshot.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.snapshot.with_suffix(".json.tmp")
        temporary.write_text(json_util.dumps(data))
        os.replace(temporary, self.snapshot)

    def _persist_checkouts(self) -> None:
        """Save as soon as a Firework is marked RUNNING, so a kill during it reruns it."""
        checkout = self.launchpad.checkout_fw

        def checkout_and_save(*args: Any, **kwargs: Any) -> Any:
            checked_out = checkout(*args, **kwargs)
            self.save()
            return checked_out

        self.launchpad.checkout_fw = checkout_and_save

    def _restore(self, snapshot: Path) -> None:
        from bson import json_util

        data = json_util.loads(snapshot.read_text())
        for name, documents in data.items():
            self.db[name].delete_many({})
            if documents:
                self.db[name].insert_many(documents)

    def rerun_interrupted(self) -> list[int]:
        """Fireworks that were RUNNING when the last process died, set to run again."""
        interrupted = self.launchpad.get_fw_ids({"state": "RUNNING"})
        for fw_id in interrupted:
            self.launchpad.rerun_fw(fw_id)
        if interrupted:
            self.save()
        return [int(fw_id) for fw_id in interrupted]

    def activate(self) -> None:
        """Make this the LaunchPad that tasks in this process reach the store through."""
        global _active
        _active = self


def active() -> EmbeddedLaunchPad | None:
    return _active


def deactivate() -> None:
    global _active
    _active = None
