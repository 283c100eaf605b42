"""The si_fast campaign end to end on the embedded LaunchPad, with real engines (LAMMPS,
pacemaker, Stillinger-Weber labels, cutouts), interrupted by a kill -9 and resumed."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from pyacemaker_fw.cli import app
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.store import LABELLED, CampaignStore
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.env import FIREWORK_KEY, layout
from pyacemaker_fw.fw.runner import run_embedded
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from tests.fw.conftest import assert_each_child_resumed_where_its_parent_halted, si_fast_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]


class Campaign:
    def __init__(self, config: CampaignConfig, killed_in: str) -> None:
        self.config = config
        self.killed_in = killed_in
        self.session = EmbeddedLaunchPad(layout(config).launchpad_snapshot, read_only=True)
        self.store = CampaignStore(self.session.db, config.name)

    def fireworks(self) -> list[dict[str, Any]]:
        return list(self.session.launchpad.fireworks.find({}))

    def keys(self) -> list[str]:
        return [str(fw["spec"][FIREWORK_KEY]) for fw in self.fireworks()]


def _kill_mid_fit(config_file: Path, fit_folder: Path) -> None:
    """Start `pyacemaker-fw run` and SIGKILL it while pacemaker fits the first potential."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_USE_LEGACY_KERAS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pyacemaker_fw.cli", "run", str(config_file), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not (fit_folder / "pacemaker.log").is_file():
        assert process.poll() is None, "the run ended before the fit started"
        assert time.monotonic() < deadline, "the fit never started"
        time.sleep(0.2)
    time.sleep(2.0)  # well inside the fit
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    folder = tmp_path_factory.mktemp("si_fast")
    config = si_fast_config(folder)
    fit_folder = layout(config).fit(1)
    _kill_mid_fit(folder / "si_fast.yaml", fit_folder)
    assert not (fit_folder / "potential.yace").exists(), "the kill came after the fit"
    summary = run_embedded(config)
    assert summary.rerun, "the interrupted fit was not found RUNNING"
    assert summary.complete, summary.states
    return Campaign(config, killed_in="fit ACE r0")


def test_every_firework_completed_and_uncertainty_triggered_at_least_twice(
    campaign: Campaign,
) -> None:
    states = {fw["state"] for fw in campaign.fireworks()}
    assert states == {"COMPLETED"}
    assert len(campaign.store.records("learning_round")) >= 2
    assert len(campaign.keys()) == len(set(campaign.keys())), "a Firework was added twice"


def test_each_halt_added_a_cutout_one_dft_firework_per_cluster_and_an_update(
    campaign: Campaign,
) -> None:
    keys = set(campaign.keys())
    for record in campaign.store.records("cutout"):
        clusters = list(record["keys"])
        assert clusters
        assert {f"dft/{key}" for key in clusters} <= keys
        assert f"{record['key']}/update" in keys
        assert f"{record['key']}/surrogates" in keys
    cutouts = len(campaign.store.records("cutout"))
    assert cutouts == len(campaign.store.records("learning_round"))


def test_each_child_md_continues_from_the_restart_and_step_its_parent_halted_at(
    campaign: Campaign,
) -> None:
    segments = campaign.store.records("md_segment")
    assert len(segments) >= 3
    assert_each_child_resumed_where_its_parent_halted(segments)
    for parent, child in itertools.pairwise(segments):
        assert child["potential"] > parent["potential"], "the child ran on the old potential"
        # The child's first check is the halt configuration itself, seen by the new potential:
        # what was learnt from its clusters makes it less of an extrapolation.
        first = child["outcome"]["result"]["trace"][0]
        assert first["gamma_max"] < parent["outcome"]["result"]["trace"][-1]["gamma_max"]


def test_every_dft_label_is_in_the_store_and_is_the_reference_oracles_label(
    campaign: Campaign,
) -> None:
    clusters = campaign.store.structure_documents(dataset="cluster")
    assert clusters and all(document["status"] == LABELLED for document in clusters)
    stored = campaign.store.get_structures([clusters[0]["key"]])[0]
    (fresh,) = stillinger_weber_si().label([stored])
    assert stored.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(stored.get_forces(), fresh.get_forces(), atol=1e-6)
    assert campaign.store.count_structures(dataset="surrogate", status=LABELLED) > 0


def test_potential_versions_run_one_to_n_each_with_its_parent(campaign: Campaign) -> None:
    records = campaign.store.potentials()
    assert [record.version for record in records] == list(range(1, len(records) + 1))
    assert records[0].parent_version is None and records[0].mode == "scratch"
    for previous, record in itertools.pairwise(records):
        assert record.parent_version == previous.version and record.mode == "incremental"
        assert record.files.asi is not None and record.files.asi.is_file()
    # the interrupted fit was redone under the version it had claimed, in the same folder
    assert records[0].files.yaml.parent == layout(campaign.config).fit(1)


def test_the_learning_curve_falls_on_the_liquid_the_loop_learnt(campaign: Campaign) -> None:
    """Phase 1 saw only crystals; the rounds taught the potential the melt that si_fast's MD
    makes, so its error on held-out liquid frames (Stillinger-Weber labels) must drop."""
    documents = sorted(
        campaign.store.db["potentials"].find({"campaign": campaign.config.name}),
        key=lambda document: document["version"],
    )
    errors = [document["holdout"]["force_rmse"] for document in documents]
    assert all(document["holdout"]["structures"] == 6 for document in documents)
    assert errors[-1] < 0.8 * errors[0], errors


def test_status_json_and_the_report(campaign: Campaign, tmp_path: Path) -> None:
    config_file = Path(campaign.config.workdir).parent / "si_fast.yaml"
    result = CliRunner().invoke(app, ["status", str(config_file), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["fireworks"] == {"COMPLETED": len(campaign.fireworks())}
    assert status["iterations"] == len(campaign.store.records("learning_round"))
    assert status["dft_calls"] >= status["iterations"]
    assert len(status["potential_versions"]) == len(campaign.store.potentials())
    assert status["md_steps"]["walker0"] > 0
    report = layout(campaign.config).report
    page = (report / "index.html").read_text()
    for plot in ("gamma.png", "dft_calls.png", "force_rmse.png"):
        assert (report / plot).is_file() and plot in page
    assert "lattice constant" in page and "eos.V0" in page  # every gate check, with values
    newest = campaign.store.potentials()[-1]
    assert (report / "potential" / newest.files.yace.name).is_file()  # type: ignore[union-attr]


def test_a_rerun_dft_firework_and_everything_after_it_repeat_no_work(
    campaign: Campaign, tmp_path: Path
) -> None:
    import shutil

    copy = campaign.config.model_copy(update={"workdir": tmp_path / "campaign"})
    shutil.copytree(campaign.config.workdir, copy.workdir)
    snapshot = layout(copy).launchpad_snapshot
    snapshot.write_text(
        snapshot.read_text().replace(str(campaign.config.workdir), str(copy.workdir))
    )
    session = EmbeddedLaunchPad(snapshot)
    store = CampaignStore(session.db, copy.name)
    labelled_before = {
        d["key"]: d["labelled"] for d in store.structure_documents(dataset="cluster")
    }
    versions_before = len(store.potentials())
    [dft] = session.launchpad.get_fw_ids({f"spec.{FIREWORK_KEY}": {"$regex": "^dft/"}}, limit=1)
    session.launchpad.rerun_fw(dft)
    session.save()
    summary = run_embedded(copy)
    assert summary.complete and len(summary.launched) > 3
    after = EmbeddedLaunchPad(snapshot, read_only=True)
    store = CampaignStore(after.db, copy.name)
    clusters = store.structure_documents(dataset="cluster")
    labelled_after = {document["key"]: document["labelled"] for document in clusters}
    assert labelled_after == labelled_before, "a finished DFT job ran again"
    assert len(store.potentials()) == versions_before
    keys = [fw["spec"][FIREWORK_KEY] for fw in after.launchpad.fireworks.find({})]
    assert len(keys) == len(set(keys))
