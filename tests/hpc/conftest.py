"""Real services for the cross-process tests: a MongoDB-wire server and a one-node SLURM.

- ``mongo_uri`` (session): mongoeco's wire server from ``.venv-mongo``, in memory, or the real
  MongoDB in ``PYACEMAKER_TEST_MONGO_URI`` when that is set.
- ``launchpad_file`` (function): a ``my_launchpad.yaml`` for a fresh database on that server,
  dropped afterwards.
- ``slurm_cluster`` (session): munged, slurmctld and slurmd started from a private folder
  (``scripts/services/local_slurm.py``), stopped at the end.
- ``fw_config`` (session): an ``FW_config.yaml`` with short queue and rapidfire intervals, for
  the ``FW_CONFIG_FILE`` of FireWorks' command-line tools.

A service that cannot start fails the test with its reason; nothing is skipped.
``scripts/setup_services.sh`` (run by ``make setup``) installs what they need.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pymongo import MongoClient

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "scripts" / "services"
MONGO_VENV_PYTHON = REPO / ".venv-mongo" / "bin" / "python"
WIRE_SERVER = SERVICES / "mongo_wire_server.py"
MONGO_URI_VARIABLE = "PYACEMAKER_TEST_MONGO_URI"
# FireWorks' command-line tools of the venv these tests run in.
FW_BIN = Path(sys.executable).parent


def _load_local_slurm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_slurm", SERVICES / "local_slurm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_slurm"] = module
    spec.loader.exec_module(module)
    return module


local_slurm = _load_local_slurm()


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB URI that every process on this machine can reach."""
    real = os.environ.get(MONGO_URI_VARIABLE)
    if real:
        yield real
        return
    if not MONGO_VENV_PYTHON.is_file():
        pytest.fail(
            f"{MONGO_VENV_PYTHON} is missing: run `bash scripts/setup_services.sh` "
            f"(or set {MONGO_URI_VARIABLE} to a real MongoDB)"
        )
    state_dir = tmp_path_factory.mktemp("mongo")
    started = subprocess.run(
        [str(MONGO_VENV_PYTHON), str(WIRE_SERVER), "start", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if started.returncode != 0:
        pytest.fail(f"mongo wire server did not start: {started.stderr}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(
            [str(MONGO_VENV_PYTHON), str(WIRE_SERVER), "stop", "--state-dir", str(state_dir)],
            check=True,
            timeout=60,
        )


@pytest.fixture
def launchpad_file(tmp_path: Path, mongo_uri: str) -> Iterator[Path]:
    """``my_launchpad.yaml`` for a database of its own on ``mongo_uri``; dropped afterwards."""
    name = f"fw_test_{uuid.uuid4().hex[:12]}"
    path = tmp_path / "my_launchpad.yaml"
    settings: dict[str, Any] = {
        "host": mongo_uri,
        "uri_mode": True,
        "name": name,
        "logdir": None,
        "strm_lvl": "INFO",
        "user_indices": [],
        "wf_user_indices": [],
    }
    path.write_text(yaml.safe_dump(settings))
    yield path
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def fw_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FireWorks settings for quick tests: 1 s between submissions and rapidfire loops."""
    path = tmp_path_factory.mktemp("fw_config") / "FW_config.yaml"
    path.write_text(
        yaml.safe_dump({"QUEUE_UPDATE_INTERVAL": 1, "RAPIDFIRE_SLEEP_SECS": 1, "PING_TIME_SECS": 1})
    )
    return path


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running one-node SLURM cluster (``local_slurm.SlurmCluster``)."""
    root = tmp_path_factory.mktemp("slurm")
    try:
        cluster = local_slurm.start_cluster(root)
    except local_slurm.SlurmError as error:
        pytest.fail(f"local SLURM cluster did not start: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()
