"""Several rlaunch processes against one MongoDB-wire server: exactly once, and kill -9."""

from __future__ import annotations

import datetime
import signal
from pathlib import Path

from fireworks import Firework, LaunchPad, ScriptTask, Workflow

from tests.hpc.fw_tools import (
    checkpointed_script,
    fw_env,
    fw_states,
    kill_group,
    launches_of,
    launches_per_firework,
    lost_firework_count,
    run_tool,
    start_tool,
    wait_for,
    write_fworker,
)

N_WORKERS = 3
N_MIDDLE = 10


def _fan_out(release: Path) -> Workflow:
    """prepare -> 10 tasks that wait for ``release`` -> join: 12 Fireworks."""
    prepare = Firework(ScriptTask.from_str("echo prepare"), name="prepare")
    wait = f"while [ ! -e {release} ]; do sleep 0.1; done; echo done"
    middle = [Firework(ScriptTask.from_str(wait), name=f"task_{i}") for i in range(N_MIDDLE)]
    join = Firework(ScriptTask.from_str("echo join"), name="join")
    return Workflow(
        [prepare, *middle, join], {prepare: middle, **{fw: [join] for fw in middle}}, name="fan"
    )


def test_lpad_reset_and_add_wf_reach_the_wire_server(
    launchpad_file: Path, fw_config: Path, tmp_path: Path
) -> None:
    env = fw_env(fw_config)
    lpad = ["-l", str(launchpad_file)]
    run_tool("lpad", [*lpad, "reset", "--password", _today()], env, tmp_path)
    workflow_file = tmp_path / "wf.yaml"
    _fan_out(tmp_path / "release").to_file(str(workflow_file))
    run_tool("lpad", [*lpad, "add", str(workflow_file)], env, tmp_path)
    output = run_tool("lpad", [*lpad, "get_wflows", "-d", "count"], env, tmp_path)
    assert output.strip().splitlines()[-1] == "1"
    launchpad = LaunchPad.from_file(str(launchpad_file))
    assert launchpad.fireworks.count_documents({}) == N_MIDDLE + 2


def test_three_concurrent_workers_run_every_firework_exactly_once(
    launchpad_file: Path, fw_config: Path, tmp_path: Path
) -> None:
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    release = tmp_path / "release"
    launchpad.add_wf(_fan_out(release))
    env = fw_env(fw_config)
    workers = []
    for index in range(N_WORKERS):
        folder = tmp_path / f"worker_{index}"
        folder.mkdir()
        fworker = write_fworker(folder / "fworker.yaml", f"worker_{index}")
        args = ["-l", str(launchpad_file), "-w", str(fworker), "rapidfire", "--sleep", "1"]
        workers.append(start_tool("rlaunch", args, env, folder, folder / "rlaunch.log"))
    try:
        # Each rlaunch runs one Firework at a time, so three RUNNING at once means three
        # workers pulled from the shared queue concurrently.
        wait_for(
            lambda: launchpad.fireworks.count_documents({"state": "RUNNING"}) == N_WORKERS,
            timeout=90,
            what="three Fireworks running at once",
        )
        release.touch()
        for worker in workers:
            worker.wait(timeout=120)
    finally:
        for worker in workers:
            kill_group(worker)
    assert set(fw_states(launchpad).values()) == {"COMPLETED"}
    launches = launches_per_firework(launchpad)
    assert len(launches) == N_MIDDLE + 2
    assert set(launches.values()) == {1}, f"launches per Firework: {dict(launches)}"
    workers_used = {doc["fworker"]["name"] for doc in launchpad.launches.find({})}
    assert workers_used == {f"worker_{i}" for i in range(N_WORKERS)}


def test_a_worker_killed_mid_firework_is_found_and_its_rerun_completes(
    launchpad_file: Path, fw_config: Path, tmp_path: Path
) -> None:
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    checkpoint = tmp_path / "checkpoint"
    task = ScriptTask({"script": checkpointed_script(checkpoint), "store_stdout": True})
    launchpad.add_wf(Firework(task, name="long"))
    env = fw_env(fw_config)
    lpad = ["-l", str(launchpad_file)]
    worker = start_tool("rlaunch", [*lpad, "singleshot"], env, tmp_path, tmp_path / "rlaunch_1.log")
    try:
        wait_for(checkpoint.exists, timeout=60, what="the task to write its checkpoint")
        assert fw_states(launchpad) == {"long": "RUNNING"}
    finally:
        kill_group(worker, signal.SIGKILL)
    assert worker.returncode == -signal.SIGKILL
    assert fw_states(launchpad) == {"long": "RUNNING"}  # nobody told the database

    # The killed worker no longer pings (every second, see fw_config): after 3 s it is lost.
    wait_for(
        lambda: lost_firework_count(launchpad_file, env, tmp_path, 3) == 1,
        timeout=30,
        what="a lost run",
    )
    output = run_tool("lpad", [*lpad, "detect_lostruns", "--time", "3", "--rerun"], env, tmp_path)
    assert "Lost FireWorks: 1" in output
    assert fw_states(launchpad) == {"long": "READY"}

    run_tool("rlaunch", [*lpad, "singleshot"], env, tmp_path)
    assert fw_states(launchpad) == {"long": "COMPLETED"}
    first, second = launches_of(launchpad, "long")
    assert first["state"] == "FIZZLED"
    assert second["state"] == "COMPLETED"
    assert "resumed from checkpoint" in second["action"]["stored_data"]["stdout"]


def _today() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d")
