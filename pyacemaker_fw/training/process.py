"""Run a training CLI (pacemaker, mace_run_train) as a subprocess and stream its output."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from pyacemaker_fw.core.executables import find_executable
from pyacemaker_fw.core.threads import subprocess_env

log = logging.getLogger(__name__)

LineCallback = Callable[[str], None]
TAIL_LINES = 30


class TrainingProcessError(RuntimeError):
    """A training command failed; the message ends with the last lines it printed."""


def executable(name: str) -> str:
    """The console script ``name`` of this interpreter's environment, else the one on PATH."""
    found = find_executable(name)
    if found is None:
        raise TrainingProcessError(f"{name!r} is neither next to {sys.executable} nor on PATH")
    return found


def run_streaming(
    argv: Sequence[str],
    cwd: Path,
    log_file: Path,
    on_line: LineCallback | None = None,
    threads: int = 1,
) -> None:
    """Run ``argv`` in ``cwd``; copy each output line to ``log_file`` and to ``on_line``."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    log.info("running %s in %s", " ".join(argv), cwd)
    with (
        log_file.open("w") as sink,
        subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=subprocess_env(threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process,
    ):
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            sink.write(raw)
            tail.append(line)
            if on_line is not None:
                on_line(line)
        code = process.wait()
    if code != 0:
        last = "\n".join(tail)
        raise TrainingProcessError(
            f"{Path(argv[0]).name} exited with code {code} (log: {log_file}); last lines:\n{last}"
        )
