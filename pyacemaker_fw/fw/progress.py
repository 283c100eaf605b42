"""Progress of an embedded run: one bar per kind of work, and a line per Firework."""

from __future__ import annotations

from typing import Any

from pyacemaker_fw.campaign.datasets import CLUSTER
from pyacemaker_fw.campaign.summary import dft_calls, md_steps
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.runner import FireworkRun


class ProgressBars:
    """Bars for MD steps, DFT labels, fits and Fireworks, refreshed after every Firework."""

    def __init__(self, config: CampaignConfig, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.config = config
        total_md = config.loop.total_md_steps * len(config.md.walkers)
        options: dict[str, Any] = {"disable": not enabled, "dynamic_ncols": True, "leave": True}
        self.fireworks = tqdm(desc="Fireworks ", unit="fw", position=0, **options)
        self.md = tqdm(desc="MD steps  ", total=total_md, unit="step", position=1, **options)
        self.dft = tqdm(desc="DFT labels", unit="label", position=2, **options)
        self.fits = tqdm(desc="ACE fits  ", unit="fit", position=3, **options)
        self.write = tqdm.write if enabled else (lambda _line: None)

    def __call__(self, run: FireworkRun, session: EmbeddedLaunchPad) -> None:
        store = session.store(self.config.name)
        launchpad = session.launchpad
        self.fireworks.total = launchpad.fireworks.count_documents({})
        self._set(self.fireworks, launchpad.fireworks.count_documents({"state": "COMPLETED"}))
        self._set(self.md, sum(md_steps(store).values()))
        requested = store.count_structures(uncertain=True) + store.count_structures(dataset=CLUSTER)
        self.dft.total = max(dft_calls(store), requested)
        self._set(self.dft, dft_calls(store))
        self._set(self.fits, len(store.potentials()))
        self.write(f"{run.state:<10} {run.name} ({run.seconds:.0f} s)")

    @staticmethod
    def _set(bar: Any, value: int) -> None:
        bar.n = value
        bar.refresh()

    def close(self) -> None:
        for bar in (self.fireworks, self.md, self.dft, self.fits):
            bar.close()
