from __future__ import annotations

from pathlib import Path

import pytest
from fireworks import Firework, ScriptTask
from fireworks.core.rocket_launcher import launch_rocket

from pyacemaker_fw.fw.launchpad import get_launchpad, get_store


def test_in_process_launchpad_runs_a_firework_and_shares_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    launchpad = get_launchpad()
    launchpad.reset("", require_password=False)
    launchpad.add_wf(Firework(ScriptTask.from_str("echo ok > marker.txt"), name="probe"))
    launch_rocket(get_launchpad())
    [fw_id] = launchpad.get_fw_ids()
    assert launchpad.get_fw_by_id(fw_id).state == "COMPLETED"
    assert list(tmp_path.rglob("marker.txt"))
    store = get_store(get_launchpad(), "c1")
    store.log_event("probe")
    assert get_store(launchpad, "c1").events()[0]["kind"] == "probe"
