"""custodian validators for pw.x: is the output of a finished run usable?

pw.x 6.7 prints "JOB DONE." even when the SCF did not converge, so the text is checked for
the failure itself and for a final total energy, never for the banner alone.
"""

from __future__ import annotations

from pathlib import Path

from custodian.custodian import Validator

from pyacemaker_fw.oracles.espresso.inputs import OUTPUT_FILE

NOT_CONVERGED = "convergence NOT achieved"
JOB_DONE = "JOB DONE."
FINAL_ENERGY = "!    total energy"


def output_problems(text: str) -> list[str]:
    """Why an output cannot be used as a label; empty when it can."""
    problems = []
    if NOT_CONVERGED in text:
        problems.append("the SCF did not converge")
    if FINAL_ENERGY not in text:
        problems.append("there is no converged total energy")
    if JOB_DONE not in text:
        problems.append("pw.x did not finish")
    return problems


class PwOutputValidator(Validator):
    """Rejects a run whose output is missing, unconverged or unfinished."""

    def __init__(self, output_file: str = OUTPUT_FILE) -> None:
        self.output_file = output_file

    def check(self, directory: str = "./") -> bool:
        path = Path(directory) / self.output_file
        if not path.is_file():
            return True
        return bool(output_problems(path.read_text(errors="replace")))
