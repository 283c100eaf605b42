"""The campaign's oracles, built from its config: who labels what, in which role.

Two roles (``oracle.dft_engine`` and ``oracle.surrogate_engine``):

- the **DFT** oracle labels what the surrogate cannot vouch for, and every cutout cluster:
  Quantum ESPRESSO in production, or a classical reference standing in for it in tests and
  quick demos (Stillinger–Weber silicon, EMT);
- the **surrogate** labels the bulk of Phase 1, relaxes cluster buffers and labels surrogate
  data: the MACE models of ``oracle.mace`` (a committee gives uncertainties), or a classical
  reference.

Everything here expects a config whose site values are resolved
(:func:`pyacemaker_fw.site.resolve_site`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ase.calculators.calculator import Calculator

from pyacemaker_fw.config import CampaignConfig, MACEConfig
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.oracles.reference import CalculatorOracle, emt_oracle, stillinger_weber_si

REFERENCES: dict[str, Callable[[], CalculatorOracle]] = {
    "stillinger_weber": stillinger_weber_si,
    "emt": emt_oracle,
}


def dft_oracle(config: CampaignConfig, workdir: Path) -> BaseOracle:
    """The DFT-role oracle, writing its runs under ``workdir``.

    A QE oracle refuses (raises) rather than return a label it cannot vouch for; callers that
    label batches skip and record such structures one by one.
    """
    engine = config.oracle.dft_engine
    if engine == "qe":
        from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle

        return EspressoOracle(config.oracle.qe, workdir)
    return REFERENCES[engine]()


def surrogate_oracle(config: CampaignConfig, models: list[str] | None = None) -> BaseOracle:
    """The surrogate: MACE on ``models`` (default ``oracle.mace.model_paths``), or a reference."""
    engine = config.oracle.surrogate_engine
    if engine == "mace":
        from pyacemaker_fw.oracles.mace_manager import MACEManager

        return MACEManager(_mace_config(config.oracle.mace, models))
    return REFERENCES[engine]()


def surrogate_calculator(config: CampaignConfig, models: list[str] | None = None) -> Calculator:
    """An ASE calculator of the surrogate (one MACE model is enough), for relaxations."""
    if config.oracle.surrogate_engine == "mace":
        from pyacemaker_fw.extraction.relaxation import default_relaxer

        return default_relaxer(_mace_config(config.oracle.mace, models))
    return REFERENCES[config.oracle.surrogate_engine]().calculator


def _mace_config(mace: MACEConfig, models: list[str] | None) -> MACEConfig:
    return mace if models is None else mace.model_copy(update={"model_paths": list(models)})
