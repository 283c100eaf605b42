"""A gate that fails: one detour through more Phase 1 data, then a stop with its reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyacemaker_fw.cli import app
from pyacemaker_fw.core.store import CampaignStore
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.env import FIREWORK_KEY, layout
from tests.fw.conftest import si_fast_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_a_failing_gate_asks_for_more_data_once_then_stops_with_its_reasons(
    tmp_path: Path,
) -> None:
    # No fitted potential meets a 1e-6 relative tolerance on V0: the gate must fail.
    config = si_fast_config(
        tmp_path,
        validation={"eos_volume_tolerance": 1e-6, "on_failure": "more_data", "max_more_data": 1},
        distillation={"pool_size": 20, "n_select": 6},
        trainer={"max_iterations": 30},
    )
    result = CliRunner().invoke(app, ["run", str(tmp_path / "si_fast.yaml"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "stopped at the validation gate" in result.output
    assert "validation gate of v2 failed: [FAILED] eos.V0" in result.output

    session = EmbeddedLaunchPad(layout(config).launchpad_snapshot, read_only=True)
    states = {fw["spec"][FIREWORK_KEY]: fw["state"] for fw in session.launchpad.fireworks.find({})}
    assert states["phase1/round0/gate"] == "COMPLETED"  # it asked for more data
    assert states["phase1/round1/select"] == "COMPLETED"
    assert states["phase1/round1/gate"] == "COMPLETED"  # it stopped the campaign
    assert states["md/walker0/segment0000"] == "DEFUSED"
    assert states["report/stopped"] == "COMPLETED"
    assert "phase1/round2/select" not in states

    store = CampaignStore(session.db, config.name)
    first, second = store.potentials()
    assert (first.version, first.mode, second.version, second.mode) == (
        1,
        "scratch",
        2,
        "scratch",
    )
    # round 1 was selected by MaxVol against v1 and v2 was fitted on both rounds
    assert len(second.dataset_ids) > len(first.dataset_ids)
    page = (layout(config).report / "index.html").read_text()
    assert "the validation gate failed" in page and "eos.V0" in page
