from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pyacemaker_fw.cli import app

runner = CliRunner()


def test_init_writes_a_config_that_validates(tmp_path: Path) -> None:
    path = tmp_path / "si.yaml"
    assert runner.invoke(app, ["init", str(path)]).exit_code == 0
    assert path.read_text().startswith("# pyacemaker-fw campaign")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "si.yaml"
    path.write_text("mine")
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 1
    assert path.read_text() == "mine"


def test_validate_lists_every_problem_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nelements: [Si]\n"
        "cutout: {core_radius: 5, buffer_radius: 4}\n"
        "md: {ensemble: nxt, temperature: true}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "3 problem(s)" in result.output
    assert "cutout.buffer_radius: 4.0 must exceed core_radius (5.0)" in result.output
    assert "md.ensemble" in result.output and "md.temperature" in result.output
    assert "Traceback" not in result.output


def test_validate_reports_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "mapping" in result.output


def test_validate_warns_about_site_files_by_field_and_passes(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "name: site\nelements: [Si]\n"
        f"oracle: {{qe: {{pseudo_dir: {tmp_path / 'none'}}}, mace: {{model_paths: [a.model]}}}}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: oracle.qe.pseudo_dir: pseudopotential 'Si.pbe-rrkj.UPF'" in result.output
    assert "warning: oracle.mace.model_paths: MACE model file" in result.output


def test_validate_accepts_site_values_from_the_worker_env(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        "name: env\nelements: [Si]\n"
        "oracle: {qe: {command: '>>pw_cmd<<', pseudo_dir: '>>pseudo_dir<<'},"
        " mace: {model_paths: '>>mace_models<<'}}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
