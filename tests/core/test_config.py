from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pyacemaker_fw.config import CampaignConfig, ConfigError, load_config

MINIMAL: dict[str, Any] = {"name": "si", "elements": ["Si"]}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


BAD_VALUES = [
    pytest.param(
        {"cutout": {"core_radius": 5.0, "buffer_radius": 4.0}},
        "cutout.buffer_radius",
        "must exceed core_radius (5.0)",
        id="buffer-inside-core",
    ),
    pytest.param(
        {"cutout": {"core_radius": -1.0}},
        "cutout.core_radius",
        "greater than 0",
        id="negative-core",
    ),
    pytest.param(
        {"thresholds": {"threshold_add_train": 30.0}},
        "thresholds.threshold_add_train",
        "must be below threshold_call_dft",
        id="add-above-call",
    ),
    pytest.param(
        {"thresholds": {"hard_ceiling": 10.0}},
        "thresholds.hard_ceiling",
        "must exceed threshold_call_dft",
        id="ceiling-below-call",
    ),
    pytest.param(
        {"thresholds": {"smooth_steps": 0}},
        "thresholds.smooth_steps",
        "greater than or equal to 1",
        id="zero-smoothing",
    ),
    pytest.param({"elements": ["Si", "Qq"]}, "elements", "Qq", id="unknown-element"),
    pytest.param(
        {"elements": ["C"]},
        "oracle.qe.pseudopotentials",
        "no entry for C",
        id="missing-pseudo",
    ),
    pytest.param(
        {"md": {"ensemble": "nxt"}}, "md.ensemble", "'nve', 'nvt' or 'npt'", id="bad-ensemble"
    ),
    pytest.param(
        {"md": {"timestep": 0.1}},
        "md.timestep",
        "less than or equal to 0.01",
        id="timestep-too-long",
    ),
    pytest.param(
        {"md": {"initial_structure": "absent.xyz"}},
        "md.initial_structure",
        "does not exist",
        id="structure-missing",
    ),
    pytest.param(
        {"loop": {"update_mode": "delta"}},
        "loop.update_mode",
        "'incremental' or 'scratch'",
        id="bad-update-mode",
    ),
    pytest.param(
        {"loop": {"new_fraction": 1.5}},
        "loop.new_fraction",
        "less than or equal to 1",
        id="mix-above-one",
    ),
    pytest.param(
        {"distillation": {"n_select": 500, "pool_size": 100}},
        "distillation.n_select",
        "must not exceed pool_size (100)",
        id="select-more-than-pool",
    ),
    pytest.param({"trainer": {"kappa": 1.0}}, "trainer.kappa", "less than 1", id="kappa-one"),
    pytest.param(
        {"cutout": {"typo_radius": 3.0}}, "cutout.typo_radius", "Extra inputs", id="unknown-key"
    ),
]


@pytest.mark.parametrize(("patch", "field", "message"), BAD_VALUES)
def test_bad_value_names_its_field(
    tmp_path: Path, patch: dict[str, Any], field: str, message: str
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = caught.value.problems
    assert any(line.startswith(f"{field}:") and message in line for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    patch = {
        "cutout": {"core_radius": 5.0, "buffer_radius": 4.0},
        "md": {"ensemble": "nxt"},
        "oracle": {"qe": {"ecutwfc": -1}},
    }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    fields = {line.split(":")[0] for line in caught.value.problems}
    assert fields == {"cutout.buffer_radius", "md.ensemble", "oracle.qe.ecutwfc"}


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "start.xyz").write_text("1\n\nSi 0 0 0\n")
    path = tmp_path / "sub" / "campaign.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(_merge(MINIMAL, {"md": {"initial_structure": "../start.xyz"}})))
    config = load_config(path)
    assert config.md.initial_structure is not None
    assert config.md.initial_structure.resolve() == (tmp_path / "start.xyz").resolve()
    assert config.workdir == path.parent / "runs"


def test_defaults_are_consistent_and_round_trip_through_json() -> None:
    config = CampaignConfig.model_validate(MINIMAL)
    assert config.thresholds.threshold_add_train < config.thresholds.threshold_call_dft
    assert config.cutout.buffer_radius > config.cutout.core_radius
    again = CampaignConfig.model_validate(config.model_dump(mode="json"))
    assert again == config


def test_example_config_is_valid() -> None:
    from importlib.resources import files

    text = files("pyacemaker_fw.data").joinpath("si_campaign.yaml").read_text()
    config = CampaignConfig.model_validate(yaml.safe_load(text))
    assert config.elements == ["Si"]
    assert config.oracle.qe.pseudopotentials["Si"] == "Si.pbe-rrkj.UPF"


BOOLEANS_AS_NUMBERS = [
    {"oracle": {"qe": {"degauss": True}}},
    {"oracle": {"qe": {"ecutwfc": True}}},
    {"loop": {"surrogates_per_structure": True}},
    {"validation": {"md_temperature": True}},
    {"md": {"temperature": True}},
    {"md": {"supercell": [True, 2, 2]}},
    {"thresholds": {"smooth_steps": False}},
    {"cutout": {"bond_lengths": {"Si": True}}},
    {"distillation": {"rattle_amplitudes": [0.02, True]}},
]


@pytest.mark.parametrize("patch", BOOLEANS_AS_NUMBERS)
def test_a_boolean_is_not_a_number(tmp_path: Path, patch: dict[str, Any]) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (line,) = caught.value.problems
    assert ("valid" in line and "(got True)" in line) or "(got False)" in line, line


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"md": {"temperature": 1e300}}, "md.temperature"),
        ({"oracle": {"qe": {"ecutwfc": 1e300}}}, "oracle.qe.ecutwfc"),
        ({"cutout": {"buffer_radius": 500.0}}, "cutout.buffer_radius"),
        ({"trainer": {"cutoff": 0.5}}, "trainer.cutoff"),
        ({"loop": {"total_md_steps": 0}}, "loop.total_md_steps"),
    ],
)
def test_physical_quantities_have_sane_bounds(
    tmp_path: Path, patch: dict[str, Any], field: str
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [line.split(":")[0] for line in caught.value.problems] == [field]


def test_a_failing_field_does_not_hide_its_sections_cross_field_rules(tmp_path: Path) -> None:
    patch = {
        "thresholds": {"smooth_steps": -3, "threshold_add_train": 5.0, "threshold_call_dft": 2.0}
    }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    fields = [line.split(":")[0] for line in caught.value.problems]
    assert fields == ["thresholds.smooth_steps", "thresholds.threshold_add_train"]


def test_a_rule_about_an_invalid_field_is_not_reported_twice(tmp_path: Path) -> None:
    # threshold_call_dft is itself invalid: comparing add_train with its default would mislead.
    patch = {"thresholds": {"threshold_call_dft": True, "threshold_add_train": 30.0}}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(_merge(MINIMAL, patch)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [line.split(":")[0] for line in caught.value.problems] == [
        "thresholds.threshold_call_dft"
    ]
