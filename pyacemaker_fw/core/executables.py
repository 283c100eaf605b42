"""Find the console scripts of engines installed in this interpreter's environment.

``.venv/bin/pyacemaker-fw`` runs without the virtualenv being activated, so its PATH need not
hold ``.venv/bin``; the scripts installed beside the interpreter come first.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_executable(name: str) -> str | None:
    """The console script ``name`` beside this interpreter, else the one on PATH, else None."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(name)
