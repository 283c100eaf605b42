"""The campaign workflow as it is submitted; the loop grows it at run time.

::

    select → surrogate labels → fit → gate → MD walker 0 ─┐
                 (DFT batches join here)        MD walker 1 ─┼→ final validation → report
                                                MD walker … ─┘

Each MD walker's Firework adds, when the potential is unsure, a learning round before itself
and its children (see :mod:`pyacemaker_fw.fw.fireworks`), so the final validation and the
report always come last.
"""

from __future__ import annotations

from pathlib import Path

from fireworks import Firework, Workflow

from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.fw import fireworks as make


def campaign_workflow(config: CampaignConfig) -> Workflow:
    """The whole campaign, ready for ``LaunchPad.add_wf`` (or ``lpad add`` from YAML)."""
    phase1 = make.phase1_chain(config, 0)
    walkers = [make.md_fw(config, WalkerState(walker=i)) for i in range(len(config.md.walkers))]
    final = make.final_validation_fw(config)
    report = make.report_fw(config)
    fireworks: list[Firework] = [*phase1, *walkers, final, report]
    # Explicit ids keep the written workflow the same from one build to the next.
    for number, firework in enumerate(fireworks, start=1):
        firework.fw_id = -number
    links = make.chain_links(phase1)
    links[phase1[-1].fw_id] = [walker.fw_id for walker in walkers]
    for walker in walkers:
        links[walker.fw_id] = [final.fw_id]
    links[final.fw_id] = [report.fw_id]
    return Workflow(
        fireworks,
        links_dict=links,
        name=config.name,
        metadata={"campaign": config.name, "pyacemaker_fw": True},
    )


def write_workflow(config: CampaignConfig, path: Path) -> Path:
    """The workflow as YAML (or JSON, by suffix) for ``lpad add``."""
    campaign_workflow(config).to_file(str(path))
    return path
