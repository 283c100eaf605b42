"""custodian jobs for Quantum ESPRESSO: run pw.x on the input in a directory.

Each attempt keeps its own record under ``attempts/NN/``: the input it ran with and, once the
next attempt starts, the output, stderr and ``CRASH`` file it left. The last attempt's output
stays at the top of the directory, where handlers, validators and parsers look for it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from custodian.custodian import Job

from pyacemaker_fw.core.threads import subprocess_env
from pyacemaker_fw.oracles.espresso.inputs import CRASH_FILE, INPUT_FILE, OUTPUT_FILE, STDERR_FILE

ATTEMPTS_DIR = "attempts"

UNBUFFERED_FORTRAN = {"GFORTRAN_UNBUFFERED_PRECONNECTED": "y"}
"""pw.x 6.7 (Debian, gfortran + Open MPI) loses its buffered stdout, error text included, when
an error calls MPI_ABORT; unbuffered output keeps the text the handlers look for."""


class PwJob(Job):
    """One pw.x run on ``input_file``, writing ``output_file``, in custodian's ``Job`` shape."""

    def __init__(
        self,
        pw_cmd: Sequence[str],
        input_file: str = INPUT_FILE,
        output_file: str = OUTPUT_FILE,
        stderr_file: str = STDERR_FILE,
        threads: int = 1,
    ) -> None:
        self.pw_cmd = list(pw_cmd)
        self.input_file = input_file
        self.output_file = output_file
        self.stderr_file = stderr_file
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def returncode(self) -> int | None:
        """How the last pw.x of this job ended (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()

    @property
    def argv(self) -> list[str]:
        return [*self.pw_cmd, "-in", self.input_file]

    def setup(self, directory: str = "./") -> None:
        # pw.x appends to CRASH, so a stale one would be read as this run's failure.
        (Path(directory) / CRASH_FILE).unlink(missing_ok=True)

    def run(self, directory: str = "./") -> subprocess.Popen[bytes]:
        root = Path(directory)
        attempt = self._archive_previous_attempt(root)
        attempt_dir = root / ATTEMPTS_DIR / f"{attempt:02d}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / self.input_file, attempt_dir / self.input_file)
        env = subprocess_env(self.threads) | UNBUFFERED_FORTRAN
        with (
            (root / self.output_file).open("wb") as stdout,
            (root / self.stderr_file).open("wb") as stderr,
        ):
            self.process = subprocess.Popen(
                self.argv, cwd=root, stdout=stdout, stderr=stderr, env=env
            )
        return self.process

    def _archive_previous_attempt(self, root: Path) -> int:
        """Move the last attempt's output next to its input; return the new attempt's number."""
        attempts = sorted((root / ATTEMPTS_DIR).glob("[0-9][0-9]"))
        if attempts and (root / self.output_file).exists():
            for name in (self.output_file, self.stderr_file, CRASH_FILE):
                if (root / name).exists():
                    shutil.move(root / name, attempts[-1] / name)
        return len(attempts) + 1

    def postprocess(self, directory: str = "./") -> None:
        """Nothing to do: the oracle parses the output and removes the large files."""
