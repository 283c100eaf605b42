"""Where a campaign stands, read from its LaunchPad and store (``pyacemaker-fw status``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pyacemaker_fw.campaign.md import disk_use
from pyacemaker_fw.campaign.summary import dft_calls, label_sources, md_steps
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.store import CampaignStore
from pyacemaker_fw.fw.env import CONFIG_KEY, FIREWORK_KEY


class PotentialSummary(BaseModel):
    version: int
    parent: int | None
    mode: str
    force_rmse_train: float | None = Field(None, description="meV/Å")
    force_rmse_test: float | None = Field(None, description="meV/Å")
    holdout_force_rmse: float | None = Field(None, description="meV/Å")


class CampaignStatus(BaseModel):
    """Everything ``status`` prints; ``--json`` prints it as one JSON object."""

    campaign: str
    phase: str
    iterations: int = Field(..., description="Learning rounds started (uncertainty halts).")
    fireworks: dict[str, int] = Field(..., description="Fireworks by state.")
    dft_calls: int
    labelled_by_source: dict[str, int]
    potential_versions: list[PotentialSummary]
    current_potential: int | None
    md_steps: dict[str, int] = Field(..., description="Furthest MD step per walker.")
    last_gamma: list[dict[str, Any]] = Field(
        default_factory=list, description="The newest monitor readings of the newest segment."
    )
    problems: list[str] = Field(default_factory=list, description="Why Fireworks fizzled.")
    disk_bytes: int


def campaign_status(config: CampaignConfig, launchpad: Any, store: CampaignStore) -> CampaignStatus:
    fireworks = list(
        launchpad.fireworks.find(
            {f"spec.{CONFIG_KEY}.name": config.name},
            {"fw_id": 1, "state": 1, "name": 1, f"spec.{FIREWORK_KEY}": 1, "launches": 1},
        )
    )
    potentials = store.potentials()
    return CampaignStatus(
        campaign=config.name,
        phase=_phase(fireworks),
        iterations=len(store.records("learning_round")),
        fireworks=dict(Counter(str(fw["state"]) for fw in fireworks)),
        dft_calls=dft_calls(store),
        labelled_by_source=label_sources(store),
        potential_versions=[_summary(store, record.version) for record in potentials],
        current_potential=potentials[-1].version if potentials else None,
        md_steps={f"walker{walker}": steps for walker, steps in md_steps(store).items()},
        last_gamma=_last_gamma(store),
        problems=_problems(launchpad, fireworks) + _gate_failures(store),
        disk_bytes=disk_use(Path(config.workdir)),
    )


def _phase(fireworks: list[dict[str, Any]]) -> str:
    """The phase of what runs now: a RUNNING Firework, else a READY one, else a WAITING one."""
    if not any(fw["state"] in ("RUNNING", "READY") for fw in fireworks) and any(
        fw["state"] == "DEFUSED" for fw in fireworks
    ):
        return "stopped at the validation gate"
    for state in ("RUNNING", "READY", "WAITING", "FIZZLED"):
        active = [fw for fw in fireworks if fw["state"] == state]
        if active:
            key = str(min(active, key=lambda fw: int(fw["fw_id"]))["spec"][FIREWORK_KEY])
            return next((phase for part, phase in _PHASES if part in key), _LOOP)
    return "done"


_LOOP = "Phases 3-4: MD and learning"
_PHASES = (
    ("/gate", "Phase 2: validation gate"),
    ("phase1", "Phase 1: zero-shot distillation"),
    ("final", "final validation"),
    ("report", "report"),
)


def _summary(store: CampaignStore, version: int) -> PotentialSummary:
    document = store.db["potentials"].find_one({"campaign": store.campaign, "version": version})
    metrics = document.get("metrics", {})
    holdout = (document.get("holdout") or {}).get("force_rmse")
    return PotentialSummary(
        version=version,
        parent=document.get("parent_version"),
        mode=document.get("mode", "?"),
        force_rmse_train=metrics.get("force_rmse_train"),
        force_rmse_test=metrics.get("force_rmse_test"),
        holdout_force_rmse=holdout,
    )


def _last_gamma(store: CampaignStore, count: int = 5) -> list[dict[str, Any]]:
    segments = store.records("md_segment")
    if not segments:
        return []
    newest = max(segments, key=lambda record: record["updated"])
    trace = newest["outcome"]["result"].get("trace", [])
    return [
        {k: check[k] for k in ("step", "gamma_max", "gamma_smoothed", "decision")}
        for check in trace[-count:]
    ]


def _problems(launchpad: Any, fireworks: list[dict[str, Any]]) -> list[str]:
    problems = []
    for fw in fireworks:
        if fw["state"] != "FIZZLED" or not fw.get("launches"):
            continue
        launch = launchpad.launches.find_one({"launch_id": fw["launches"][-1]})
        stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
        exception = stored.get("_exception") or {}
        details = exception.get("_details") or {}
        reason = (
            details.get("reason") or str(exception.get("_stacktrace", "")).strip().splitlines()[-1:]
        )
        problems.append(f"{fw['name']}: {reason if isinstance(reason, str) else ''.join(reason)}")
    return problems


def _gate_failures(store: CampaignStore) -> list[str]:
    return [
        f"validation gate of v{record['version']} failed: " + "; ".join(record["failures"])
        for record in store.records("validation")
        if str(record["key"]).startswith("gate") and not record.get("passed")
    ]
