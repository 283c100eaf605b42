"""Quantum ESPRESSO (pw.x) under custodian: input builder, job, handlers, validator, oracle."""

from pyacemaker_fw.oracles.espresso.command import CommandError, resolve_command
from pyacemaker_fw.oracles.espresso.oracle import (
    EspressoOracle,
    EspressoRunError,
    ImplausibleStructureError,
)
from pyacemaker_fw.oracles.espresso.pseudopotentials import PseudopotentialError

__all__ = [
    "CommandError",
    "EspressoOracle",
    "EspressoRunError",
    "ImplausibleStructureError",
    "PseudopotentialError",
    "resolve_command",
]
