"""Throughput and latency of FireWorks through the local SLURM, for docs/hpc.md.

Starts the mongo wire server and a one-node SLURM in a temporary folder, then measures with
trivial Fireworks (``echo``):

- latency: from the start of ``qlaunch singleshot`` to the Firework starting inside its job,
  and SLURM's own submit-to-start time;
- throughput: Fireworks per minute with ``qlaunch rapidfire`` when each job runs one Firework
  (``singleshot``) and when each job pulls Fireworks until none is left (``rapidfire``).

Run with the project venv, as root: ``.venv/bin/python scripts/services/bench_slurm.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fireworks import Firework, LaunchPad, ScriptTask

from pyacemaker_fw.launchers import CATEGORIES, LauncherSet, QueueResources, write_launchers

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "scripts" / "services"
FW_BIN = Path(sys.executable).parent


def _local_slurm() -> Any:
    spec = importlib.util.spec_from_file_location("local_slurm", SERVICES / "local_slurm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_slurm"] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def services(root: Path) -> Iterator[tuple[str, Any]]:
    server = [str(REPO / ".venv-mongo/bin/python"), str(SERVICES / "mongo_wire_server.py")]
    uri = subprocess.run(
        [*server, "start", "--state-dir", str(root / "mongo")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cluster = _local_slurm().start_cluster(root / "slurm")
    try:
        yield uri, cluster
    finally:
        cluster.stop()
        subprocess.run([*server, "stop", "--state-dir", str(root / "mongo")], check=True)


def _launchpad(root: Path, uri: str, name: str) -> tuple[Path, LaunchPad]:
    path = root / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump({"host": uri, "uri_mode": True, "name": name, "strm_lvl": "ERROR"})
    )
    launchpad = LaunchPad.from_file(str(path))
    launchpad.reset("", require_password=False)
    return path, launchpad


def _site(root: Path, launchpad_file: Path, rocket: str) -> LauncherSet:
    small = {category: QueueResources(ntasks=1, walltime="00:30:00") for category in CATEGORIES}
    return write_launchers(
        root / f"site_{rocket}",
        launchpad_file,
        FW_BIN.parent,
        resources=small,
        rocket=rocket,  # type: ignore[arg-type]
    )


def _qlaunch(site: LauncherSet, launchpad_file: Path, launch_dir: Path) -> list[str]:
    launch_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(FW_BIN / "qlaunch"),
        "-l",
        str(launchpad_file),
        "-w",
        str(site.fworkers[""]),
        "-q",
        str(site.qadapters[""]),
        "--launch_dir",
        str(launch_dir),
    ]


def _wait_completed(launchpad: LaunchPad, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while launchpad.fireworks.count_documents({"state": "COMPLETED"}) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} Fireworks completed in {timeout} s")
        time.sleep(0.1)


def _slurm_seconds(cluster: Any, job_id: int, field: str) -> datetime:
    output = cluster.run(["scontrol", "-o", "show", "job", str(job_id)])
    value = next(part.split("=", 1)[1] for part in output.split() if part.startswith(f"{field}="))
    return datetime.fromisoformat(value)


def _utc_timestamp(value: datetime | str) -> float:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    # pymongo hands back naive datetimes that are UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def measure_latency(
    root: Path, uri: str, cluster: Any, env: dict[str, str], repeats: int
) -> dict[str, float]:
    launchpad_file, launchpad = _launchpad(root, uri, "latency")
    site = _site(root, launchpad_file, "singleshot")
    to_start, queue_wait = [], []
    for index in range(repeats):
        launchpad.add_wf(Firework(ScriptTask.from_str("echo hi"), name=f"probe_{index}"))
        command = [*_qlaunch(site, launchpad_file, root / "latency" / str(index)), "singleshot"]
        began = time.time()
        output = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        _wait_completed(launchpad, index + 1)
        match = re.search(r"job_id is (\d+)", output.stdout + output.stderr)
        assert match is not None, output.stdout + output.stderr
        job_id = int(match.group(1))
        [fw_id] = launchpad.get_fw_ids({"name": f"probe_{index}"})
        [launch] = launchpad.launches.find({"fw_id": fw_id})
        started = _utc_timestamp(launch["time_start"])
        to_start.append(started - began)
        waited = _slurm_seconds(cluster, job_id, "StartTime") - _slurm_seconds(
            cluster, job_id, "SubmitTime"
        )
        queue_wait.append(waited.total_seconds())
    return {
        "qlaunch_to_firework_start_s": statistics.median(to_start),
        "sbatch_to_job_start_s": statistics.median(queue_wait),
    }


def measure_throughput(root: Path, uri: str, env: dict[str, str], rocket: str, count: int) -> float:
    launchpad_file, launchpad = _launchpad(root, uri, f"throughput_{rocket}")
    launchpad.bulk_add_wfs(
        [Firework(ScriptTask.from_str("echo hi"), name=f"fw_{i}") for i in range(count)]
    )
    site = _site(root, launchpad_file, rocket)
    command = _qlaunch(site, launchpad_file, root / f"throughput_{rocket}")
    command += ["rapidfire", "--nlaunches", "infinite", "--sleep", "1", "-m", "4"]
    began = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        _wait_completed(launchpad, count)
    finally:
        process.terminate()
        process.wait()
    return count / (time.monotonic() - began) * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fireworks", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queue-update-interval", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        root = Path(tmp)
        config = root / "FW_config.yaml"
        config.write_text(yaml.safe_dump({"QUEUE_UPDATE_INTERVAL": args.queue_update_interval}))
        with services(root) as (uri, cluster):
            env = {**os.environ, "SLURM_CONF": str(cluster.conf), "FW_CONFIG_FILE": str(config)}
            latency = measure_latency(root, uri, cluster, env, args.repeats)
            rates = {
                rocket: measure_throughput(root, uri, env, rocket, args.fireworks)
                for rocket in ("singleshot", "rapidfire")
            }
            cluster.scancel()
    print(
        f"QUEUE_UPDATE_INTERVAL={args.queue_update_interval} s, "
        f"{args.fireworks} Fireworks, {os.cpu_count()} cores"
    )
    for key, value in latency.items():
        print(f"{key}: {value:.2f}")
    for rocket, rate in rates.items():
        print(f"fireworks_per_minute_{rocket}_jobs: {rate:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
