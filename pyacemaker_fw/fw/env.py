"""What every FireTask needs from its spec: the campaign config (site values resolved from the
FWorker env, atomate's env_chk), the campaign store, and the campaign's folders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pyacemaker_fw.campaign.layout import CampaignLayout
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.store import CampaignStore
from pyacemaker_fw.site import resolve_site

CONFIG_KEY = "campaign"
"""Spec key of the campaign config (its JSON form)."""
FIREWORK_KEY = "pyacemaker_key"
"""Spec key of a Firework's deterministic identity within its campaign."""


class StoreUnavailable(RuntimeError):
    """A task cannot tell which database holds the campaign store."""


def campaign_config(fw_spec: Mapping[str, Any]) -> CampaignConfig:
    """The campaign config of a Firework, with '>>key<<' site values taken from its FWorker."""
    config = CampaignConfig.model_validate(fw_spec[CONFIG_KEY])
    return resolve_site(config, fw_spec.get("_fw_env"))


def campaign_store(config: CampaignConfig) -> CampaignStore:
    """The store, in the LaunchPad database: the user's MongoDB (``fireworks.launchpad_file``)
    or the embedded LaunchPad of this process."""
    from pyacemaker_fw.fw import embedded

    launchpad_file = config.fireworks.launchpad_file
    if launchpad_file is not None:
        from pyacemaker_fw.fw.launchpad import get_launchpad

        return CampaignStore(get_launchpad(launchpad_file).db, config.name)
    session = embedded.active()
    if session is not None:
        return session.store(config.name)
    raise StoreUnavailable(
        "this task cannot reach the campaign store: set fireworks.launchpad_file in the "
        "campaign config, or '>>launchpad_file<<' there and launchpad_file in the FWorker env"
    )


def layout(config: CampaignConfig) -> CampaignLayout:
    return CampaignLayout(config.workdir.resolve())


def existing_fireworks(store: CampaignStore, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` already name a Firework of this campaign: a task that adds Fireworks
    and runs again (``lpad rerun_fws``) must not add them twice."""
    wanted = list(keys)
    if not wanted:
        return set()
    found = store.db["fireworks"].find(
        {f"spec.{CONFIG_KEY}.name": store.campaign, f"spec.{FIREWORK_KEY}": {"$in": wanted}},
        {f"spec.{FIREWORK_KEY}": 1},
    )
    return {document["spec"][FIREWORK_KEY] for document in found}


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
