"""The campaign with real worker processes on a LaunchPad that several processes share (the
MongoDB-wire server): workers killed with SIGKILL in the middle of a fit, of MD and of pw.x
are found by `lpad detect_lostruns`, and after `--rerun` nothing is lost or done twice."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from ase.build import bulk
from fireworks import LaunchPad, Workflow

from pyacemaker_fw.campaign.datasets import CLUSTER
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.store import LABELLED, CampaignStore
from pyacemaker_fw.fw import fireworks as make
from pyacemaker_fw.fw.env import layout
from tests.fw.conftest import si_fast_config
from tests.hpc.fw_tools import fw_env, kill_group, run_tool, start_tool, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]
LOST_AFTER = 4  # seconds without a ping (PING_TIME_SECS is 1 in these tests)


def _running(launchpad: LaunchPad, name_part: str) -> bool:
    return (
        launchpad.fireworks.count_documents(
            {"state": "RUNNING", "name": {"$regex": re.escape(name_part)}}
        )
        > 0
    )


def _recover(launchpad_file: Path, env: dict[str, str], cwd: Path) -> None:
    time.sleep(LOST_AFTER + 1)
    args = ["-l", str(launchpad_file), "detect_lostruns", "--time", str(LOST_AFTER), "--rerun"]
    output = run_tool("lpad", args, env, cwd)
    [line] = [line for line in output.splitlines() if "Lost FireWorks:" in line]
    assert int(line.split(":")[1]) == 1, output


def test_workers_killed_mid_fit_and_mid_md_resume_without_repeating_work(
    tmp_path: Path, launchpad_file: Path, fw_config: Path
) -> None:
    # No halts (thresholds out of reach) and a long MD in one segment: time to kill it.
    config = si_fast_config(
        tmp_path,
        fireworks={"launchpad_file": str(launchpad_file)},
        thresholds={"threshold_add_train": 1e4, "threshold_call_dft": 1e5, "hard_ceiling": 1e6},
        loop={"total_md_steps": 6000},
        md={"supercell": [3, 3, 3], "restart_interval": 500, "temperature": 900.0},
    )
    env = fw_env(fw_config)
    run_tool("pyacemaker-fw", ["submit", str(tmp_path / "si_fast.yaml")], env, tmp_path)
    launchpad = LaunchPad.from_file(str(launchpad_file))
    rlaunch = ["-l", str(launchpad_file), "rapidfire", "--nlaunches", "infinite", "--sleep", "1"]

    fit_folder = layout(config).fit(1)
    worker = start_tool("rlaunch", rlaunch, env, tmp_path, tmp_path / "worker1.log")
    wait_for(lambda: (fit_folder / "pacemaker.log").is_file(), 300, "the first fit to start")
    time.sleep(2)
    kill_group(worker)
    assert not (fit_folder / "potential.yace").exists(), "the kill came after the fit"
    _recover(launchpad_file, env, tmp_path)

    segment = layout(config).segment(0, 0)
    worker = start_tool("rlaunch", rlaunch, env, tmp_path, tmp_path / "worker2.log")
    wait_for(lambda: (segment / "md.1000.restart.json").is_file(), 600, "MD past step 1000")
    kill_group(worker)
    assert _running(launchpad, "MD walker 0"), "the kill missed the MD"
    _recover(launchpad_file, env, tmp_path)

    worker = start_tool("rlaunch", rlaunch, env, tmp_path, tmp_path / "worker3.log")
    wait_for(lambda: _ended(launchpad), 600, "the campaign to complete")
    kill_group(worker)
    assert _states(launchpad) == {"COMPLETED"}

    store = CampaignStore(launchpad.db, config.name)
    assert [record.version for record in store.potentials()] == [1]
    assert store.potentials()[0].files.yaml.parent == fit_folder  # redone under its version
    # The rerun MD resumed from the newest restart the killed one left, not from step 0.
    logs = sorted(int(path.name.split(".")[1]) for path in segment.glob("lammps.*.log"))
    assert logs[0] == 0 and logs[-1] >= 1000, logs
    [record] = store.records("md_segment")
    assert record["outcome"]["result"]["step"] == 6000


def _states(launchpad: LaunchPad) -> set[str]:
    return {doc["state"] for doc in launchpad.fireworks.find({}, {"state": 1})}


def _ended(launchpad: LaunchPad) -> bool:
    states = _states(launchpad)
    return states == {"COMPLETED"} or "FIZZLED" in states


def _qe_config(tmp_path: Path, launchpad_file: Path) -> CampaignConfig:
    return si_fast_config(
        tmp_path,
        fireworks={"launchpad_file": str(launchpad_file)},
        oracle={
            "dft_engine": "qe",
            "qe": {"ecutwfc": 20.0, "ecutrho": None, "kspacing": 0.15, "kpoint_shift": False},
        },
    )


def test_a_worker_killed_mid_pw_x_repeats_no_finished_dft_job(
    tmp_path: Path, launchpad_file: Path, fw_config: Path
) -> None:
    config = _qe_config(tmp_path, launchpad_file)
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.reset("", require_password=False)
    store = CampaignStore(launchpad.db, config.name)
    cells = []
    for seed in range(3):
        cell = bulk("Si", "diamond", a=5.43)
        cell.rattle(0.02, seed=seed)
        cells.append(cell)
    keys = [f"walker0/it001/cluster{i:02d}" for i in range(3)]
    store.put_structures(cells, CLUSTER, keys, walker=0, iteration=1)
    launchpad.add_wf(Workflow([make.dft_fw(config, keys, "dft/batch", "DFT batch")]))
    env = fw_env(fw_config)
    lpad = ["-l", str(launchpad_file)]

    second = layout(config).dft(keys[1]) / "pw.out"
    worker = start_tool("rlaunch", [*lpad, "singleshot"], env, tmp_path, tmp_path / "w1.log")
    wait_for(second.is_file, 300, "pw.x on the second structure")
    kill_group(worker)
    [first] = store.structure_documents(key=keys[0])
    assert first["status"] == LABELLED
    assert store.count_structures(status=LABELLED) == 1

    _recover(launchpad_file, env, tmp_path)
    run_tool("rlaunch", [*lpad, "singleshot"], env, tmp_path, timeout=600)
    assert _states(launchpad) == {"COMPLETED"}
    [again] = store.structure_documents(key=keys[0])
    assert again["labelled"] == first["labelled"], "the finished pw.x job ran again"
    assert store.count_structures(status=LABELLED) == 3
    energies = [atoms.get_potential_energy() for atoms in store.get_structures(keys)]
    assert max(energies) - min(energies) < 0.5  # three rattled Si2 cells, same scale (eV)
