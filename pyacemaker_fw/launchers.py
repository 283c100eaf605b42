"""FireWorks launcher files for a site: FWorkers per category and SLURM or PBS queue adapters.

The job script that ``qlaunch`` writes changes into the block's launch folder before it runs
``pre_rocket`` and ``rocket_launch``, so every path in those lines must be absolute. This
module writes a ready set with the site's own absolute paths:

- ``my_fworker.yaml``: a worker for every Firework (no category), with the full ``env``;
- ``fworker_<category>.yaml``: one worker per ``_category`` (``dft``, ``md``, ``train``,
  ``light``) that pulls only the Fireworks of its category;
- ``my_qadapter_<queue>.yaml`` and ``qadapter_<queue>_<category>.yaml``: FireWorks
  ``CommonAdapter`` files whose job runs ``rlaunch`` with the matching FWorker and the
  LaunchPad file, by absolute path, from the site's virtualenv.

Use a category's FWorker and queue adapter together:
``qlaunch -l my_launchpad.yaml -w site/fworker_dft.yaml -q site/qadapter_slurm_dft.yaml
rapidfire``. No fireworks import here: the files are plain YAML.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

QueueKind = Literal["slurm", "pbs"]
RocketMode = Literal["singleshot", "rapidfire"]

CATEGORIES: tuple[str, ...] = ("dft", "md", "train", "light")
"""The ``_category`` of every Firework the campaign builds."""

ENV_KEYS: dict[str, str] = {
    "pw_cmd": "argv list that runs pw.x, e.g. [srun, pw.x] or [mpirun, -np, '16', pw.x]",
    "mpi_cmd": "argv prefix put before pw_cmd (oracle.qe.mpi_command); [] for none",
    "pseudo_dir": "folder of the UPF pseudopotentials",
    "mace_models": "list of local MACE model files (several make a committee)",
    "launchpad_file": "absolute path of my_launchpad.yaml, so tasks open the campaign store",
}
"""The FWorker ``env`` keys the FireTasks read through ``env_chk`` (``'>>key<<'``): the values
of :data:`pyacemaker_fw.site.SITE_FIELDS`."""

_DEFAULT_PW_CMD: dict[str, tuple[str, ...]] = {"slurm": ("srun", "pw.x"), "pbs": ("mpirun", "pw.x")}
_CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_WALLTIME_PATTERN = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class SiteEnv:
    """Site values that go into every FWorker's ``env``."""

    pw_cmd: Sequence[str] = ("srun", "pw.x")
    mpi_cmd: Sequence[str] = ()
    pseudo_dir: Path = Path("/usr/share/espresso/pseudo")
    mace_models: Sequence[Path] = ()


@dataclass(frozen=True)
class QueueResources:
    """What one job of a category asks the queue for.

    ``extra`` holds further keys of FireWorks' SLURM or PBS template (``mem``, ``qos``,
    ``gres``, ``pmem`` ...), written as they are.
    """

    nodes: int = 1
    ntasks: int = 1
    walltime: str = "01:00:00"
    queue: str | None = None
    account: str | None = None
    extra: Mapping[str, str | int] = field(default_factory=dict)


DEFAULT_RESOURCES: dict[str, QueueResources] = {
    "dft": QueueResources(ntasks=16, walltime="12:00:00"),
    "md": QueueResources(ntasks=1, walltime="24:00:00"),
    # One fitting process that threads over its allocation.
    "train": QueueResources(ntasks=8, walltime="12:00:00"),
    "light": QueueResources(ntasks=1, walltime="01:00:00"),
}
"""Per-category defaults; categories not listed get ``QueueResources()``."""


@dataclass(frozen=True)
class LauncherSet:
    """The files :func:`write_launchers` wrote, by category (``""`` is the generic pair)."""

    folder: Path
    fworkers: dict[str, Path]
    qadapters: dict[str, Path]


def write_launchers(
    folder: Path,
    launchpad_file: Path,
    venv: Path,
    *,
    queue: QueueKind = "slurm",
    categories: Sequence[str] = CATEGORIES,
    site: SiteEnv | None = None,
    resources: Mapping[str, QueueResources] | None = None,
    rocket: RocketMode = "singleshot",
    setup_lines: Sequence[str] = (),
    target_folder: Path | None = None,
    check_paths: bool = True,
) -> LauncherSet:
    """Write FWorker and queue-adapter YAML files for this site into ``folder``.

    ``site`` defaults to ``SiteEnv()`` with ``pw_cmd`` ``[srun, pw.x]`` under SLURM and
    ``[mpirun, pw.x]`` under PBS. ``launchpad_file`` and ``venv`` are made absolute and
    written as they are; with ``check_paths`` they must exist (``venv/bin/rlaunch`` too).
    ``resources`` overrides :data:`DEFAULT_RESOURCES` per category. ``rocket`` is what each
    job runs: one Firework (``singleshot``) or every ready Firework of its category until the
    walltime nears (``rapidfire``). ``setup_lines`` go into each job script before
    ``rlaunch``, after the venv is activated (``module load ...``). ``target_folder`` is where
    the files will be used from when that is not ``folder`` (written here, copied to a
    cluster); paths inside the files point there. Existing files of the same names are
    replaced.
    """
    if queue not in ("slurm", "pbs"):
        raise ValueError(f"queue: {queue!r} is not one of 'slurm', 'pbs'")
    if rocket not in ("singleshot", "rapidfire"):
        raise ValueError(f"rocket: {rocket!r} is not one of 'singleshot', 'rapidfire'")
    _check_categories(categories)
    launchpad_file, venv = launchpad_file.absolute(), venv.absolute()
    if check_paths:
        _check_site_paths(launchpad_file, venv)
    folder = folder.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    target = (target_folder or folder).absolute()
    site = site or SiteEnv(pw_cmd=_DEFAULT_PW_CMD[queue])
    chosen = {**DEFAULT_RESOURCES, **(resources or {})}
    fworkers: dict[str, Path] = {}
    qadapters: dict[str, Path] = {}
    for category in ("", *categories):
        fworker_name = f"fworker_{category}.yaml" if category else "my_fworker.yaml"
        fworker = folder / fworker_name
        fworker.write_text(fworker_yaml(category, launchpad_file, site))
        qadapter = folder / (
            f"qadapter_{queue}_{category}.yaml" if category else f"my_qadapter_{queue}.yaml"
        )
        job = _JobSpec(
            category=category,
            fworker=target / fworker_name,
            launchpad_file=launchpad_file,
            venv=venv,
            resources=chosen.get(category, QueueResources()),
            rocket=rocket,
            setup_lines=tuple(setup_lines),
            logdir=target / "logs",
        )
        qadapter.write_text(qadapter_yaml(queue, job))
        fworkers[category], qadapters[category] = fworker, qadapter
    (folder / "logs").mkdir(exist_ok=True)
    return LauncherSet(folder=folder, fworkers=fworkers, qadapters=qadapters)


def _check_categories(categories: Sequence[str]) -> None:
    if isinstance(categories, str):
        raise ValueError(f"categories: give a list of names, not the string {categories!r}")
    for category in categories:
        if not _CATEGORY_PATTERN.match(category):
            raise ValueError(
                f"categories: {category!r} is not a lower-case name such as 'dft' or 'md'"
            )
    if len(set(categories)) != len(categories):
        raise ValueError(f"categories: {list(categories)} lists a category twice")


def _check_site_paths(launchpad_file: Path, venv: Path) -> None:
    if not launchpad_file.is_file():
        raise ValueError(f"launchpad_file: {str(launchpad_file)!r} does not exist")
    if not (venv / "bin" / "rlaunch").is_file():
        raise ValueError(
            f"venv: {str(venv)!r} has no bin/rlaunch; give the virtualenv that has FireWorks"
        )


def fworker_yaml(category: str, launchpad_file: Path, site: SiteEnv) -> str:
    """One FWorker file: ``category`` ``""`` pulls every Firework, otherwise only its own."""
    env: dict[str, object] = {
        "pw_cmd": list(site.pw_cmd),
        "mpi_cmd": list(site.mpi_cmd),
        "pseudo_dir": str(site.pseudo_dir),
        "mace_models": [str(path) for path in site.mace_models],
        "launchpad_file": str(launchpad_file),
    }
    routing = (
        f"Pulls only Fireworks whose spec has _category: {category}."
        if category
        else "No category: pulls every Firework, whatever its _category."
    )
    lines = [
        "# FireWorks FWorker written by pyacemaker_fw.launchers.write_launchers.",
        f"# {routing}",
        "# FireTasks read `env` through env_chk: a config value '>>pw_cmd<<' takes env.pw_cmd.",
        f"name: {_flow('pyacemaker_' + (category or 'any'))}",
        f"category: {_flow(category)}",
        "query: '{}'",
        "env:",
    ]
    for key, value in env.items():
        lines.append(f"  # {ENV_KEYS[key]}")
        lines.append(f"  {key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _JobSpec:
    category: str
    fworker: Path
    launchpad_file: Path
    venv: Path
    resources: QueueResources
    rocket: RocketMode
    setup_lines: tuple[str, ...]
    logdir: Path


def qadapter_yaml(queue: QueueKind, job: _JobSpec) -> str:
    """One CommonAdapter file whose jobs run ``rlaunch`` with the matching FWorker."""
    rlaunch = " ".join(
        shlex.quote(str(part))
        for part in (job.venv / "bin" / "rlaunch", "-l", job.launchpad_file, "-w", job.fworker)
    )
    rocket = f"{rlaunch} {_rocket_arguments(job.rocket, job.resources.walltime)}"
    pre_rocket = [
        f". {shlex.quote(str(job.venv / 'bin' / 'activate'))}",
        "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}",
        *job.setup_lines,
    ]
    fields: dict[str, object] = {
        "_fw_name": "CommonAdapter",
        "_fw_q_type": queue.upper(),
        "rocket_launch": rocket,
        **_resource_fields(queue, job.resources),
        "job_name": f"pyace_{job.category or 'any'}",
        "pre_rocket": "\n".join(pre_rocket),
        "post_rocket": None,
        "logdir": str(job.logdir),
    }
    what = f"Fireworks of _category {job.category}" if job.category else "any Firework"
    lines = [
        "# FireWorks CommonAdapter written by pyacemaker_fw.launchers.write_launchers.",
        f"# Each job runs {job.rocket} rlaunch for {what}, with {job.fworker.name};",
        "# every path is absolute because the job script first changes into its launch folder.",
        f"# Use: qlaunch -l LAUNCHPAD -w {job.fworker} -q THIS_FILE rapidfire",
    ]
    lines += [f"{key}: {_flow(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def _rocket_arguments(rocket: RocketMode, walltime: str) -> str:
    if rocket == "singleshot":
        return "singleshot"
    # Leave a tenth of the walltime (at least 5 min) for the last Firework to finish.
    seconds = walltime_seconds(walltime)
    budget = max(seconds - max(seconds // 10, 300), 60)
    return f"rapidfire --nlaunches 0 --max_loops 1 --sleep 10 --timeout {budget}"


def walltime_seconds(walltime: str) -> int:
    """Seconds in a queue walltime ``[D-]HH:MM:SS``."""
    if not _WALLTIME_PATTERN.match(walltime):
        raise ValueError(f"walltime: {walltime!r} is not of the form [D-]HH:MM:SS")
    days, _, clock = walltime.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 3600 + minutes * 60 + seconds


def _resource_fields(queue: QueueKind, resources: QueueResources) -> dict[str, object]:
    walltime_seconds(resources.walltime)
    if resources.nodes < 1 or resources.ntasks < 1:
        raise ValueError(
            f"resources: nodes ({resources.nodes}) and ntasks ({resources.ntasks}) must be >= 1"
        )
    if queue == "slurm":
        counts: dict[str, object] = {"nodes": resources.nodes, "ntasks": resources.ntasks}
    else:
        per_node = -(-resources.ntasks // resources.nodes)
        counts = {"nnodes": resources.nodes, "ppnode": per_node}
    return {
        **counts,
        "walltime": resources.walltime,
        "queue": resources.queue,
        "account": resources.account,
        **resources.extra,
    }


def _flow(value: object) -> str:
    """A YAML value on one line. JSON is valid YAML; block text keeps its lines readable."""
    if isinstance(value, str) and "\n" in value:
        return "|\n" + "\n".join(f"  {line}" for line in value.splitlines())
    return json.dumps(value)


EXAMPLE_HOME = Path("/home/USER")
"""Where the shipped examples in ``launchers/`` pretend the user's files are."""


def write_shipped_examples(folder: Path) -> None:
    """The repository's ``launchers/``: the SLURM set, and the PBS set in ``pbs/``.

    Written for a checkout at ``/home/USER/pyacemaker-fw``; a site writes its own with
    :func:`write_launchers`.
    """
    checkout = EXAMPLE_HOME / "pyacemaker-fw"
    sets: tuple[tuple[QueueKind, str], ...] = (("slurm", ""), ("pbs", "pbs"))
    for queue, subfolder in sets:
        write_launchers(
            folder / subfolder,
            EXAMPLE_HOME / "my_launchpad.yaml",
            checkout / ".venv",
            queue=queue,
            target_folder=checkout / "launchers" / subfolder,
            check_paths=False,
        )
