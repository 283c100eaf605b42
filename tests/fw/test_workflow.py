"""The submitted workflow: its shape, its routing, and the YAML that `lpad add` reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from fireworks import Workflow

from pyacemaker_fw.config import CampaignConfig, WalkerConfig, load_config
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.env import FIREWORK_KEY
from pyacemaker_fw.fw.workflows import campaign_workflow, write_workflow
from tests.fw.conftest import ROOT, SI_FAST

SHIPPED = ROOT / "workflows" / "si_fast_wf.yaml"
SHIPPED_WORKDIR = Path("/scratch/pyacemaker/si-fast")
EXAMPLE_CHECKOUT = Path("/home/USER/pyacemaker-fw")


def _by_key(workflow: Workflow) -> dict[str, Any]:
    return {fw.spec[FIREWORK_KEY]: fw for fw in workflow.fws}


def test_phases_run_in_order_and_every_walker_feeds_the_final_validation() -> None:
    base = load_config(SI_FAST)
    config = base.model_copy(
        update={
            "md": base.md.model_copy(
                update={
                    "walkers": [WalkerConfig(), WalkerConfig(temperature=1500.0), WalkerConfig()]
                }
            )
        }
    )
    workflow = campaign_workflow(config)
    fws = _by_key(workflow)
    children = {fws[k].fw_id: set(workflow.links[fws[k].fw_id]) for k in fws}
    chain = ["phase1/round0/select", "phase1/round0/surrogate", "phase1/round0/fit"]
    for parent, child in zip(chain, [*chain[1:], "phase1/round0/gate"], strict=True):
        assert children[fws[parent].fw_id] == {fws[child].fw_id}
    walkers = {fws[f"md/walker{i}/segment0000"].fw_id for i in range(3)}
    assert children[fws["phase1/round0/gate"].fw_id] == walkers
    for walker in walkers:
        assert children[walker] == {fws["final/validation"].fw_id}
    assert children[fws["final/validation"].fw_id] == {fws["report"].fw_id}
    assert fws["md/walker1/segment0000"].tasks[0]["walker"]["walker"] == 1


def test_each_firework_is_routed_by_category_with_the_sites_queue_hints() -> None:
    base = load_config(SI_FAST)
    hints = {"dft": {"ntasks": 32, "walltime": "02:00:00"}, "md": {"ntasks": 1}}
    config = base.model_copy(
        update={"fireworks": base.fireworks.model_copy(update={"queueadapter": hints})}
    )
    fws = _by_key(campaign_workflow(config))
    categories = {key: fw.spec["_category"] for key, fw in fws.items()}
    assert categories["phase1/round0/fit"] == "train"
    assert categories["md/walker0/segment0000"] == "md"
    assert categories["phase1/round0/select"] == "light"
    assert fws["md/walker0/segment0000"].spec["_queueadapter"] == {"ntasks": 1}
    assert "_queueadapter" not in fws["phase1/round0/fit"].spec
    # the whole config travels, as JSON, so a worker on another node needs nothing else
    spec_config = fws["report"].spec["campaign"]
    assert CampaignConfig.model_validate(spec_config) == config


def _without_timestamps(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_timestamps(v)
            for k, v in node.items()
            if k not in ("created_on", "updated_on")
        }
    if isinstance(node, list):
        return [_without_timestamps(v) for v in node]
    return node


def test_the_shipped_workflow_yaml_is_what_the_builder_writes(tmp_path: Path) -> None:
    """Run with PYACEMAKER_REGENERATE=1 to rewrite workflows/si_fast_wf.yaml after a change."""
    config = load_config(SI_FAST).model_copy(update={"workdir": SHIPPED_WORKDIR})
    # Paths into this checkout (the held-out set) are written for the example checkout.
    built = write_workflow(config, tmp_path / "wf.yaml").read_text()
    built = built.replace(str(ROOT), str(EXAMPLE_CHECKOUT))
    if os.environ.get("PYACEMAKER_REGENERATE"):
        SHIPPED.write_text(built)
    assert _without_timestamps(yaml.safe_load(built)) == _without_timestamps(
        yaml.safe_load(SHIPPED.read_text())
    )


def test_the_shipped_yaml_loads_into_a_launchpad_with_only_its_first_step_ready() -> None:
    session = EmbeddedLaunchPad()
    session.launchpad.add_wf(Workflow.from_file(str(SHIPPED)))
    ready = list(session.launchpad.fireworks.find({"state": "READY"}))
    assert [fw["spec"][FIREWORK_KEY] for fw in ready] == ["phase1/round0/select"]
    assert session.launchpad.fireworks.count_documents({}) == 7
