"""Phase 1, zero-shot distillation: generate, select, label through the tiers, fit ACE.

1. The combinatorial generator makes a candidate pool (``distillation.pool_size``).
2. Active-set selection keeps ``distillation.n_select`` of them: farthest-point sampling over
   MACE descriptors for the very first potential, D-optimal MaxVol over the B-basis
   projections of an existing ACE potential otherwise.
3. The tiered oracle labels them: MACE where its committee agrees (uncertainty at or below
   ``oracle.tiered.force_spread_threshold``), QE above it, or the structure is dropped
   (``distillation.uncertain_policy``).
4. pacemaker fits an ACE potential from scratch to the labels: the "zero-shot" potential.

Files land in ``workdir``: ``pool.extxyz``, ``selected.extxyz``, ``labelled.extxyz``,
``phase1.json`` (this module's :class:`Phase1Result`) and the fit folder ``ace/``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.io import write
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseGenerator, BaseOracle, BaseTrainer
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord
from pyacemaker_fw.generation.combinatorial import CombinatorialGenerator
from pyacemaker_fw.generation.selection import (
    ActiveSetSelector,
    AtomDescriptor,
    Selection,
    SelectionReport,
    mace_descriptor,
)

log = logging.getLogger(__name__)

POOL_FILE = "pool.extxyz"
SELECTED_FILE = "selected.extxyz"
LABELLED_FILE = "labelled.extxyz"
RESULT_FILE = "phase1.json"
FIT_FOLDER = "ace"


class Phase1Result(BaseModel):
    """What Phase 1 made, how many structures each step kept, and where the files are."""

    model_config = ConfigDict(extra="forbid")

    potential: PotentialRecord
    selection: SelectionReport
    generated: int = Field(..., description="Structures in the candidate pool.")
    labelled_by: dict[str, int] = Field(
        default_factory=dict, description="Training structures per label source (mace, qe, …)."
    )
    dropped: int = Field(0, description="Selected structures the oracle left unlabelled.")
    workdir: Path

    @property
    def training_size(self) -> int:
        return sum(self.labelled_by.values())

    def summary(self) -> str:
        sources = ", ".join(f"{n} {source}" for source, n in sorted(self.labelled_by.items()))
        rmse = self.potential.metrics.force_rmse_train
        fit = f"force RMSE {rmse:.0f} meV/Å (train)" if rmse is not None else "no metrics"
        return (
            f"Phase 1: {self.generated} generated; {self.selection.summary()}; "
            f"labelled {self.training_size} ({sources}), {self.dropped} dropped; "
            f"ACE v{self.potential.version} {fit}"
        )


@dataclass
class Phase1:
    """The four steps, with their engines injected (any generator, oracle, trainer)."""

    config: CampaignConfig
    generator: BaseGenerator
    oracle: BaseOracle
    trainer: BaseTrainer
    descriptor: AtomDescriptor | None = None

    def run(self, workdir: Path, potential: PotentialRecord | None = None) -> Phase1Result:
        """Distil a potential into ``workdir``; with ``potential`` selection uses its basis
        and active set (MaxVol) and the fit stays from scratch."""
        workdir.mkdir(parents=True, exist_ok=True)
        pool = self.generator.generate()
        write(workdir / POOL_FILE, pool)
        selection = self.select(pool, potential.files if potential else None)
        write(workdir / SELECTED_FILE, selection.structures)
        log.info("%s", selection.report.summary())
        labelled = self.oracle.label(selection.structures)
        if not labelled:
            raise RuntimeError("the oracle labelled none of the selected structures")
        write(workdir / LABELLED_FILE, labelled)
        record = self.trainer.train(labelled, workdir / FIT_FOLDER)
        result = Phase1Result(
            potential=record,
            selection=selection.report,
            generated=len(pool),
            labelled_by=_sources(labelled),
            dropped=len(selection.structures) - len(labelled),
            workdir=workdir,
        )
        (workdir / RESULT_FILE).write_text(result.model_dump_json(indent=2))
        log.info("%s", result.summary())
        return result

    def select(self, pool: Sequence[Atoms], potential: PotentialFiles | None) -> Selection:
        selector = ActiveSetSelector(self.config.distillation.n_select)
        return selector.select(pool, potential=potential, descriptor=self.descriptor)


def _sources(structures: Sequence[Atoms]) -> dict[str, int]:
    return dict(Counter(str(atoms.info.get(keys.LABEL_SOURCE, "unknown")) for atoms in structures))


def build_phase1(
    config: CampaignConfig,
    workdir: Path,
    *,
    dft: BaseOracle | None = None,
) -> Phase1:
    """The production wiring: combinatorial generator, MACE committee (descriptors and
    labels), tiered oracle with QE (or ``dft``), pacemaker.

    ``dft`` replaces the QE oracle (tests use a classical reference); with
    ``uncertain_policy='drop'`` no DFT oracle is built at all.
    """
    from pyacemaker_fw.oracles.mace_manager import MACEManager
    from pyacemaker_fw.oracles.tiered import TieredOracle
    from pyacemaker_fw.training.pacemaker import PacemakerTrainer

    distillation = config.distillation
    mace = MACEManager(config.oracle.mace)
    expensive = None
    if distillation.uncertain_policy == "dft":
        expensive = dft or _espresso(config, workdir)
    tiered = TieredOracle(mace, expensive, config.oracle.tiered, distillation.uncertain_policy)
    return Phase1(
        config=config,
        generator=CombinatorialGenerator(config.elements, distillation),
        oracle=tiered,
        trainer=PacemakerTrainer(config.trainer, config.elements, config.loop),
        descriptor=mace_descriptor(mace.calculator),
    )


def _espresso(config: CampaignConfig, workdir: Path) -> BaseOracle:
    from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle

    return EspressoOracle(config.oracle.qe, workdir / "qe", skip_failures=True)
