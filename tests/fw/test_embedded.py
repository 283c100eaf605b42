"""The embedded LaunchPad: FireWorks on an in-process database that survives the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fireworks import Firework, FWorker, ScriptTask
from fireworks.core.rocket_launcher import launch_rocket

from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad


def test_a_firework_runs_and_the_store_shares_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    session = EmbeddedLaunchPad(tmp_path / "launchpad.json")
    session.launchpad.add_wf(Firework(ScriptTask.from_str("echo ok > marker.txt"), name="probe"))
    assert launch_rocket(session.launchpad)
    [fw_id] = session.launchpad.get_fw_ids()
    assert session.launchpad.get_fw_by_id(fw_id).state == "COMPLETED"
    assert (tmp_path / "marker.txt").read_text().strip() == "ok"
    session.store("c1").log_event("probe")  # a store write saves the snapshot
    again = EmbeddedLaunchPad(tmp_path / "launchpad.json")
    assert again.launchpad.get_fw_by_id(fw_id).state == "COMPLETED"
    assert [event["kind"] for event in again.store("c1").events()] == ["probe"]


def test_a_firework_running_when_the_process_died_runs_again(tmp_path: Path) -> None:
    snapshot = tmp_path / "launchpad.json"
    session = EmbeddedLaunchPad(snapshot)
    session.launchpad.add_wf(Firework(ScriptTask.from_str("true"), name="interrupted"))
    [fw_id] = session.launchpad.get_fw_ids()
    session.launchpad.checkout_fw(FWorker(), str(tmp_path), fw_id=fw_id)
    # no save here: checking a Firework out must reach the disk before its tasks start
    restored = EmbeddedLaunchPad(snapshot)
    assert restored.launchpad.get_fw_by_id(fw_id).state == "RUNNING"
    assert restored.rerun_interrupted() == [fw_id]
    assert restored.launchpad.get_fw_by_id(fw_id).state == "READY"
    assert EmbeddedLaunchPad(snapshot).launchpad.get_fw_by_id(fw_id).state == "READY"


def test_a_read_only_session_never_writes_the_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "launchpad.json"
    EmbeddedLaunchPad(snapshot).save()
    before = snapshot.read_text()
    reader = EmbeddedLaunchPad(snapshot, read_only=True)
    reader.launchpad.add_wf(Firework(ScriptTask.from_str("true"), name="ignored"))
    reader.store("c1").log_event("ignored")
    assert snapshot.read_text() == before


def test_the_launchpad_factory_for_a_real_mongodb_does_not_load_mongomock() -> None:
    code = (
        "import sys, pyacemaker_fw.fw.launchpad, pyacemaker_fw.fw.tasks; "
        "print('mongomock' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
