"""custodian error handlers for pw.x, each keyed on the text pw.x 6.7 really prints.

Every handler reads ``pw.out`` (and ``CRASH``), and when it recognises its failure rewrites a
few keys of ``pw.in``. ``correct()`` returns custodian's record of what it saw and did::

    {"errors": ["convergence NOT achieved after 3 iterations: stopping"],
     "actions": [{"dict": "pw.in", "action": {"_set": {"electrons.mixing_beta": 0.25}}}]}

and ``"actions": None`` when it has nothing left to try, which makes custodian stop. The
captured failures these signatures come from are in ``tests/oracles/data/``.
"""

from __future__ import annotations

import math
import re
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from custodian.custodian import ErrorHandler

from pyacemaker_fw.oracles.espresso.inputs import CRASH_FILE, INPUT_FILE, OUTPUT_FILE, PwInput

Changes = dict[tuple[str, str], Any]
UNSET = object()
"""A change value that removes the key, so pw.x falls back to its own default."""


def failure_text(directory: str | Path, output_file: str = OUTPUT_FILE) -> str:
    """The output and ``CRASH`` text of the last attempt in ``directory`` ('' if none)."""
    texts = []
    for name in (output_file, CRASH_FILE):
        path = Path(directory) / name
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def _matching_lines(text: str, signatures: tuple[str, ...]) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    found = [line for line in lines if any(signature in line for signature in signatures)]
    return list(dict.fromkeys(found))


class PwErrorHandler(ErrorHandler):
    """Base: detects any of ``signatures`` and applies the changes of :meth:`changes`."""

    signatures: ClassVar[tuple[str, ...]] = ()
    problem: ClassVar[str] = "pw.x failed"
    """The failure this handler corrects, in words, for error messages."""

    def __init__(self, input_file: str = INPUT_FILE, output_file: str = OUTPUT_FILE) -> None:
        self.input_file = input_file
        self.output_file = output_file

    def check(self, directory: str = "./") -> bool:
        return bool(self.errors(directory))

    def errors(self, directory: str = "./") -> list[str]:
        """The lines of the failed run that show this handler's failure; empty if none."""
        return _matching_lines(failure_text(directory, self.output_file), self.signatures)

    def correct(self, directory: str = "./") -> dict[str, Any]:
        errors = self.errors(directory)
        path = Path(directory) / self.input_file
        pw_input = PwInput.read(path)
        changes = self.changes(pw_input, failure_text(directory, self.output_file))
        if not changes:
            return {"errors": errors, "actions": None}
        for (section, key), value in changes.items():
            if value is UNSET:
                pw_input.remove(section, key)
            else:
                pw_input.set(section, key, value)
        pw_input.write(path)
        return {"errors": errors, "actions": _actions(self.input_file, changes)}

    @abstractmethod
    def changes(self, pw_input: PwInput, output: str) -> Changes:
        """The namelist keys to set (or :data:`UNSET`), given the input and the failed run's
        output; empty when there is nothing left to try."""


def _actions(input_file: str, changes: Changes) -> list[dict[str, Any]]:
    to_set = {f"{s}.{k}": v for (s, k), v in changes.items() if v is not UNSET}
    to_unset = {f"{s}.{k}": 1 for (s, k), v in changes.items() if v is UNSET}
    actions = []
    if to_set:
        actions.append({"dict": input_file, "action": {"_set": to_set}})
    if to_unset:
        actions.append({"dict": input_file, "action": {"_unset": to_unset}})
    return actions


class ScfConvergenceHandler(PwErrorHandler):
    """The SCF did not converge in ``electron_maxstep`` iterations.

    First halve ``mixing_beta`` and give it more steps; from the second time on also switch to
    ``local-TF`` mixing, which damps charge sloshing in inhomogeneous systems (clusters,
    surfaces). Gives up once beta is at ``min_beta``, the steps at ``max_steps`` and the
    mixing already local.
    """

    problem = "the SCF did not converge"
    signatures = ("convergence NOT achieved after",)

    def __init__(
        self,
        input_file: str = INPUT_FILE,
        output_file: str = OUTPUT_FILE,
        min_beta: float = 0.05,
        min_steps: int = 100,
        max_steps: int = 1000,
    ) -> None:
        super().__init__(input_file, output_file)
        self.min_beta = min_beta
        self.min_steps = min_steps
        self.max_steps = max_steps

    def changes(self, pw_input: PwInput, output: str) -> Changes:
        beta = float(pw_input.get("electrons", "mixing_beta", 0.7))
        steps = int(pw_input.get("electrons", "electron_maxstep", 100))
        mode = str(pw_input.get("electrons", "mixing_mode", "plain"))
        changes: Changes = {}
        if beta > self.min_beta:
            changes["electrons", "mixing_beta"] = round(max(beta / 2, self.min_beta), 6)
        if steps < self.max_steps:
            changes["electrons", "electron_maxstep"] = min(
                max(2 * steps, self.min_steps), self.max_steps
            )
        if self.n_applied_corrections >= 1 and mode != "local-TF":
            changes["electrons", "mixing_mode"] = "local-TF"
        return changes


class WalltimeHandler(PwErrorHandler):
    """pw.x stopped at ``max_seconds`` after writing its restart files: continue from them.

    The next attempt restarts from the saved wavefunctions and charge density with a time
    limit ``factor`` times longer (at least ``min_seconds``), so it can finish.
    """

    problem = "pw.x ran out of its time limit (max_seconds)"
    signatures = ("Maximum CPU time exceeded",)

    def __init__(
        self,
        input_file: str = INPUT_FILE,
        output_file: str = OUTPUT_FILE,
        factor: float = 2.0,
        min_seconds: float = 60.0,
    ) -> None:
        super().__init__(input_file, output_file)
        self.factor = factor
        self.min_seconds = min_seconds

    def changes(self, pw_input: PwInput, output: str) -> Changes:
        changes: Changes = {("control", "restart_mode"): "restart"}
        limit = pw_input.get("control", "max_seconds")
        if limit is not None:
            changes["control", "max_seconds"] = max(float(limit) * self.factor, self.min_seconds)
        return changes


_LEVELS = re.compile(
    r"highest occupied, lowest unoccupied level \(ev\):\s*([-+]?\d+\.\d+)\s*([-+]?\d+\.\d+)"
)
_ELECTRONS = re.compile(r"number of electrons\s*=\s*([-+]?\d+\.?\d*)")


def occupation_levels(text: str) -> tuple[float, float] | None:
    """pw.x's last 'highest occupied, lowest unoccupied level' (eV), printed for fixed
    occupations when there are empty bands; ``None`` when it printed none."""
    found = _LEVELS.findall(text)
    if not found:
        return None
    highest, lowest = found[-1]
    return float(highest), float(lowest)


def smearing_band_count(electrons: float) -> int:
    """pw.x's own default number of bands for a run with smearing: 20 % more than the
    occupied ones, and at least 4 more."""
    occupied = math.ceil(electrons / 2 - 1e-6)
    return max(math.floor(1.2 * electrons / 2 + 0.5), occupied + 4)  # Fortran's NINT


class SmearingHandler(PwErrorHandler):
    """A metal run with fixed occupations: switch smearing on.

    pw.x itself stops ('smearing is needed') only when the electron count is odd. With an even
    count it runs, and either converges to a state that fills the lowest bands at each k-point
    separately (Al2: 0.9 eV too high, and nothing in the output says so) or never converges
    (Al4). So with fixed occupations the handler also fires:

    - when the highest occupied level lies at or above the lowest unoccupied one (the bands
      overlap, so the system has no gap at this sampling); the input builder adds empty
      bands to fixed-occupation runs so that pw.x prints both levels;
    - when the SCF did not converge: smearing goes on first, alongside whatever
      :class:`ScfConvergenceHandler` changes in the mixing.
    """

    problem = "a metal ran with fixed occupations"
    signatures = ("smearing is needed",)
    unconverged = "convergence NOT achieved after"

    def __init__(
        self,
        input_file: str = INPUT_FILE,
        output_file: str = OUTPUT_FILE,
        smearing: str = "mv",
        degauss: float = 0.01,
    ) -> None:
        super().__init__(input_file, output_file)
        self.smearing = smearing
        self.degauss = degauss

    def errors(self, directory: str = "./") -> list[str]:
        """Why this run looks like a metal with fixed occupations; empty if it does not."""
        pw_input = PwInput.read(Path(directory) / self.input_file)
        if pw_input.get("system", "occupations", "fixed") != "fixed":
            return []
        text = failure_text(directory, self.output_file)
        evidence = _matching_lines(text, (*self.signatures, self.unconverged))
        levels = occupation_levels(text)
        if levels is not None and levels[0] >= levels[1]:
            evidence.append(
                f"fixed occupations on a metal: the highest occupied level ({levels[0]:.4f} eV) "
                f"is not below the lowest unoccupied one ({levels[1]:.4f} eV)"
            )
        return evidence

    def changes(self, pw_input: PwInput, output: str) -> Changes:
        if pw_input.get("system", "occupations") == "smearing":
            return {}
        changes: Changes = {
            ("system", "occupations"): "smearing",
            ("system", "smearing"): self.smearing,
            ("system", "degauss"): self.degauss,
        }
        bands = pw_input.get("system", "nbnd")
        electrons = _electron_count(output)
        if bands is not None and electrons is not None:
            # the few empty bands of a fixed-occupation run are too few for a smeared metal
            needed = smearing_band_count(electrons)
            if needed > int(bands):
                changes["system", "nbnd"] = needed
        if pw_input.get("control", "restart_mode") == "restart":
            # saved wavefunctions of other occupations and bands cannot seed this run
            changes["control", "restart_mode"] = UNSET
        return changes


def _electron_count(text: str) -> float | None:
    found = _ELECTRONS.findall(text)
    return float(found[0]) if found else None


DIAGONALIZATIONS = ("david", "cg", "ppcg")
"""pw.x 6.7's iterative diagonalisations, from fastest to most robust-but-different."""


def _next_diagonalization(current: str) -> str | None:
    if current not in DIAGONALIZATIONS:
        return DIAGONALIZATIONS[0]
    index = DIAGONALIZATIONS.index(current) + 1
    return DIAGONALIZATIONS[index] if index < len(DIAGONALIZATIONS) else None


class DiagonalizationHandler(PwErrorHandler):
    """The subspace diagonalisation broke down: try the next algorithm (david → cg → ppcg).

    Davidson also needs a workspace of twice as many vectors as bands; in a small cell with
    many bands pw.x refuses with 'more bands than PWs', which conjugate gradients does not need.
    """

    problem = "the iterative diagonalisation broke down"
    signatures = (
        "S matrix not positive definite",
        "problems computing cholesky",
        "eigenvectors failed to converge",
        "more bands than PWs",
    )

    def changes(self, pw_input: PwInput, output: str) -> Changes:
        current = str(pw_input.get("electrons", "diagonalization", "david"))
        following = _next_diagonalization(current)
        return {} if following is None else {("electrons", "diagonalization"): following}


CAPPED_ITERATION_KEYS = ("diago_cg_maxiter", "diago_ppcg_maxiter")


class BandsNotConvergedHandler(PwErrorHandler):
    """pw.x stopped with 'too many bands are not converged' (c_bands).

    Davidson and conjugate gradients fail on different bands, so switch between them, and drop
    any cap on the iterations of the iterative solver so pw.x uses its own default.
    """

    problem = "too many bands did not converge"
    signatures = ("too many bands are not converged",)

    max_switches = 2

    def changes(self, pw_input: PwInput, output: str) -> Changes:
        if self.n_applied_corrections >= self.max_switches:
            return {}  # both solvers failed already
        current = str(pw_input.get("electrons", "diagonalization", "david"))
        changes: Changes = {
            ("electrons", key): UNSET
            for key in CAPPED_ITERATION_KEYS
            if pw_input.get("electrons", key) is not None
        }
        changes["electrons", "diagonalization"] = "cg" if current == "david" else "david"
        return changes


def default_handlers(smearing: str = "mv", degauss: float = 0.01) -> list[PwErrorHandler]:
    """All handlers, most specific first; custodian applies every one that fires.

    ``smearing`` and ``degauss`` are what a metal run with fixed occupations switches to.
    """
    return [
        WalltimeHandler(),
        SmearingHandler(smearing=smearing, degauss=degauss),
        DiagonalizationHandler(),
        BandsNotConvergedHandler(),
        ScfConvergenceHandler(),
    ]
