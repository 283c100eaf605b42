"""The si_fast campaign with three MD walkers through the local SLURM, for docs/hpc.md.

Starts the MongoDB-wire server and a one-node SLURM in a temporary folder (with
``bench_slurm.services``), submits ``workflows/si_fast.yaml`` with three walkers, runs one
``qlaunch rapidfire`` per category (jobs of one core, one Firework per job), and reports:

- the campaign's wall time and Fireworks per minute through SLURM;
- for every learning round, the latency from the MD halt (the end of the halted MD Firework)
  to the first of its DFT Fireworks starting inside its job.

Run with the project venv, as root: ``.venv/bin/python scripts/services/bench_campaign_slurm.py``.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from fireworks import LaunchPad

from pyacemaker_fw.launchers import CATEGORIES, QueueResources, write_launchers

REPO = Path(__file__).resolve().parents[2]
FW_BIN = Path(sys.executable).parent
WALKERS = [{"seed": 11}, {"seed": 22, "temperature": 2200.0}, {"seed": 33}]


def _bench_slurm() -> Any:
    path = REPO / "scripts" / "services" / "bench_slurm.py"
    spec = importlib.util.spec_from_file_location("bench_slurm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _times(launchpad: LaunchPad, fw_id: int) -> tuple[float, float]:
    utc = _bench_slurm()._utc_timestamp
    launch = next(iter(launchpad.launches.find({"fw_id": fw_id}).sort("launch_id", -1)))
    return utc(launch["time_start"]), utc(launch["time_end"])


def _halt_to_dft(launchpad: LaunchPad) -> list[float]:
    """Seconds from each halted MD Firework's end to its round's first DFT Firework start."""
    by_key = {fw["spec"]["pyacemaker_key"]: fw["fw_id"] for fw in launchpad.fireworks.find({})}
    latencies = []
    for record in launchpad.db["records"].find({"kind": "learning_round"}):
        halted_md = by_key[f"md/{record['segment']}"]
        round_key = record["key"]
        dft = [fw_id for key, fw_id in by_key.items() if key.startswith(f"dft/{round_key}/")]
        if dft:
            halt = _times(launchpad, halted_md)[1]
            latencies.append(min(_times(launchpad, fw_id)[0] for fw_id in dft) - halt)
    return latencies


def main() -> None:
    bench = _bench_slurm()
    with tempfile.TemporaryDirectory() as folder, bench.services(Path(folder)) as (uri, cluster):
        root = Path(folder)
        launchpad_file = root / "my_launchpad.yaml"
        launchpad_file.write_text(
            yaml.safe_dump({"host": uri, "uri_mode": True, "name": "bench", "strm_lvl": "ERROR"})
        )
        data = yaml.safe_load((REPO / "workflows" / "si_fast.yaml").read_text())
        data.update(workdir=str(root / "campaign"))
        holdout = REPO / "workflows" / data["validation"]["holdout_set"]
        data["validation"]["holdout_set"] = str(holdout)
        data["fireworks"] = {"launchpad_file": str(launchpad_file)}
        data["md"]["walkers"] = WALKERS
        config = root / "si_fast.yaml"
        config.write_text(yaml.safe_dump(data))
        env = {**os.environ, "SLURM_CONF": str(cluster.conf), "OMP_NUM_THREADS": "1"}
        fw_config = root / "FW_config.yaml"
        fw_config.write_text(yaml.safe_dump({"QUEUE_UPDATE_INTERVAL": 1, "PING_TIME_SECS": 60}))
        env["FW_CONFIG_FILE"] = str(fw_config)
        subprocess.run([str(FW_BIN / "pyacemaker-fw"), "submit", str(config)], env=env, check=True)
        one_core = {c: QueueResources(ntasks=1, walltime="00:30:00") for c in CATEGORIES}
        site = write_launchers(root / "site", launchpad_file, FW_BIN.parent, resources=one_core)
        began = time.monotonic()
        launchers = []
        for category in CATEGORIES:
            launches = root / "launches" / category
            launches.mkdir(parents=True)
            argv = [str(FW_BIN / "qlaunch"), "-l", str(launchpad_file)]
            argv += ["-w", str(site.fworkers[category]), "-q", str(site.qadapters[category])]
            argv += ["--launch_dir", str(launches), "rapidfire", "--nlaunches", "infinite"]
            launchers.append(
                subprocess.Popen(argv, env=env, cwd=root, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            )  # fmt: skip
        launchpad = LaunchPad.from_file(str(launchpad_file))
        try:
            while {fw["state"] for fw in launchpad.fireworks.find({})} - {"COMPLETED"}:
                if {"FIZZLED", "DEFUSED"} & {fw["state"] for fw in launchpad.fireworks.find({})}:
                    raise RuntimeError("the campaign did not complete")
                time.sleep(2)
            wall = time.monotonic() - began
        finally:
            for launcher in launchers:
                os.killpg(launcher.pid, 15)
            cluster.scancel(None)
        count = launchpad.fireworks.count_documents({})
        latencies = _halt_to_dft(launchpad)
    print(f"{'quantity':<52}{'value':>10}")
    print(f"{'Fireworks (3 walkers, si_fast)':<52}{count:>10}")
    print(f"{'campaign wall time (s)':<52}{wall:>10.0f}")
    print(f"{'Fireworks per minute through SLURM':<52}{60 * count / wall:>10.1f}")
    print(f"{'learning rounds with DFT':<52}{len(latencies):>10}")
    median = statistics.median(latencies)
    print(f"{'halt to first DFT job start, median (s)':<52}{median:>10.1f}")
    print(f"{'halt to first DFT job start, max (s)':<52}{max(latencies):>10.1f}")
    print(f"halt-to-DFT latency {median:.1f} s median over {len(latencies)} rounds")


if __name__ == "__main__":
    main()
