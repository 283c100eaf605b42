"""The FireTasks: thin adapters from a Firework spec to one campaign step.

Each task reads its parameters and the campaign config (site values resolved from the FWorker
env), finds its finished work in the store and skips it, calls one step of
:mod:`pyacemaker_fw.campaign`, saves the result with upserts on deterministic keys, and returns
an :class:`FWAction`. What follows a step (the Fireworks it adds) is built by
:mod:`pyacemaker_fw.fw.fireworks` from the decisions of :mod:`pyacemaker_fw.campaign.loop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from fireworks import FiretaskBase, FWAction, explicit_serialize

from pyacemaker_fw.campaign import distill, learn
from pyacemaker_fw.campaign import md as md_steps
from pyacemaker_fw.campaign.datasets import (
    CLUSTER,
    PHASE1,
    SURROGATE,
    cluster_key,
    phase1_key,
    round_key,
    surrogate_key,
)
from pyacemaker_fw.campaign.loop import Gate, MDDecision, Next, SegmentOutcome, after_gate, after_md
from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.store import FAILED, LABELLED, CampaignStore, document_to_atoms
from pyacemaker_fw.fw import fireworks as make
from pyacemaker_fw.fw.env import campaign_config, campaign_store, layout
from pyacemaker_fw.oracles.tiered import is_uncertain
from pyacemaker_fw.training.replay import ReplayBuffer, ReplayState

REPLAY = ("replay", "ace")
ACE_FIT_LOCK = "ace_fit"
SURROGATE_FIT_LOCK = "surrogate_fit"
"""Record kind and key of the ACE replay buffer."""


class CampaignStopped(RuntimeError):
    """The campaign cannot go on; the Firework fizzles with this plain reason."""

    def to_dict(self) -> dict[str, str]:
        # FireWorks stores this under the launch's stored_data._exception._details.
        return {"reason": str(self)}


def _context(fw_spec: dict[str, Any]) -> tuple[CampaignConfig, CampaignStore]:
    config = campaign_config(fw_spec)
    return config, campaign_store(config)


def _surrogate_models(store: CampaignStore) -> list[str] | None:
    """The newest fine-tuned surrogate, or None for the configured models."""
    models = store.records("mace_model")
    if not models:
        return None
    return [max(models, key=lambda record: int(record["version"]))["model"]]


def _surrogate_shifts(store: CampaignStore) -> dict[str, float]:
    """Phase 1's per-element offsets from the surrogate's energy scale to DFT's (newest round)."""
    fits = store.db["potentials"].find(
        {"campaign": store.campaign, "fit_key": {"$regex": "^phase1/"}, "status": "ready"}
    )
    newest = max(fits, key=lambda document: int(document["version"]), default=None)
    return dict((newest or {}).get("energy_shifts") or {})


# --- Phase 1 --------------------------------------------------------------------------------
@explicit_serialize
class SelectCandidatesTask(FiretaskBase):
    """Phase 1: generate a candidate pool and select the structures to label."""

    required_params: ClassVar[list[str]] = ["round"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        round_ = int(self["round"])
        done = store.get_record("phase1_selection", f"round{round_}")
        if done is None:
            latest = store.latest_potential() if round_ > 0 else None
            folder = layout(config).phase1(round_)
            selection = distill.select_candidates(
                config, folder, round_, latest.files if latest else None
            )
            names = [phase1_key(round_, i) for i in range(len(selection.structures))]
            store.put_structures(selection.structures, PHASE1, names, round=round_)
            done = {"report": selection.report.model_dump(mode="json"), "keys": names}
            store.put_record("phase1_selection", f"round{round_}", done)
        return FWAction(stored_data={"selected": len(done["keys"])})


@explicit_serialize
class SurrogateLabelTask(FiretaskBase):
    """Phase 1: the surrogate labels every selected structure; the ones it is unsure about
    go to DFT in parallel batches (detours before the fit)."""

    required_params: ClassVar[list[str]] = ["round"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        round_ = int(self["round"])
        todo = [
            d
            for d in store.structure_documents(dataset=PHASE1, round=round_)
            if "surrogate" not in d
        ]
        structures = [document_to_atoms(d) for d in todo]
        models = _surrogate_models(store)
        labelled = distill.surrogate_labels(config, structures, models) if todo else []
        for document, atoms in zip(todo, labelled, strict=True):
            unsure = is_uncertain(atoms, config.oracle.tiered)
            store.set_surrogate_label(document["key"], atoms, uncertain=unsure)
        unsure_keys = [
            d["key"]
            for d in store.structure_documents(dataset=PHASE1, round=round_, uncertain=True)
            if d["status"] not in (LABELLED, FAILED)
        ]
        to_dft = unsure_keys if config.distillation.uncertain_policy == "dft" else []
        batches = make.phase1_dft_batches(config, store, round_, to_dft)
        stored = {"labelled": len(labelled), "uncertain": len(unsure_keys), "dft": len(to_dft)}
        return FWAction(stored_data=stored, detours=batches)


@explicit_serialize
class DFTLabelTask(FiretaskBase):
    """Label stored structures with the DFT engine, one folder each; structures already
    labelled (or refused) are never run again."""

    required_params: ClassVar[list[str]] = ["keys"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        documents = store.structure_documents(key={"$in": list(self["keys"])})
        todo = [d["key"] for d in documents if d["status"] not in (LABELLED, FAILED)]
        outcome = {"labelled": 0, "failed": 0, "skipped": len(self["keys"]) - len(todo)}

        def save(index: int, atoms: Any, error: str | None) -> None:
            if atoms is not None:
                store.set_label(todo[index], atoms)
                outcome["labelled"] += 1
            else:
                store.mark_failed(todo[index], error or "no label")
                outcome["failed"] += 1

        folders = [layout(config).dft(key) for key in todo]
        distill.dft_labels(config, store.get_structures(todo), folders, save)
        return FWAction(stored_data=outcome)


@explicit_serialize
class FitTask(FiretaskBase):
    """Phase 1: fit ACE from scratch on every Phase 1 round so far (both tiers merged)."""

    required_params: ClassVar[list[str]] = ["round"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        round_ = int(self["round"])
        fit_key = f"phase1/round{round_}"
        record = store.finished_potential(fit_key)
        if record is None:
            documents = store.structure_documents(dataset=PHASE1, round={"$lte": round_})
            training, shifts = distill.phase1_training_set(documents, config)
            version = store.claim_version(fit_key)
            replay = ReplayBuffer.for_loop(config.loop, seed=config.trainer.seed)
            record = learn.fit_potential(
                config, training, layout(config).fit(version), version, None, replay
            )
            store.put_record(*REPLAY, {"state": replay.state().model_dump(mode="json")})
            store.save_potential(record, fit_key)
            store.set_potential_fields(record.version, energy_shifts=shifts)
            _record_holdout(config, store, record)
        return FWAction(
            update_spec={"potential_version": record.version},
            stored_data={"version": record.version, **record.metrics.model_dump()},
        )


# --- Phase 2 --------------------------------------------------------------------------------
@explicit_serialize
class ValidateTask(FiretaskBase):
    """Phase 2: the validation gate (or, with ``final``, the final validation)."""

    required_params: ClassVar[list[str]] = ["round"]
    optional_params: ClassVar[list[str]] = ["final"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        final = bool(self.get("final", False))
        record = store.latest_potential()
        if record is None:
            raise CampaignStopped("no potential to validate")
        key = f"{'final' if final else 'gate'}/v{record.version:03d}"
        saved = store.get_record("validation", key)
        if saved is None:
            folder = layout(config).validation(record.version, final)
            models = _surrogate_models(store)
            report = learn.validate(config, record, folder, models, _surrogate_shifts(store))
            saved = {"version": record.version, "passed": report.passed, **_gate_summary(report)}
            store.put_record("validation", key, {**saved, "report": report.model_dump(mode="json")})
            store.set_potential_fields(record.version, validation=saved)
        if final:
            return FWAction(stored_data=saved)
        gate = after_gate(bool(saved["passed"]), int(self["round"]), config)
        return make.action_after_gate(config, store, gate, int(self["round"]), saved)


def _gate_summary(report: Any) -> dict[str, Any]:
    return {"failures": [check.message() for check in report.failures()]}


# --- Phase 3: MD ----------------------------------------------------------------------------
@explicit_serialize
class MDTask(FiretaskBase):
    """Phase 3: one MD segment of one walker with the newest potential, then the loop's
    decision: continue, learn (cutout, DFT, retrain, resume), retry, end or fail."""

    required_params: ClassVar[list[str]] = ["walker"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        walker = WalkerState.model_validate(self["walker"])
        saved = store.get_record("md_segment", walker.key)
        if saved is None or "outcome" not in saved:
            potential = store.latest_potential()
            if potential is None:
                raise CampaignStopped("no potential to run MD with")
            folder = layout(config).segment(walker.walker, walker.segment)
            outcome = md_steps.run_segment(config, walker, potential.files, folder)
            saved = {"outcome": outcome.model_dump(mode="json"), "potential": potential.version}
            store.put_record("md_segment", walker.key, {**saved, "walker": walker.walker})
        outcome = SegmentOutcome.model_validate(saved["outcome"])
        rounds = [r for r in store.records("learning_round") if r.get("segment") != walker.key]
        decision = after_md(outcome, config, len(rounds))
        _record_decision(store, walker, decision)
        md_steps.prune_segments(
            layout(config).walker(walker.walker), config.cleanup.keep_md_segments
        )
        if decision.next == Next.FAIL:
            raise CampaignStopped(f"walker {walker.walker}: {decision.reason}")
        return make.action_after_md(config, store, decision, outcome)


def _record_decision(store: CampaignStore, walker: WalkerState, decision: MDDecision) -> None:
    store.log_event("md_" + decision.next.value, key=walker.key, reason=decision.reason)
    if decision.next == Next.LEARN and decision.resume is not None:
        store.put_record(
            "learning_round",
            round_key(walker.walker, decision.resume.iteration),
            {"segment": walker.key, "walker": walker.walker, "reason": decision.reason},
        )


# --- Phases 3 and 4: learning ---------------------------------------------------------------
@explicit_serialize
class CutoutTask(FiretaskBase):
    """Phase 3: cut passivated clusters around the uncertain atoms, then one DFT Firework
    per cluster (detours before the retrain)."""

    required_params: ClassVar[list[str]] = ["walker", "iteration", "frame", "gamma_frame"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        walker, iteration = int(self["walker"]), int(self["iteration"])
        record_key = round_key(walker, iteration)
        done = store.get_record("cutout", record_key)
        if done is None:
            clusters = learn.cut_clusters(
                config, Path(self["frame"]), Path(self["gamma_frame"]), _surrogate_models(store)
            )
            names = [cluster_key(walker, iteration, i) for i in range(len(clusters))]
            store.put_structures(clusters, CLUSTER, names, walker=walker, iteration=iteration)
            done = {"keys": names, "atoms": [len(cluster) for cluster in clusters]}
            store.put_record("cutout", record_key, done)
        detours = make.cluster_dft(config, store, list(done["keys"]))
        return FWAction(stored_data={"clusters": len(done["keys"])}, detours=detours)


def _new_dft(store: CampaignStore, walker: int, iteration: int) -> list[Any]:
    return store.get_structures(
        dataset=CLUSTER, walker=walker, iteration=iteration, status=LABELLED
    )


@explicit_serialize
class FinetuneSurrogateTask(FiretaskBase):
    """Phase 4: fine-tune the MACE surrogate on this round's DFT labels plus replayed ones."""

    required_params: ClassVar[list[str]] = ["walker", "iteration"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        walker, iteration = int(self["walker"]), int(self["iteration"])
        key = round_key(walker, iteration)
        with store.lock(SURROGATE_FIT_LOCK, key):
            done = store.get_record("surrogate_finetune", key)
            if done is None:
                done = _finetune(config, store, walker, iteration)
        return FWAction(stored_data={"model": done["model"], "skipped": done["skipped"]})


def _finetune(
    config: CampaignConfig, store: CampaignStore, walker: int, iteration: int
) -> dict[str, Any]:
    version = len(store.records("mace_model")) + 1
    outcome = learn.finetune_surrogate(
        config,
        _surrogate_models(store),
        _new_dft(store, walker, iteration),
        _old_dft(store, walker, iteration),
        layout(config).mace(version),
        _surrogate_shifts(store),
    )
    done = outcome.model_dump(mode="json")
    if outcome.model is not None:
        store.put_record("mace_model", f"v{version:03d}", {"version": version, **done})
    store.put_record("surrogate_finetune", round_key(walker, iteration), done)
    return done


def _old_dft(store: CampaignStore, walker: int, iteration: int) -> list[Any]:
    """Every earlier DFT label (Phase 1 and clusters), for replay during fine-tuning."""
    earlier = store.get_structures(status=LABELLED, dataset={"$in": [PHASE1, CLUSTER]})
    this_round = f"{round_key(walker, iteration)}/"
    return [a for a in earlier if not str(a.info[keys.STRUCTURE_ID]).startswith(this_round)]


@explicit_serialize
class SurrogateDataTask(FiretaskBase):
    """Phase 4: perturbed neighbours of this round's DFT structures, labelled by the
    (fine-tuned) surrogate."""

    required_params: ClassVar[list[str]] = ["walker", "iteration"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        walker, iteration = int(self["walker"]), int(self["iteration"])
        record_key = round_key(walker, iteration)
        done = store.get_record("surrogate_data", record_key)
        if done is None:
            new = _new_dft(store, walker, iteration)
            seed = config.trainer.seed + 1000 * walker + iteration
            made = learn.make_surrogates(config, new, _surrogate_models(store), seed)
            names = [surrogate_key(walker, iteration, i) for i in range(len(made.structures))]
            store.put_structures(
                made.structures, SURROGATE, names, walker=walker, iteration=iteration
            )
            done = {"keys": names, "skipped": made.skipped}
            store.put_record("surrogate_data", record_key, done)
        return FWAction(stored_data={"surrogates": len(done["keys"]), "skipped": done["skipped"]})


@explicit_serialize
class UpdatePotentialTask(FiretaskBase):
    """Phase 4: update ACE from the newest potential on every labelled structure no fit has
    used yet (this round's, and those of walkers that halted at about the same time), with a
    replay sample; a round whose data another fit already took adds no version."""

    required_params: ClassVar[list[str]] = ["walker", "iteration"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        config, store = _context(fw_spec)
        fit_key = round_key(int(self["walker"]), int(self["iteration"]))
        # One fit at a time, each from the newest potential: fits of walkers that halted
        # together must not branch from the same parent.
        with store.lock(ACE_FIT_LOCK, fit_key):
            record = store.finished_potential(fit_key)
            if record is None:
                new = store.claim_untrained(fit_key, [CLUSTER, SURROGATE])
                previous = store.latest_potential()
                if previous is None:
                    raise CampaignStopped("no potential to update")
                if not new:
                    return FWAction(
                        update_spec={"potential_version": previous.version},
                        stored_data={"version": previous.version, "new_structures": 0},
                    )
                record = _update(config, store, fit_key, new, previous)
        return FWAction(
            update_spec={"potential_version": record.version},
            stored_data={"version": record.version, **record.metrics.model_dump()},
        )


def _update(
    config: CampaignConfig, store: CampaignStore, fit_key: str, new: list[Any], previous: Any
) -> Any:
    version = store.claim_version(fit_key)
    saved = store.get_record(*REPLAY)
    replay = (
        ReplayBuffer.from_state(ReplayState.model_validate(saved["state"]))
        if saved is not None
        else ReplayBuffer.for_loop(config.loop, seed=config.trainer.seed)
    )
    record = learn.fit_potential(
        config, new, layout(config).fit(version), version, previous, replay
    )
    store.put_record(*REPLAY, {"state": replay.state().model_dump(mode="json")})
    store.save_potential(record, fit_key)
    _record_holdout(config, store, record)
    return record


def _record_holdout(config: CampaignConfig, store: CampaignStore, record: Any) -> None:
    """The new version's errors on the held-out set, for the learning curve."""
    if config.validation.holdout_set is not None:
        errors = learn.holdout_errors(record, config.validation.holdout_set)
        store.set_potential_fields(record.version, holdout=errors.model_dump())


# --- the end --------------------------------------------------------------------------------
@explicit_serialize
class ReportTask(FiretaskBase):
    """Write the campaign report (``report/index.html`` and its plots)."""

    optional_params: ClassVar[list[str]] = ["reason"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        from pyacemaker_fw.report import write_report

        config, store = _context(fw_spec)
        index = write_report(config, store, layout(config).report, note=self.get("reason"))
        return FWAction(stored_data={"report": str(index)})


__all__ = [
    "CampaignStopped",
    "CutoutTask",
    "DFTLabelTask",
    "FinetuneSurrogateTask",
    "FitTask",
    "Gate",
    "MDTask",
    "ReportTask",
    "SelectCandidatesTask",
    "SurrogateDataTask",
    "SurrogateLabelTask",
    "UpdatePotentialTask",
    "ValidateTask",
]
