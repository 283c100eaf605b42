"""qlaunch through a real SLURM: per-category routing from any launch folder, and scancel."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from fireworks import Firework, LaunchPad, ScriptTask, Workflow

from pyacemaker_fw.launchers import CATEGORIES, LauncherSet, QueueResources, write_launchers
from tests.hpc.conftest import FW_BIN
from tests.hpc.fw_tools import (
    checkpointed_script,
    fw_env,
    fw_states,
    kill_group,
    launches_of,
    lost_firework_count,
    run_tool,
    start_tool,
    submitted_job_id,
    wait_for,
)

# One core per job: the test node has two.
SMALL_JOBS = {category: QueueResources(ntasks=1, walltime="00:10:00") for category in CATEGORIES}


def _site(folder: Path, launchpad_file: Path) -> LauncherSet:
    return write_launchers(folder, launchpad_file, FW_BIN.parent, resources=SMALL_JOBS)


def _job_task(name: str) -> ScriptTask:
    return ScriptTask({"script": f"echo {name} in job $SLURM_JOB_ID", "store_stdout": True})


def _campaign_shaped_workflow() -> Workflow:
    """prepare (light) -> dft_0, dft_1 (dft) and md_0 (md) -> fit (train) -> report (light)."""

    def firework(name: str, category: str) -> Firework:
        return Firework(_job_task(name), name=name, spec={"_category": category})

    prepare, fit, report = (
        firework("prepare", "light"),
        firework("fit", "train"),
        firework("report", "light"),
    )
    middle = [firework("dft_0", "dft"), firework("dft_1", "dft"), firework("md_0", "md")]
    links = {prepare: middle, **{fw: [fit] for fw in middle}, fit: [report]}
    return Workflow([prepare, *middle, fit, report], links, name="routing")


def _qlaunch_args(
    site: LauncherSet, launchpad_file: Path, category: str, launch_dir: Path
) -> list[str]:
    return [
        "-l",
        str(launchpad_file),
        "-w",
        str(site.fworkers[category]),
        "-q",
        str(site.qadapters[category]),
        "--launch_dir",
        str(launch_dir),
    ]


def test_qlaunch_rapidfire_routes_each_category_to_its_fworker_through_slurm(
    launchpad_file: Path, fw_config: Path, slurm_cluster: Any, tmp_path: Path
) -> None:
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    launchpad.add_wf(_campaign_shaped_workflow())
    site = _site(tmp_path / "site", launchpad_file)
    elsewhere = tmp_path / "elsewhere"  # qlaunch's own folder: neither the repo nor the launches
    elsewhere.mkdir()
    env = fw_env(fw_config, {"SLURM_CONF": str(slurm_cluster.conf)})
    launchers = []
    for category in ("light", "dft", "md", "train"):
        launch_dir = tmp_path / "launches" / category
        launch_dir.mkdir(parents=True)
        # 'infinite': a category's qlaunch must wait for work that other categories unlock.
        args = _qlaunch_args(site, launchpad_file, category, launch_dir)
        args += ["rapidfire", "--nlaunches", "infinite", "--sleep", "1"]
        log = elsewhere / f"qlaunch_{category}.log"
        launchers.append(start_tool("qlaunch", args, env, elsewhere, log))
    try:
        wait_for(
            lambda: set(fw_states(launchpad).values()) == {"COMPLETED"},
            timeout=150,
            what="the workflow to complete through SLURM",
        )
    finally:
        for launcher in launchers:
            kill_group(launcher, signal.SIGTERM)
        wait_for(lambda: not slurm_cluster.squeue(), timeout=60, what="the queue to drain")

    for name, category in [("prepare", "light"), ("dft_0", "dft"), ("dft_1", "dft"),
                           ("md_0", "md"), ("fit", "train"), ("report", "light")]:  # fmt: skip
        [launch] = launches_of(launchpad, name)
        assert launch["fworker"]["name"] == f"pyacemaker_{category}", name
        assert launch["fworker"]["category"] == category, name
        assert Path(launch["launch_dir"]).is_relative_to(tmp_path / "launches" / category)
        stdout = launch["action"]["stored_data"]["stdout"]
        assert stdout.startswith(f"{name} in job ") and stdout.split()[-1].isdigit(), stdout


def test_a_slurm_job_cancelled_mid_task_is_found_and_completes_after_rerun(
    launchpad_file: Path, fw_config: Path, slurm_cluster: Any, tmp_path: Path
) -> None:
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    checkpoint = tmp_path / "checkpoint"
    task = ScriptTask({"script": checkpointed_script(checkpoint), "store_stdout": True})
    launchpad.add_wf(Firework(task, name="dft_long", spec={"_category": "dft"}))
    site = _site(tmp_path / "site", launchpad_file)
    env = fw_env(fw_config, {"SLURM_CONF": str(slurm_cluster.conf)})
    lpad = ["-l", str(launchpad_file)]
    launch_dir = tmp_path / "launches"
    launch_dir.mkdir()
    qlaunch = [*_qlaunch_args(site, launchpad_file, "dft", launch_dir), "singleshot"]

    job_id = submitted_job_id(run_tool("qlaunch", qlaunch, env, tmp_path))
    wait_for(checkpoint.exists, timeout=60, what="the job's task to write its checkpoint")
    assert fw_states(launchpad) == {"dft_long": "RUNNING"}
    slurm_cluster.scancel(job_id)
    assert slurm_cluster.wait(job_id) == "CANCELLED"
    assert fw_states(launchpad) == {"dft_long": "RUNNING"}  # the job died without a word

    # Its rocket pinged every second (fw_config) until the cancel: lost after 3 s of silence.
    wait_for(
        lambda: lost_firework_count(launchpad_file, env, tmp_path, 3) == 1,
        timeout=30,
        what="a lost run",
    )
    output = run_tool("lpad", [*lpad, "detect_lostruns", "--time", "3", "--rerun"], env, tmp_path)
    assert "Lost FireWorks: 1" in output
    assert fw_states(launchpad) == {"dft_long": "READY"}

    job_id = submitted_job_id(run_tool("qlaunch", qlaunch, env, tmp_path))
    assert slurm_cluster.wait(job_id) == "COMPLETED"
    assert fw_states(launchpad) == {"dft_long": "COMPLETED"}
    first, second = launches_of(launchpad, "dft_long")
    assert first["state"] == "FIZZLED"
    assert "resumed from checkpoint" in second["action"]["stored_data"]["stdout"]
