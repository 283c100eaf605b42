"""A real single-node SLURM cluster on this machine, for tests and trials (no systemd).

Debian's ``slurmctld``, ``slurmd`` and ``munge`` (``scripts/setup_services.sh`` installs
them) run as daemons out of one private folder: its own munge key and socket, ``slurm.conf``,
state, spool, pid and log files, on free ports. Nothing under /etc is touched, so two
clusters, or a site's own munge, do not interfere. Needs root (slurmd launches jobs as their
submitting user).

    python scripts/services/local_slurm.py start --dir /tmp/slurm   # prints export SLURM_CONF=...
    python scripts/services/local_slurm.py stop --dir /tmp/slurm

The test fixture ``slurm_cluster`` (``tests/hpc/conftest.py``) uses :func:`start_cluster` and
:meth:`SlurmCluster.stop`. Only the standard library: it runs under any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PARTITION = "debug"
FINISHED_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"}
)
REQUIRED_PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol")

# Settings that work without systemd or cgroups, tuned for about 1 s from sbatch to start.
SLURM_CONF_TEMPLATE = """\
# Written by scripts/services/local_slurm.py for a one-node test cluster.
ClusterName=pyacemaker
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmError(RuntimeError):
    """The cluster could not start, or a SLURM command failed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _node_hardware() -> tuple[int, int]:
    """CPUs and RealMemory (MB) as ``slurmd -C`` reports them for this host."""
    report = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    cpus = re.search(r"\bCPUs=(\d+)", report)
    memory = re.search(r"\bRealMemory=(\d+)", report)
    if cpus is None or memory is None:
        raise SlurmError(f"cannot read CPUs and RealMemory from `slurmd -C`: {report!r}")
    # A little below what slurmd sees, or the node is drained for low memory.
    return int(cpus.group(1)), int(int(memory.group(1)) * 0.95)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_pid_files(pid_files: Sequence[Path], timeout: float = 10.0) -> None:
    """SIGTERM every daemon named in ``pid_files`` at once, wait, then SIGKILL stragglers."""
    pids = []
    for pid_file in pid_files:
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(text), signal.SIGTERM)
                pids.append(int(text))
        pid_file.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class SlurmCluster:
    """A running one-node cluster: ``env`` carries ``SLURM_CONF`` for its client commands."""

    root: Path
    host: str
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, argv: Sequence[str], check: bool = True) -> str:
        result = subprocess.run(list(argv), capture_output=True, text=True, env=self.env)
        if check and result.returncode != 0:
            raise SlurmError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def submit(self, script: str | Path, cwd: Path, options: Sequence[str] = ()) -> int:
        """Submit a batch script (a path, or the text of one) from ``cwd``; the job id."""
        argv = ["sbatch", "--parsable", *options]
        if isinstance(script, Path):
            argv.append(str(script))
            stdin = None
        else:
            stdin = script
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, cwd=cwd, env=self.env
        )
        if result.returncode != 0:
            raise SlurmError(f"sbatch failed ({result.returncode}): {result.stderr}")
        return int(result.stdout.strip().split(";")[0])

    def job_state(self, job_id: int) -> str | None:
        """The job's state (``PENDING``, ``RUNNING``, ``COMPLETED`` ...), ``None`` if unknown."""
        output = self.run(["scontrol", "-o", "show", "job", str(job_id)], check=False)
        match = re.search(r"\bJobState=(\S+)", output)
        return match.group(1) if match else None

    def wait(
        self, job_id: int, states: frozenset[str] = FINISHED_STATES, timeout: float = 60.0
    ) -> str:
        """Wait until the job reaches one of ``states``; its state then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.1)
        raise SlurmError(f"job {job_id} did not reach {sorted(states)} in {timeout} s")

    def scancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or every job with ``None``."""
        self.run(["scancel", str(job_id)] if job_id is not None else ["scancel", "--user=root"])

    def squeue(self) -> list[dict[str, str]]:
        """Queued and running jobs: ``id``, ``name``, ``state``."""
        output = self.run(["squeue", "-h", "-o", "%i|%j|%T"])
        rows = [line.split("|") for line in output.splitlines() if line.strip()]
        return [{"id": row[0], "name": row[1], "state": row[2]} for row in rows]

    def node_state(self) -> str:
        return self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).strip()

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for log in sorted((self.root / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"== {log.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged; no daemon is left."""
        if self._controller_alive():
            self._cancel_all_jobs()
        _stop_pid_files([self.root / "slurmd.pid", self.root / "slurmctld.pid"])
        _stop_pid_files([self.root / "munge" / "munged.pid"])

    def _controller_alive(self) -> bool:
        pid_file = self.root / "slurmctld.pid"
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        return bool(text) and _pid_alive(int(text))

    def _cancel_all_jobs(self) -> None:
        with contextlib.suppress(SlurmError, OSError):
            self.scancel()
            deadline = time.monotonic() + 10
            while self.squeue() and time.monotonic() < deadline:
                time.sleep(0.1)


def _check_prerequisites() -> None:
    missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
    if missing:
        raise SlurmError(
            f"missing programs {missing}: run `bash scripts/setup_services.sh` (as root) first"
        )
    if os.geteuid() != 0:
        raise SlurmError("the local SLURM cluster needs root (slurmd runs jobs as their user)")


def _start_munge(root: Path) -> Path:
    munge = root / "munge"
    munge.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = munge / "munge.key"
    if not key.exists():
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    sock = munge / "munge.sock"
    subprocess.run(
        [
            "munged",
            "--force",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
            f"--log-file={root / 'log' / 'munged.log'}",
        ],
        check=True,
        capture_output=True,
    )
    return sock


def _wait_until_idle(cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.node_state() == "idle":
            return
        time.sleep(0.1)
    raise SlurmError(
        f"node {cluster.host} not idle after {timeout} s (state {cluster.node_state()!r}):\n"
        + cluster.log_tail()
    )


def start_cluster(root: Path, timeout: float = 30.0) -> SlurmCluster:
    """Start munged, slurmctld and slurmd from ``root``; return once the node is idle.

    Raises :class:`SlurmError` with the daemons' log tails when the node does not come up;
    whatever started is stopped again.
    """
    _check_prerequisites()
    root = root.absolute()
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    cpus, memory = _node_hardware()
    conf = root / "slurm.conf"
    cluster = SlurmCluster(root=root, host=host, conf=conf)
    try:
        munge_socket = _start_munge(root)
        conf.write_text(
            SLURM_CONF_TEMPLATE.format(
                host=host,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                munge_socket=munge_socket,
                root=root,
                cpus=cpus,
                memory=memory,
                partition=PARTITION,
            )
        )
        for daemon in ("slurmctld", "slurmd"):
            result = subprocess.run(
                [daemon, "-f", str(conf)], capture_output=True, text=True, env=cluster.env
            )
            if result.returncode != 0:
                raise SlurmError(f"{daemon} failed to start: {result.stderr}\n{cluster.log_tail()}")
        _wait_until_idle(cluster, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cluster_in(root: Path) -> SlurmCluster:
    """The cluster whose files are in ``root`` (for ``stop`` from another process)."""
    root = root.absolute()
    return SlurmCluster(
        root=root, host=socket.gethostname().split(".")[0], conf=root / "slurm.conf"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A one-node SLURM cluster in a private folder.")
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True, help="folder for all cluster files")
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            cluster = start_cluster(args.dir)
        except SlurmError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"export SLURM_CONF={cluster.conf}")
    else:
        cluster_in(args.dir).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
