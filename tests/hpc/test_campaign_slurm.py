"""The si_fast campaign with three MD walkers through a real SLURM queue: `pyacemaker-fw
submit`, then `qlaunch rapidfire` with one FWorker per category, until COMPLETED; `status`
from another process while it runs, and the campaign in `lpad webgui`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fireworks import LaunchPad

from pyacemaker_fw.campaign.datasets import CLUSTER, SURROGATE
from pyacemaker_fw.core.store import LABELLED, CampaignStore
from pyacemaker_fw.fw.env import FIREWORK_KEY
from pyacemaker_fw.launchers import CATEGORIES, QueueResources, write_launchers
from tests.fw.conftest import si_fast_config
from tests.hpc.conftest import FW_BIN
from tests.hpc.fw_tools import fw_env, kill_group, run_tool, start_tool, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]
WALKERS = [{"seed": 11}, {"seed": 22, "temperature": 2200.0}, {"seed": 33}]
ONE_CORE = {category: QueueResources(ntasks=1, walltime="00:20:00") for category in CATEGORIES}


class SlurmCampaign:
    def __init__(self, launchpad_file: Path, config_file: Path, name: str) -> None:
        self.launchpad_file = launchpad_file
        self.launchpad = LaunchPad.from_file(str(launchpad_file))
        self.store = CampaignStore(self.launchpad.db, name)
        self.config_file = config_file
        self.status_while_running: dict[str, Any] = {}

    def fireworks(self) -> list[dict[str, Any]]:
        return list(self.launchpad.fireworks.find({}))

    def states(self) -> set[str]:
        return {fw["state"] for fw in self.fireworks()}

    def finished(self) -> bool:
        """Everything completed, or something failed (the test then says what)."""
        states = self.states()
        return states == {"COMPLETED"} or bool(states & {"FIZZLED", "DEFUSED"})

    def progressed(self, versions: int) -> bool:
        return len(self.store.potentials()) >= versions or self.finished()

    def problems(self) -> list[str]:
        fizzled = [fw for fw in self.fireworks() if fw["state"] == "FIZZLED"]
        return [
            str(self.launchpad.launches.find_one({"launch_id": fw["launches"][-1]})["action"])
            for fw in fizzled
        ]


@pytest.fixture(scope="module")
def campaign(
    tmp_path_factory: pytest.TempPathFactory, mongo_uri: str, fw_config: Path, slurm_cluster: Any
) -> Iterator[SlurmCampaign]:
    folder = tmp_path_factory.mktemp("slurm_campaign")
    launchpad_file = folder / "my_launchpad.yaml"
    database = f"campaign_{uuid.uuid4().hex[:10]}"
    launchpad_file.write_text(
        yaml.safe_dump({"host": mongo_uri, "uri_mode": True, "name": database, "logdir": None})
    )
    config = si_fast_config(
        folder,
        fireworks={"launchpad_file": str(launchpad_file)},
        md={"walkers": WALKERS},
        loop={"max_iterations": 4},
    )
    env = fw_env(fw_config, {"SLURM_CONF": str(slurm_cluster.conf)})
    config_file = folder / "si_fast.yaml"
    run_tool("pyacemaker-fw", ["submit", str(config_file)], env, folder)
    site = write_launchers(folder / "site", launchpad_file, FW_BIN.parent, resources=ONE_CORE)
    elsewhere = folder / "qlaunch"  # neither the repository nor the campaign folder
    elsewhere.mkdir()
    launchers = []
    for category in CATEGORIES:
        launches = folder / "launches" / category
        launches.mkdir(parents=True)
        args = ["-l", str(launchpad_file), "-w", str(site.fworkers[category])]
        args += ["-q", str(site.qadapters[category]), "--launch_dir", str(launches)]
        args += ["rapidfire", "--nlaunches", "infinite", "--sleep", "1"]
        log = elsewhere / f"qlaunch_{category}.log"
        launchers.append(start_tool("qlaunch", args, env, elsewhere, log))
    result = SlurmCampaign(launchpad_file, config_file, config.name)
    try:
        wait_for(lambda: result.progressed(2), 900, "a second potential")
        status = subprocess.run(
            [str(FW_BIN / "pyacemaker-fw"), "status", str(config_file), "--json"],
            capture_output=True, text=True, env=env, timeout=120, check=True,
        )  # fmt: skip
        result.status_while_running = json.loads(status.stdout)
        wait_for(result.finished, 1500, "the campaign to complete")
        assert result.states() == {"COMPLETED"}, result.problems()
    finally:
        for launcher in launchers:
            kill_group(launcher, signal.SIGTERM)
        slurm_cluster.scancel(None)
        wait_for(lambda: not slurm_cluster.squeue(), timeout=60, what="the queue to drain")
    yield result


def test_the_campaign_completes_through_slurm_with_every_firework_on_its_category(
    campaign: SlurmCampaign,
) -> None:
    assert campaign.states() == {"COMPLETED"}
    for fw in campaign.fireworks():
        for launch in campaign.launchpad.launches.find({"fw_id": fw["fw_id"]}):
            assert launch["fworker"]["category"] == fw["spec"]["_category"], fw["name"]


def test_each_walker_halts_on_its_own_and_no_halt_holds_up_another_walker(
    campaign: SlurmCampaign,
) -> None:
    segments = campaign.store.records("md_segment")
    for walker in range(len(WALKERS)):
        own = [s for s in segments if s["walker"] == walker]
        assert len(own) >= 2, f"walker {walker} never halted and resumed"
    links = {
        int(parent): children
        for parent, children in campaign.launchpad.workflows.find_one({})["links"].items()
    }
    key_of = {fw["fw_id"]: str(fw["spec"][FIREWORK_KEY]) for fw in campaign.fireworks()}
    for fw_id, key in key_of.items():
        if not key.endswith("/cutout"):
            continue
        walker = key.split("/")[0]
        later = _descendants(links, fw_id)
        later_md = {key_of[i] for i in later if key_of[i].startswith("md/")}
        assert all(md.startswith(f"md/{walker}/") for md in later_md), (key, later_md)


def _descendants(links: dict[int, list[int]], start: int) -> set[int]:
    found: set[int] = set()
    todo = list(links.get(start, []))
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo.extend(links.get(node, []))
    return found


def test_fits_never_branch_and_every_label_is_learnt_by_exactly_one_fit(
    campaign: SlurmCampaign,
) -> None:
    records = campaign.store.potentials()
    assert [record.version for record in records] == list(range(1, len(records) + 1))
    assert all(r.parent_version == r.version - 1 for r in records[1:])
    labelled = campaign.store.structure_documents(
        dataset={"$in": [CLUSTER, SURROGATE]}, status=LABELLED
    )
    fit_keys = {d["fit_key"] for d in campaign.launchpad.db["potentials"].find({})}
    assert labelled and all(d["trained_in"] in fit_keys for d in labelled)
    # Every walker resumed on a potential at least as new as the one its own round made.
    for segment in campaign.store.records("md_segment"):
        walker_state = segment["outcome"]["walker"]
        if walker_state["iteration"] == 0:
            continue
        round_key = f"walker{walker_state['walker']}/it{walker_state['iteration']:03d}"
        made = campaign.launchpad.db["potentials"].find_one({"fit_key": round_key})
        if made is not None:  # the round's data may have gone into another walker's fit
            assert segment["potential"] >= made["version"]


def test_status_worked_from_another_process_while_the_campaign_ran(
    campaign: SlurmCampaign,
) -> None:
    status = campaign.status_while_running
    assert {"iterations", "dft_calls", "fireworks", "potential_versions", "md_steps"} <= set(status)
    assert len(status["potential_versions"]) >= 2
    assert status["iterations"] >= 1
    assert sum(status["fireworks"].values()) >= 8


def test_lpad_webgui_shows_the_campaigns_fireworks_in_chromium(
    campaign: SlurmCampaign, fw_config: Path, tmp_path: Path
) -> None:
    from tests.hpc.test_webgui import (
        CHROMIUM,
        CHROMIUM_FLAGS,
        FW_LINK,
        SCREENSHOT_DIR_VARIABLE,
        _answers,
        _fetch,
        _free_port,
    )

    port = _free_port()
    args = ["-l", str(campaign.launchpad_file), "webgui", "--server_mode", "--nworkers", "1"]
    server = start_tool(
        "lpad", [*args, "--port", str(port)], fw_env(fw_config), tmp_path, tmp_path / "gui.log"
    )
    url = f"http://127.0.0.1:{port}/"
    browser = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    screenshot = tmp_path / "campaign_webgui.png"
    try:
        wait_for(lambda: _answers(url), timeout=60, what="lpad webgui to answer")
        assert "si-fast" in _fetch(url)
        dom = subprocess.run(
            [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        subprocess.run(
            [*browser, f"--screenshot={screenshot}", "--window-size=1280,900", url],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    finally:
        kill_group(server)
    shown = {name: state for state, name in FW_LINK.findall(dom)}
    assert any("MD walker 2" in name for name in shown)
    assert any("DFT walker" in name for name in shown)
    assert set(shown.values()) == {"COMPLETED"}
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get(SCREENSHOT_DIR_VARIABLE)
    if keep:
        shutil.copy(screenshot, Path(__file__).resolve().parents[2] / keep / screenshot.name)
