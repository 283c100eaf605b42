"""``report/index.html``: what the campaign did and how good its potential is.

Everything comes from the campaign store, so the report can be written at any time, by the
report Firework at the end or by ``pyacemaker-fw report`` while the campaign runs. The newest
potential's files are copied next to the page (``report/potential/``): the one folder a user
needs after a campaign.
"""

from __future__ import annotations

import html
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pyacemaker_fw.campaign.datasets import CLUSTER, PHASE1
from pyacemaker_fw.campaign.summary import dft_calls, label_sources, md_steps
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.models import PotentialRecord
from pyacemaker_fw.core.store import FAILED, LABELLED, CampaignStore
from pyacemaker_fw.report.plots import GammaTrace, plot_bars, plot_gamma_traces, plot_versions
from pyacemaker_fw.validation.report import ValidationReport

INDEX = "index.html"


def write_report(
    config: CampaignConfig, store: CampaignStore, folder: Path, note: str | None = None
) -> Path:
    """Write the report into ``folder``; the path of its index.html."""
    folder.mkdir(parents=True, exist_ok=True)
    potentials = store.potentials()
    sections = [
        _summary(config, store, potentials, note),
        _gamma_section(config, store, folder),
        _dft_section(store, folder),
        _potential_section(store, potentials, folder),
        _validation_section(store, folder),
        _segments_section(store),
    ]
    if potentials:
        _copy_potential(potentials[-1], folder / "potential")
    page = _PAGE.format(title=html.escape(config.name), body="\n".join(sections))
    index = folder / INDEX
    index.write_text(page)
    return index


def _summary(
    config: CampaignConfig,
    store: CampaignStore,
    potentials: list[PotentialRecord],
    note: str | None,
) -> str:
    sources = label_sources(store)
    rows = {
        "elements": ", ".join(config.elements),
        "potential versions": str(len(potentials)),
        "newest potential": f"v{potentials[-1].version} (files in potential/)"
        if potentials
        else "none",
        "learning rounds": str(len(store.records("learning_round"))),
        "DFT calls": str(dft_calls(store)),
        "labelled structures by source": ", ".join(f"{n} {s}" for s, n in sorted(sources.items())),
        "MD steps per walker": ", ".join(str(steps) for steps in md_steps(store).values()) or "0",
    }
    lines = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items())
    warning = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<h2>Summary</h2>{warning}<table>{lines}</table>"


def gamma_traces(store: CampaignStore) -> list[GammaTrace]:
    traces = []
    for record in store.records("md_segment"):
        result = record["outcome"]["result"]
        trace = result.get("trace", [])
        halted = result["status"] in ("halted_uncertain", "halted_ceiling")
        traces.append(
            GammaTrace(
                label=str(record["key"]).replace("/", " "),
                steps=[int(check["step"]) for check in trace],
                gamma_max=[float(check["gamma_max"]) for check in trace],
                gamma_smoothed=[float(check["gamma_smoothed"]) for check in trace],
                halt_step=int(result["step"]) if halted else None,
                halt_kind=result["status"] if halted else None,
            )
        )
    return traces


def _gamma_section(config: CampaignConfig, store: CampaignStore, folder: Path) -> str:
    traces = [trace for trace in gamma_traces(store) if trace.steps]
    if not traces:
        return "<h2>MD</h2><p>No MD has run yet.</p>"
    thresholds = config.thresholds
    plot_gamma_traces(
        traces, thresholds.threshold_add_train, thresholds.threshold_call_dft, folder / "gamma.png"
    )
    return (
        "<h2>Extrapolation grade during MD</h2>"
        "<p>Each colour is one MD segment: thin the largest per-atom γ at each check, thick its "
        f"moving average over {thresholds.smooth_steps} checks. ▼ marks a halt. Single spikes "
        "above the red line do not halt the MD; a sustained rise of the average does.</p>"
        '<img src="gamma.png">'
    )


def _dft_section(store: CampaignStore, folder: Path) -> str:
    counts: Counter[str] = Counter()
    for document in store.structure_documents(status={"$in": [LABELLED, FAILED]}):
        if document["dataset"] == PHASE1:
            counts[f"phase 1 r{document.get('round', 0)}"] += 1
        elif document["dataset"] == CLUSTER:
            counts[f"w{document.get('walker', 0)} it{document.get('iteration', 0)}"] += 1
    if not counts:
        return "<h2>DFT</h2><p>No DFT calls yet.</p>"
    labels = sorted(counts, key=lambda label: (not label.startswith("phase"), label))
    plot_bars(labels, [counts[label] for label in labels], "DFT calls", folder / "dft_calls.png")
    return '<h2>DFT calls per iteration</h2><img src="dft_calls.png">'


def _potential_section(
    store: CampaignStore, potentials: list[PotentialRecord], folder: Path
) -> str:
    if not potentials:
        return "<h2>Potentials</h2><p>No potential yet.</p>"
    versions = [record.version for record in potentials]
    documents = {
        int(d["version"]): d for d in store.db["potentials"].find({"campaign": store.campaign})
    }
    series = {
        "train (fitted atoms)": [record.metrics.force_rmse_train for record in potentials],
        "test split": [record.metrics.force_rmse_test for record in potentials],
        "held-out set": [_holdout(documents.get(v)) for v in versions],
    }
    plot_versions(versions, series, "force RMSE (meV/Å)", folder / "force_rmse.png")
    rows = "".join(_potential_row(record, documents.get(record.version)) for record in potentials)
    return (
        '<h2>Potentials</h2><img src="force_rmse.png">'
        "<table><tr><th>version</th><th>parent</th><th>mode</th><th>structures</th>"
        "<th>force RMSE train / test / held-out (meV/Å)</th><th>fit (s)</th></tr>"
        f"{rows}</table>"
    )


def _holdout(document: dict[str, Any] | None) -> float | None:
    holdout = (document or {}).get("holdout") or {}
    value = holdout.get("force_rmse")
    return None if value is None else float(value)


def _potential_row(record: PotentialRecord, document: dict[str, Any] | None) -> str:
    metrics = record.metrics
    errors = " / ".join(
        "–" if value is None else f"{value:.0f}"
        for value in (metrics.force_rmse_train, metrics.force_rmse_test, _holdout(document))
    )
    seconds = "–" if metrics.wall_seconds is None else f"{metrics.wall_seconds:.0f}"
    return (
        f"<tr><td>v{record.version}</td><td>{record.parent_version or '–'}</td>"
        f"<td>{record.mode}</td><td>{len(record.dataset_ids)}</td><td>{errors}</td>"
        f"<td>{seconds}</td></tr>"
    )


def _validation_section(store: CampaignStore, folder: Path) -> str:
    parts = []
    for record in store.records("validation"):
        verdict = "passed" if record.get("passed") else "FAILED"
        failures = "".join(f"<li>{html.escape(line)}</li>" for line in record.get("failures", []))
        images = ""
        for name, source in (record.get("report", {}).get("plots") or {}).items():
            target = folder / f"{str(record['key']).replace('/', '_')}_{name}.png"
            if Path(source).is_file():
                shutil.copyfile(source, target)
                images += f'<img src="{target.name}">'
        checks = _check_lines(record.get("report") or {})
        parts.append(
            f"<h3>{html.escape(str(record['key']))}: {verdict}</h3><ul>{failures}</ul>"
            f"{checks}{images}"
        )
    return "<h2>Validation</h2>" + ("".join(parts) or "<p>Not validated yet.</p>")


def _check_lines(report: dict[str, Any]) -> str:
    """Every check of a validation report, and the lattice constants when both have one."""
    if not report.get("checks"):
        return ""
    try:
        parsed = ValidationReport.model_validate(report)
    except ValidationError as error:  # a report from another version of the package
        return f"<p>checks not readable: {html.escape(str(error).splitlines()[0])}</p>"
    lines = [check.message() for check in parsed.checks]
    ours, theirs = parsed.model.eos, parsed.reference.eos
    if ours and theirs and ours.lattice_constant and theirs.lattice_constant:
        deviation = ours.lattice_constant / theirs.lattice_constant - 1.0
        lines.insert(
            0,
            f"lattice constant {ours.lattice_constant:.4f} Å vs {theirs.lattice_constant:.4f} Å "
            f"of {parsed.reference_name} ({deviation:+.2%})",
        )
    items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lines)
    return f"<ul>{items}</ul>"


def _segments_section(store: CampaignStore) -> str:
    rows = []
    for record in store.records("md_segment"):
        result = record["outcome"]["result"]
        walker = record["outcome"]["walker"]
        rows.append(
            f"<tr><td>{html.escape(str(record['key']))}</td><td>{walker['step']} → "
            f"{result['step']}</td><td>v{record.get('potential', '?')}</td>"
            f"<td>{result['status']}</td><td>{html.escape(result.get('reason', ''))}</td></tr>"
        )
    return (
        "<h2>MD segments</h2><table><tr><th>segment</th><th>steps</th><th>potential</th>"
        f"<th>ended</th><th>why</th></tr>{''.join(rows)}</table>"
    )


def _copy_potential(record: PotentialRecord, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for source in (record.files.yaml, record.files.yace, record.files.asi):
        if source is not None and Path(source).is_file():
            shutil.copyfile(source, target / Path(source).name)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: pyacemaker-fw report</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; font-size: 0.9em; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
.note {{ background: #fee; border-left: 4px solid #c00; padding: 0.5em 1em; }}
</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""
