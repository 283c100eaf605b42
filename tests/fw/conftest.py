"""A small real campaign (workflows/si_fast.yaml: Stillinger-Weber for DFT and MACE)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pyacemaker_fw.config import CampaignConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
SI_FAST = ROOT / "workflows" / "si_fast.yaml"


def si_fast_config(folder: Path, **sections: dict[str, Any]) -> CampaignConfig:
    """si_fast with its campaign folder in ``folder`` and ``sections`` merged over it."""
    data = yaml.safe_load(SI_FAST.read_text())
    data["workdir"] = str(folder / "campaign")
    holdout = data["validation"]["holdout_set"]
    data["validation"]["holdout_set"] = str(SI_FAST.parent / holdout)  # the file stays here
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    path = folder / "si_fast.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def assert_each_child_resumed_where_its_parent_halted(segments: Sequence[dict[str, Any]]) -> None:
    """Consecutive MD segment records of one walker: each child started from its parent's
    halt restart, at the halt step, and its first γ check is that step."""
    for parent, child in itertools.pairwise(segments):
        halted = parent["outcome"]["result"]
        resumed = child["outcome"]["walker"]
        assert halted["status"] == "halted_uncertain"
        assert resumed["restart"] == halted["restart_file"]
        assert resumed["step"] == halted["step"]
        assert child["outcome"]["result"]["trace"][0]["step"] == halted["step"]
