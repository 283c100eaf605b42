"""Fixtures of the oracle tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.oracles.paths import DATA


@pytest.fixture
def captured_run(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a captured pw.x run (``tests/oracles/data/<case>``) into a fresh directory."""

    def copy(case: str) -> Path:
        target = tmp_path / case
        shutil.copytree(DATA / case, target)
        return target

    return copy
