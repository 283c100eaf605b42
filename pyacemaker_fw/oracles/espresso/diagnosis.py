"""Why a pw.x run gave no label, in words a user can act on.

custodian reports a failure in its own terms: "Validation failed: PwOutputValidator", or
"Unrecoverable error for handler: <...ScfConvergenceHandler object at 0x...>". This module
reads what the run left in its folder and says what happened instead:

- how pw.x ended: its exit code, or the signal that killed it;
- how far it got: the SCF iterations of the last attempt;
- what pw.x itself said: the ``%%%%`` error blocks of ``pw.out`` and ``CRASH``, such as
  "readpp: file .../Si.UPF not readable", and Fortran runtime errors from ``pw.err``;
- what was tried: every correction in ``custodian.json``, with the keys it changed.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

from custodian.custodian import (
    Custodian,
    CustodianError,
    MaxCorrectionsError,
    MaxCorrectionsPerJobError,
    NonRecoverableError,
    ReturnCodeError,
    ValidationError,
)

from pyacemaker_fw.oracles.espresso.handlers import PwErrorHandler, default_handlers
from pyacemaker_fw.oracles.espresso.inputs import CRASH_FILE, OUTPUT_FILE, STDERR_FILE
from pyacemaker_fw.oracles.espresso.validators import output_problems

CUSTODIAN_LOG = Custodian.LOG_FILE
_ERROR_BLOCK = re.compile(r"%{20,}\s*\n(.*?)\n\s*%{20,}", re.DOTALL)
_SCF_ITERATION = re.compile(r"^\s*iteration #\s*\d+", re.MULTILINE)
_ROUTINE = re.compile(r"(?:Error in routine|from)\s+(\S+)\s*(?:\(\s*-?\d+\s*\)|: error #\s*-?\d+)?")

_PROBLEMS = {type(handler).__name__: handler.problem for handler in default_handlers()}
_SIGNALS = frozenset(int(number) for number in signal.Signals)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def pw_messages(directory: Path) -> list[str]:
    """pw.x's own error messages from ``pw.out``, ``CRASH`` and ``pw.err``, once each."""
    messages = []
    for name in (OUTPUT_FILE, CRASH_FILE):
        for block in _ERROR_BLOCK.findall(_read(directory / name)):
            lines = [line.strip() for line in block.splitlines() if line.strip()]
            lines = [line for line in lines if not line.startswith("task #")]
            if not lines:
                continue
            routine = _ROUTINE.match(lines[0])
            text = " ".join(lines[1:] if routine else lines)
            messages.append(f"{routine.group(1)}: {text}" if routine else text)
    stderr = _read(directory / STDERR_FILE).splitlines()
    for index, line in enumerate(stderr):
        if "Fortran runtime error" in line:
            where = stderr[index - 1].strip() if index and "At line" in stderr[index - 1] else ""
            messages.append(line.strip() + (f" ({where})" if where else ""))
    return list(dict.fromkeys(messages))


def scf_iterations(directory: Path) -> int:
    """SCF iterations the last attempt started (``iteration #`` lines of ``pw.out``)."""
    return len(_SCF_ITERATION.findall(_read(directory / OUTPUT_FILE)))


def killing_signal(returncode: int | None) -> int | None:
    """The signal that ended pw.x: a negative return code from ``Popen``, or 128 + N from a
    launcher (a shell or mpirun) reporting a child killed by signal N."""
    if returncode is None:
        return None
    number = -returncode if returncode < 0 else returncode - 128
    return number if number in _SIGNALS else None


def how_it_ended(returncode: int | None) -> str:
    """'was killed by signal 9 (SIGKILL)', 'exited with code 2', or '' when unknown."""
    if returncode is None:
        return ""
    number = killing_signal(returncode)
    if number is None:
        return f"exited with code {returncode}"
    name = signal.Signals(number).name
    if returncode < 0:
        return f"was killed by signal {number} ({name})"
    return f"exited with code {returncode} (128 + {number}: its launcher reports {name})"


def _corrections(directory: Path) -> list[dict[str, Any]]:
    path = directory / CUSTODIAN_LOG
    if not path.is_file():
        return []
    return [entry for job in json.loads(path.read_text()) for entry in job.get("corrections", [])]


def _handler_name(entry: dict[str, Any]) -> str:
    return str((entry.get("handler") or {}).get("@class", "a handler"))


def corrections_tried(directory: Path) -> list[str]:
    """One line per custodian correction: which handler, what it saw, what it set."""
    lines = []
    for entry in _corrections(directory):
        errors = "; ".join(entry.get("errors") or []) or "no message"
        actions = _describe_actions(entry.get("actions"))
        lines.append(f"{_handler_name(entry)} saw '{errors}' and {actions}")
    return lines


def _describe_actions(actions: list[dict[str, Any]] | None) -> str:
    if not actions:
        return "had nothing left to try"
    words = []
    for action in actions:
        change = action.get("action", {})
        words += [f"{key} = {value!r}" for key, value in change.get("_set", {}).items()]
        words += [f"unset {key}" for key in change.get("_unset", {})]
    return "set " + ", ".join(words)


def _what_failed(error: CustodianError, directory: Path) -> str:
    """The failure custodian stopped on, in words."""
    if isinstance(error, NonRecoverableError):
        handler: PwErrorHandler = error.handler
        name = type(handler).__name__
        problem = getattr(handler, "problem", f"{name} found an error")
        return f"{problem}, and {name} had nothing left to try"
    if isinstance(error, MaxCorrectionsError | MaxCorrectionsPerJobError):
        last = _corrections(directory)[-1:]
        problem = _PROBLEMS.get(_handler_name(last[0]), "pw.x failed") if last else "pw.x failed"
        return (
            f"{problem}; custodian used up its corrections "
            "(raise oracle.qe.max_corrections to allow more)"
        )
    if isinstance(error, ValidationError):
        problems = output_problems(_read(directory / OUTPUT_FILE)) or ["its output is unusable"]
        return "; ".join(problems) + ", and no handler knows this failure"
    if isinstance(error, ReturnCodeError):
        return "pw.x reported an error code although its output looks complete"
    return str(error)


def describe_failure(directory: Path, error: CustodianError, returncode: int | None) -> str:
    """What went wrong in ``directory``, how the last pw.x ended, what pw.x said, and what
    was tried, in one line."""
    directory = Path(directory)
    ending = how_it_ended(returncode)
    died = killing_signal(returncode) is not None
    parts = [f"pw.x died: it {ending}" if died else _what_failed(error, directory)]
    last = f"the last attempt ran {scf_iterations(directory)} SCF iterations"
    if ending and not died:
        last += f" and pw.x {ending}"
    parts.append(last)
    said = pw_messages(directory)
    if said:
        parts.append("pw.x said: " + " | ".join(said))
    tried = corrections_tried(directory)
    parts.append("tried: " + "; ".join(tried) if tried else "no correction was tried")
    parts.append(f"output kept in {directory} (pw.in, pw.out, pw.err, CRASH; attempts/NN/ per try)")
    return "; ".join(parts)
