"""Helpers for tests that drive FireWorks' own command-line tools in separate processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from fireworks import LaunchPad

from tests.hpc.conftest import FW_BIN


def fw_env(fw_config: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for FireWorks tools: our FW_config.yaml, one thread per engine."""
    env = {**os.environ, "FW_CONFIG_FILE": str(fw_config), "OMP_NUM_THREADS": "1"}
    env.update(extra or {})
    return env


def run_tool(
    tool: str,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 120.0,
) -> str:
    """Run ``lpad``, ``rlaunch`` or ``qlaunch`` to the end; its output, or an error with it."""
    result = subprocess.run(
        [str(FW_BIN / tool), *args],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} exited {result.returncode}:\n{output}")
    return output


def start_tool(
    tool: str, args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start a FireWorks tool in its own process group (so a kill reaches its children)."""
    with log.open("wb") as stream:
        return subprocess.Popen(
            [str(FW_BIN / tool), *args],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    """Send ``signum`` to the process's group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def write_fworker(path: Path, name: str, category: str = "") -> Path:
    path.write_text(yaml.safe_dump({"name": name, "category": category, "query": "{}"}))
    return path


def fw_states(launchpad: LaunchPad) -> dict[str, str]:
    """Firework name -> state."""
    return {
        doc["name"]: doc["state"] for doc in launchpad.fireworks.find({}, {"name": 1, "state": 1})
    }


def launches_per_firework(launchpad: LaunchPad) -> Counter[int]:
    """How many launches each Firework has had, current and archived, from the launches."""
    return Counter(doc["fw_id"] for doc in launchpad.launches.find({}, {"fw_id": 1}))


def launches_of(launchpad: LaunchPad, name: str) -> list[dict[str, Any]]:
    """The launch documents of the Firework called ``name``, oldest first."""
    [doc] = list(launchpad.fireworks.find({"name": name}, {"fw_id": 1}))
    return list(launchpad.launches.find({"fw_id": doc["fw_id"]}).sort("launch_id", 1))


def checkpointed_script(checkpoint: Path) -> str:
    """A task that writes a checkpoint and then runs long; a rerun finds it and finishes."""
    return (
        f"if [ -e {checkpoint} ]; then echo resumed from checkpoint; "
        f"else echo started > {checkpoint}; sleep 600; fi"
    )


def lost_firework_count(
    launchpad_file: Path, env: Mapping[str, str], cwd: Path, seconds: int
) -> int:
    """How many Fireworks ``lpad detect_lostruns --time seconds`` reports as lost."""
    args = ["-l", str(launchpad_file), "detect_lostruns", "--time", str(seconds)]
    output = run_tool("lpad", args, env, cwd)
    [line] = [line for line in output.splitlines() if "Lost FireWorks:" in line]
    return int(line.split(":")[1])


def submitted_job_id(qlaunch_output: str) -> int:
    """The SLURM job id that ``qlaunch singleshot`` logged."""
    match = re.search(r"job_id is (\d+)", qlaunch_output)
    assert match is not None, qlaunch_output
    return int(match.group(1))
