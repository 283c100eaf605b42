"""One constructor per kind of Firework, and the Fireworks that the loop's decisions add.

Every Firework carries, in its spec, the campaign config (``campaign``), a deterministic key
(``pyacemaker_key``), its ``_category`` (``dft``, ``md``, ``train`` or ``light``: a site runs
one FWorker per category, so DFT goes to CPU nodes and fine-tuning to a GPU node) and the
category's ``_queueadapter`` hints from ``fireworks.queueadapter``.

Uncertainty adds Fireworks as **detours**: they are inserted between the Firework that found
the need and its children, so the final validation and the report, the children of the last
MD Firework, wait for every round the loop adds, however many that turns out to be.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from fireworks import FiretaskBase, Firework, FWAction, Workflow

from pyacemaker_fw.campaign.datasets import round_key
from pyacemaker_fw.campaign.loop import Gate, MDDecision, Next, SegmentOutcome
from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig, Category, dump_config
from pyacemaker_fw.core.store import CampaignStore
from pyacemaker_fw.fw import tasks
from pyacemaker_fw.fw.env import CONFIG_KEY, FIREWORK_KEY, existing_fireworks


def firework(
    config: CampaignConfig,
    task: FiretaskBase,
    category: Category,
    key: str,
    name: str,
    **spec: Any,
) -> Firework:
    """A Firework of the campaign: its config, key, category and queue hints in the spec."""
    full_spec: dict[str, Any] = {
        CONFIG_KEY: dump_config(config),
        FIREWORK_KEY: key,
        "_category": category,
        **spec,
    }
    hints = config.fireworks.queueadapter.get(category)
    if hints:
        full_spec["_queueadapter"] = dict(hints)
    return Firework([task], spec=full_spec, name=f"{config.name}: {name}")


# --- Phase 1 and 2 --------------------------------------------------------------------------
def select_fw(config: CampaignConfig, round_: int) -> Firework:
    task = tasks.SelectCandidatesTask(round=round_)
    return firework(config, task, "light", f"phase1/round{round_}/select", f"select r{round_}")


def surrogate_label_fw(config: CampaignConfig, round_: int) -> Firework:
    task = tasks.SurrogateLabelTask(round=round_)
    name = f"surrogate labels r{round_}"
    return firework(config, task, "light", f"phase1/round{round_}/surrogate", name)


def dft_fw(config: CampaignConfig, keys: Sequence[str], key: str, name: str) -> Firework:
    return firework(config, tasks.DFTLabelTask(keys=list(keys)), "dft", key, name)


def fit_fw(config: CampaignConfig, round_: int) -> Firework:
    task = tasks.FitTask(round=round_)
    return firework(config, task, "train", f"phase1/round{round_}/fit", f"fit ACE r{round_}")


def gate_fw(config: CampaignConfig, round_: int) -> Firework:
    task = tasks.ValidateTask(round=round_)
    return firework(config, task, "light", f"phase1/round{round_}/gate", f"gate r{round_}")


def phase1_chain(config: CampaignConfig, round_: int) -> list[Firework]:
    """Select, surrogate-label, fit and gate one Phase 1 round (DFT batches join at run time)."""
    return [
        select_fw(config, round_),
        surrogate_label_fw(config, round_),
        fit_fw(config, round_),
        gate_fw(config, round_),
    ]


def phase1_dft_batches(
    config: CampaignConfig, store: CampaignStore, round_: int, keys: Sequence[str]
) -> list[Firework]:
    """One DFT Firework per ``distillation.dft_batch_size`` uncertain structures."""
    size = config.distillation.dft_batch_size
    batches = [list(keys[i : i + size]) for i in range(0, len(keys), size)]
    fireworks = [
        dft_fw(config, batch, f"phase1/round{round_}/dft{n:03d}", f"DFT r{round_} batch {n}")
        for n, batch in enumerate(batches)
    ]
    return _new_only(store, fireworks)


def action_after_gate(
    config: CampaignConfig,
    store: CampaignStore,
    gate: Gate,
    round_: int,
    summary: dict[str, Any],
) -> FWAction:
    """PASS: on to the MD. MORE_DATA: a detour through another Phase 1 round. STOP: the
    children are defused and a report explains why."""
    stored = {"gate": gate.value, **summary}
    if gate == Gate.PASS:
        return FWAction(stored_data=stored)
    if gate == Gate.MORE_DATA:
        return FWAction(
            stored_data=stored, detours=_chained(store, phase1_chain(config, round_ + 1))
        )
    reason = "the validation gate failed: " + "; ".join(summary.get("failures", []))
    report = report_fw(config, key="report/stopped", reason=reason)
    return FWAction(stored_data=stored, defuse_children=True, additions=_new_only(store, [report]))


# --- Phases 3 and 4 -------------------------------------------------------------------------
def md_fw(config: CampaignConfig, walker: WalkerState) -> Firework:
    task = tasks.MDTask(walker=walker.model_dump(mode="json"))
    name = f"MD walker {walker.walker} segment {walker.segment} from step {walker.step}"
    return firework(config, task, "md", f"md/{walker.key}", name)


def learning_round(
    config: CampaignConfig, decision: MDDecision, outcome: SegmentOutcome
) -> list[Firework]:
    """Cutout (which adds one DFT Firework per cluster), fine-tuning, surrogate data, the ACE
    update and the MD that resumes from the restart, in that order."""
    assert decision.resume is not None and decision.frame is not None
    walker, iteration = decision.resume.walker, decision.resume.iteration
    key = round_key(walker, iteration)
    gamma_frame = outcome.result.frame_file or decision.frame
    args = {"walker": walker, "iteration": iteration}
    cutout = tasks.CutoutTask(frame=str(decision.frame), gamma_frame=str(gamma_frame), **args)
    chain = [firework(config, cutout, "light", f"{key}/cutout", f"cutout {key}")]
    if config.oracle.surrogate_engine == "mace" and config.loop.finetune_mace:
        task = tasks.FinetuneSurrogateTask(**args)
        chain.append(firework(config, task, "train", f"{key}/finetune", f"fine-tune MACE {key}"))
    if config.loop.surrogates_per_structure > 0:
        task = tasks.SurrogateDataTask(**args)
        chain.append(firework(config, task, "light", f"{key}/surrogates", f"surrogates {key}"))
    update = tasks.UpdatePotentialTask(**args)
    chain.append(firework(config, update, "train", f"{key}/update", f"update ACE {key}"))
    chain.append(md_fw(config, decision.resume))
    return chain


def cluster_dft(
    config: CampaignConfig, store: CampaignStore, keys: Sequence[str]
) -> list[Firework]:
    """One DFT Firework per cluster, run in parallel."""
    fireworks = [dft_fw(config, [key], f"dft/{key}", f"DFT {key}") for key in keys]
    return _new_only(store, fireworks)


def action_after_md(
    config: CampaignConfig, store: CampaignStore, decision: MDDecision, outcome: SegmentOutcome
) -> FWAction:
    """The Fireworks that carry the walker on, as the loop decided."""
    result = outcome.result
    stored = {
        "decision": decision.next.value,
        "reason": decision.reason,
        "status": result.status.value,
        "step": result.step,
    }
    if decision.next == Next.END:
        return FWAction(stored_data=stored)
    if decision.next == Next.LEARN:
        return FWAction(
            stored_data=stored, detours=_chained(store, learning_round(config, decision, outcome))
        )
    assert decision.resume is not None  # CONTINUE and RETRY resume the walker
    return FWAction(stored_data=stored, detours=_new_only(store, [md_fw(config, decision.resume)]))


# --- the end --------------------------------------------------------------------------------
def final_validation_fw(config: CampaignConfig) -> Firework:
    task = tasks.ValidateTask(round=0, final=True)
    # A walker that failed must not keep the others' results from being validated.
    return firework(
        config, task, "light", "final/validation", "final validation", _allow_fizzled_parents=True
    )


def report_fw(config: CampaignConfig, key: str = "report", reason: str | None = None) -> Firework:
    task = tasks.ReportTask(reason=reason) if reason else tasks.ReportTask()
    return firework(config, task, "light", key, "report", _allow_fizzled_parents=True)


# --- helpers --------------------------------------------------------------------------------
def _new_only(store: CampaignStore, fireworks: list[Firework]) -> list[Firework]:
    """``fireworks`` less those a previous run of the same task already added."""
    known = existing_fireworks(store, [fw.spec[FIREWORK_KEY] for fw in fireworks])
    return [fw for fw in fireworks if fw.spec[FIREWORK_KEY] not in known]


def _chained(store: CampaignStore, fireworks: list[Firework]) -> list[Workflow]:
    """``fireworks`` as one chain, unless a previous run of the same task added it already."""
    fresh = _new_only(store, fireworks)
    if len(fresh) != len(fireworks):
        return []
    return [chain(fireworks)]


def chain_links(fireworks: Sequence[Firework]) -> dict[int, list[int]]:
    """Links that run ``fireworks`` one after the other."""
    return {parent.fw_id: [child.fw_id] for parent, child in itertools.pairwise(fireworks)}


def chain(fireworks: list[Firework]) -> Workflow:
    return Workflow(fireworks, links_dict=chain_links(fireworks))
