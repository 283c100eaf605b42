"""The four abstract interfaces of pyacemaker-fw, kept small and pure.

They know nothing of FireWorks, files layouts or any particular code. Implementations live in
the domain packages (``generation``, ``oracles``, ``training``, ``simulation``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from ase import Atoms

from pyacemaker_fw.core.models import MDResult, PotentialFiles, PotentialRecord


class BaseGenerator(ABC):
    """Makes candidate structures."""

    @abstractmethod
    def generate(self) -> list[Atoms]:
        """Return new candidate structures, each with ``info['provenance']``."""


class BaseOracle(ABC):
    """Labels structures with energy, forces and (for periodic cells) stress.

    The caller cannot tell whether a label came from MACE, DFT or a classical reference;
    ``info['label_source']`` records it.
    """

    name: str = "oracle"

    @abstractmethod
    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        """Return labelled copies, in order, with a SinglePointCalculator attached."""


class BaseTrainer(ABC):
    """Fits a potential to labelled structures."""

    @abstractmethod
    def train(
        self,
        structures: Sequence[Atoms],
        workdir: Path,
        previous: PotentialRecord | None = None,
    ) -> PotentialRecord:
        """Fit from scratch, or update ``previous`` when given."""


class BaseEngine(ABC):
    """Runs MD with a potential; holds no learning logic."""

    @abstractmethod
    def run(
        self,
        start: Atoms | Path,
        potential: PotentialFiles,
        workdir: Path,
        steps: int,
    ) -> MDResult:
        """Run ``steps`` MD steps from a structure or from a restart file."""
