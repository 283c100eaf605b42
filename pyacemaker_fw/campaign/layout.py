"""Where each step of a campaign writes: one deterministic folder per unit of work.

A rerun of a Firework (after a lost worker, or ``lpad rerun_fws``) lands in the same folder
and finds what the first attempt left there: MD restarts, finished pw.x runs, fit outputs.
FireWorks' own launch folders hold only its bookkeeping. On a cluster the campaign folder
must be on storage that every worker sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CampaignLayout:
    root: Path

    def phase1(self, round_: int) -> Path:
        return self.root / "phase1" / f"round{round_}"

    def dft(self, key: str) -> Path:
        """A structure's DFT folder, named after its store key."""
        return self.root / "dft" / key.replace("/", "_")

    def fit(self, version: int) -> Path:
        return self.root / "potentials" / f"v{version:03d}"

    def validation(self, version: int, final: bool = False) -> Path:
        return self.root / "validation" / (f"final_v{version:03d}" if final else f"v{version:03d}")

    def walker(self, walker: int) -> Path:
        return self.root / "md" / f"walker{walker}"

    def segment(self, walker: int, segment: int) -> Path:
        return self.walker(walker) / f"segment{segment:04d}"

    def iteration(self, walker: int, iteration: int) -> Path:
        return self.root / "iterations" / f"walker{walker}_it{iteration:03d}"

    def mace(self, version: int) -> Path:
        return self.root / "mace" / f"v{version:03d}"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def launches(self) -> Path:
        """FireWorks' launch folders (bookkeeping only) in the embedded mode."""
        return self.root / "launches"

    @property
    def launchpad_snapshot(self) -> Path:
        """The embedded LaunchPad's database, kept on disk between runs."""
        return self.root / "launchpad.json"
