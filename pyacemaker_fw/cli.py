"""The ``pyacemaker-fw`` command line: thin wrappers around library functions."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
import yaml

from pyacemaker_fw import campaign_cli
from pyacemaker_fw.config import CampaignConfig, ConfigError, ConfigFileError, load_config

app = typer.Typer(
    help="Active-learning ACE potentials, distilled from MACE and Quantum ESPRESSO.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXAMPLE_CONFIG = "si_campaign.yaml"


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path(
        "campaign.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example campaign config for silicon."""
    if path.exists() and not force:
        typer.echo(f"{path} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files("pyacemaker_fw.data").joinpath(EXAMPLE_CONFIG).read_text())
    typer.echo(f"wrote {path}")


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Campaign YAML file.")]) -> None:
    """Check a campaign config and report every problem at once (site files as warnings)."""
    from pyacemaker_fw.site import site_problems

    campaign = load_or_exit(config)
    warnings = site_problems(campaign)
    for line in warnings:
        typer.echo(f"  warning: {line}", err=True)
    if warnings:
        typer.echo(
            "(site settings are checked again where each job runs; a worker may have them)",
            err=True,
        )
    typer.echo(f"{config}: OK (campaign {campaign.name!r}, elements {campaign.elements})")


def load_or_exit(config: Path) -> CampaignConfig:
    """The config, or every problem printed (one line each, naming the field) and exit 1."""
    try:
        return load_config(config)
    except FileNotFoundError:
        typer.echo(f"{config}: no such file", err=True)
        raise typer.Exit(2) from None
    except ConfigError as exc:
        problems = exc.problems
    except (ConfigFileError, yaml.YAMLError) as exc:
        problems = [str(exc)]
    typer.echo(f"{config}: {len(problems)} problem(s)", err=True)
    for line in problems:
        typer.echo(f"  - {line}", err=True)
    raise typer.Exit(1)


@app.command()
def doctor(
    launchpad: Annotated[
        Path | None, typer.Option(help="my_launchpad.yaml to test; default in-process mongomock.")
    ] = None,
) -> None:
    """Check that every engine is installed and usable."""
    from pyacemaker_fw.doctor import format_table, run_checks

    checks = run_checks(launchpad)
    typer.echo(format_table(checks))
    missing = [check.engine for check in checks if check.required and not check.ok]
    if missing:
        typer.echo(f"\nmissing: {', '.join(missing)}", err=True)
        raise typer.Exit(1)
    typer.echo("\nall engines OK")


app.command()(campaign_cli.run)
app.command()(campaign_cli.build)
app.command()(campaign_cli.submit)
app.command()(campaign_cli.status)
app.command()(campaign_cli.report)
app.command()(campaign_cli.launchers)


if __name__ == "__main__":  # pragma: no cover
    app()
