"""The campaign commands of ``pyacemaker-fw``: run, build, submit, status and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from pyacemaker_fw.config import CampaignConfig

ConfigArgument = Annotated[Path, typer.Argument(help="Campaign YAML file.")]
LaunchpadOption = Annotated[
    Path | None,
    typer.Option("--launchpad", "-l", help="my_launchpad.yaml; default fireworks.launchpad_file."),
]


def _load(config: Path) -> CampaignConfig:
    from pyacemaker_fw.cli import load_or_exit

    return load_or_exit(config)


def run(
    config: ConfigArgument,
    restart: Annotated[
        bool, typer.Option(help="Delete the campaign folder and start over.")
    ] = False,
    fworker: Annotated[
        Path | None, typer.Option(help="FWorker file whose env resolves '>>key<<' settings.")
    ] = None,
    max_fireworks: Annotated[
        int | None, typer.Option(help="Stop after this many Fireworks (resume later).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run the campaign here, on an embedded LaunchPad kept in the campaign folder; run the
    same command again after an interruption and it carries on."""
    from pyacemaker_fw.fw.progress import ProgressBars
    from pyacemaker_fw.fw.runner import CampaignChanged, run_embedded
    from pyacemaker_fw.site import resolve_site, site_problems

    campaign = _load(config)
    env = _fworker_env(fworker)
    problems = site_problems(resolve_site(campaign, env))
    if problems:
        typer.echo("this machine runs the jobs, and it lacks:", err=True)
        for line in problems:
            typer.echo(f"  - {line}", err=True)
        raise typer.Exit(1)
    if restart and campaign.workdir.exists():
        typer.echo(f"removing {campaign.workdir}")
        shutil.rmtree(campaign.workdir)
    bars = ProgressBars(campaign, enabled=not quiet)
    try:
        summary = run_embedded(campaign, env, bars, max_fireworks)
    except CampaignChanged as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    finally:
        bars.close()
    typer.echo(f"Fireworks: {summary.states}")
    _print_status(campaign, None)
    if not summary.complete:
        raise typer.Exit(0 if max_fireworks is not None else 1)


def _fworker_env(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from fireworks import FWorker

    return dict(FWorker.from_file(str(path)).env or {})


def build(
    config: ConfigArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Workflow file (.yaml/.json).")],
    workdir: Annotated[
        Path | None,
        typer.Option(help="Campaign folder on the cluster's shared storage (default: workdir)."),
    ] = None,
) -> None:
    """Write the campaign's workflow for `lpad add`. Every worker must see its folder."""
    from pyacemaker_fw.fw.workflows import write_workflow

    campaign = _load(config)
    if workdir is not None:
        campaign = campaign.model_copy(update={"workdir": workdir.absolute()})
    write_workflow(campaign, output)
    typer.echo(f"wrote {output}: add it with `lpad -l my_launchpad.yaml add {output}`")


def submit(config: ConfigArgument, launchpad: LaunchpadOption = None) -> None:
    """Add the campaign's workflow to your MongoDB (then `qlaunch rapidfire`)."""
    from pyacemaker_fw.fw.launchpad import get_launchpad
    from pyacemaker_fw.fw.workflows import campaign_workflow

    campaign = _with_launchpad(_load(config), launchpad)
    assert campaign.fireworks.launchpad_file is not None
    pad = get_launchpad(campaign.fireworks.launchpad_file)
    if pad.workflows.find_one({"metadata.campaign": campaign.name}) is not None:
        typer.echo(f"campaign {campaign.name!r} is already in that LaunchPad", err=True)
        raise typer.Exit(1)
    if pad.fw_id_assigner.count_documents({}) == 0:
        # A database FireWorks never used; `lpad reset` would do the same (and drop the rest).
        pad.fw_id_assigner.insert_one({"_id": -1, "next_fw_id": 1, "next_launch_id": 1})
        typer.echo(f"initialised the empty LaunchPad database {pad.name!r}")
    mapping = pad.add_wf(campaign_workflow(campaign))
    typer.echo(f"added campaign {campaign.name!r}: Fireworks {sorted(mapping.values())}")


def _with_launchpad(campaign: CampaignConfig, launchpad: Path | None) -> CampaignConfig:
    path = launchpad.resolve() if launchpad is not None else campaign.fireworks.launchpad_file
    if path is None:
        typer.echo("give --launchpad my_launchpad.yaml or set fireworks.launchpad_file", err=True)
        raise typer.Exit(2)
    fireworks = campaign.fireworks.model_copy(update={"launchpad_file": path})
    return campaign.model_copy(update={"fireworks": fireworks})


def status(
    config: ConfigArgument,
    launchpad: LaunchpadOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Where the campaign stands: phase, Fireworks, DFT calls, potentials, gamma, disk use."""
    campaign = _load(config)
    if as_json:
        typer.echo(json.dumps(_status(campaign, launchpad).model_dump(mode="json"), indent=2))
        return
    _print_status(campaign, launchpad)


def report(config: ConfigArgument, launchpad: LaunchpadOption = None) -> None:
    """Write report/index.html (with plots) in the campaign folder."""
    from pyacemaker_fw.fw.env import layout
    from pyacemaker_fw.report import write_report

    campaign = _load(config)
    _, store = _open(campaign, launchpad)
    index = write_report(campaign, store, layout(campaign).report)
    typer.echo(f"wrote {index}")


def _open(campaign: CampaignConfig, launchpad: Path | None) -> tuple[Any, Any]:
    """The campaign's LaunchPad and store: the given or configured MongoDB, or the embedded
    snapshot in the campaign folder (read, never written)."""
    from pyacemaker_fw.core.store import CampaignStore
    from pyacemaker_fw.fw.env import layout

    path = launchpad or campaign.fireworks.launchpad_file
    if path is not None:
        from pyacemaker_fw.fw.launchpad import get_launchpad

        pad = get_launchpad(path)
        return pad, CampaignStore(pad.db, campaign.name)
    snapshot = layout(campaign).launchpad_snapshot
    if not snapshot.is_file():
        typer.echo(f"no campaign has run in {campaign.workdir} ({snapshot} is missing)", err=True)
        raise typer.Exit(1)
    from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad

    session = EmbeddedLaunchPad(snapshot, read_only=True)
    return session.launchpad, CampaignStore(session.db, campaign.name)


def _status(campaign: CampaignConfig, launchpad: Path | None) -> Any:
    from pyacemaker_fw.fw.status import campaign_status

    pad, store = _open(campaign, launchpad)
    return campaign_status(campaign, pad, store)


def _print_status(campaign: CampaignConfig, launchpad: Path | None) -> None:
    state = _status(campaign, launchpad)
    potential = state.potential_versions[-1] if state.potential_versions else None
    lines = [
        f"campaign {state.campaign}: {state.phase}",
        f"  Fireworks: {', '.join(f'{n} {s}' for s, n in sorted(state.fireworks.items()))}",
        f"  learning rounds: {state.iterations}; DFT calls: {state.dft_calls}",
        f"  labelled: {', '.join(f'{n} {s}' for s, n in sorted(state.labelled_by_source.items()))}",
        f"  MD steps: {state.md_steps or 'none yet'}",
        f"  disk: {state.disk_bytes / 1e6:.1f} MB in {campaign.workdir}",
    ]
    if potential is not None:
        rmse = potential.force_rmse_test or potential.force_rmse_train
        lines.insert(
            3,
            f"  potential: v{potential.version} ({potential.mode}), force RMSE "
            f"{'–' if rmse is None else f'{rmse:.0f}'} meV/Å",
        )
    if state.last_gamma:
        readings = ", ".join(f"{g['step']}: {g['gamma_max']:.2f}" for g in state.last_gamma)
        lines.append(f"  last gamma (step: max): {readings}")
    lines += [f"  problem: {line}" for line in state.problems]
    typer.echo("\n".join(lines))


def launchers(
    folder: Annotated[Path, typer.Argument(help="Where to write the launcher files.")],
    launchpad: Annotated[Path, typer.Option("--launchpad", "-l", help="my_launchpad.yaml.")],
    queue: Annotated[str, typer.Option(help="slurm or pbs.")] = "slurm",
    rocket: Annotated[
        str, typer.Option(help="singleshot (one Firework per job) or rapidfire.")
    ] = "singleshot",
) -> None:
    """Write this site's FWorkers (one per category) and queue adapters, with absolute paths
    so that jobs find them from any launch folder."""
    import sys

    from pyacemaker_fw.launchers import write_launchers

    try:
        written = write_launchers(
            folder, launchpad, Path(sys.prefix), queue=cast(Any, queue), rocket=cast(Any, rocket)
        )
    except (ValueError, FileNotFoundError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for category, qadapter in written.qadapters.items():
        fworker = written.fworkers[category]
        typer.echo(
            f"qlaunch -l {launchpad} -w {fworker} -q {qadapter} rapidfire --nlaunches infinite"
        )
