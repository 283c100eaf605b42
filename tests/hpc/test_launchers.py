"""The launcher files that write_launchers makes, read back by FireWorks' own loaders."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import pytest
from fireworks import FWorker
from fireworks.utilities.fw_serializers import load_object_from_file

from pyacemaker_fw.launchers import (
    CATEGORIES,
    ENV_KEYS,
    QueueResources,
    SiteEnv,
    walltime_seconds,
    write_launchers,
    write_shipped_examples,
)
from tests.hpc.conftest import FW_BIN, REPO

VENV = FW_BIN.parent


@pytest.fixture
def launchpad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "my_launchpad.yaml"
    path.write_text("host: mongodb://127.0.0.1:1/\nuri_mode: true\nname: x\n")
    return path


def test_each_category_gets_an_fworker_that_routes_only_its_fireworks(
    tmp_path: Path, launchpad_yaml: Path
) -> None:
    models = (tmp_path / "a.model", tmp_path / "b.model")
    site = SiteEnv(pw_cmd=("mpirun", "-np", "4", "pw.x"), mace_models=models)
    written = write_launchers(tmp_path / "site", launchpad_yaml, VENV, site=site)
    assert set(written.fworkers) == {"", *CATEGORIES}
    for category, path in written.fworkers.items():
        fworker = FWorker.from_file(str(path))
        assert fworker.category == category
        if category:
            assert fworker.query["spec._category"] == category
        else:
            assert "spec._category" not in fworker.query
        assert set(fworker.env) == set(ENV_KEYS)
        assert fworker.env["pw_cmd"] == ["mpirun", "-np", "4", "pw.x"]
        assert fworker.env["mace_models"] == [str(model) for model in models]
        assert fworker.env["launchpad_file"] == str(launchpad_yaml)


@pytest.mark.parametrize("queue", ["slurm", "pbs"])
def test_job_scripts_use_absolute_paths_and_the_matching_fworker(
    tmp_path: Path, launchpad_yaml: Path, queue: str
) -> None:
    written = write_launchers(tmp_path / "site", launchpad_yaml, VENV, queue=queue)  # type: ignore[arg-type]
    launch_dir = tmp_path / "far" / "away"
    for category, path in written.qadapters.items():
        adapter = load_object_from_file(str(path))
        assert adapter.q_type == queue.upper()
        script = adapter.get_script_str(str(launch_dir))
        rlaunch = f"{VENV}/bin/rlaunch -l {launchpad_yaml} -w {written.fworkers[category]}"
        assert f"{rlaunch} singleshot" in script
        assert f". {VENV}/bin/activate" in script
        # The job changes into the launch folder before rlaunch runs.
        assert script.index(f"cd {launch_dir}") < script.index(rlaunch)
    dft = load_object_from_file(str(written.qadapters["dft"])).get_script_str(str(launch_dir))
    expected = "#SBATCH --ntasks=16" if queue == "slurm" else "#PBS -l nodes=1:ppn=16"
    assert expected in dft


def test_rapidfire_jobs_stop_pulling_before_their_walltime(
    tmp_path: Path, launchpad_yaml: Path
) -> None:
    written = write_launchers(
        tmp_path,
        launchpad_yaml,
        VENV,
        categories=["md"],
        resources={"md": QueueResources(walltime="1-00:00:00")},
        rocket="rapidfire",
    )
    rocket = load_object_from_file(str(written.qadapters["md"]))["rocket_launch"]
    assert rocket.endswith("rapidfire --nlaunches 0 --max_loops 1 --sleep 10 --timeout 77760")
    assert walltime_seconds("1-00:00:00") == 86_400


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"queue": "lsf"}, "queue: 'lsf'"),
        ({"categories": "dft"}, "categories: give a list"),
        ({"categories": ["DFT"]}, "categories: 'DFT'"),
        ({"categories": ["dft", "dft"]}, "lists a category twice"),
        ({"rocket": "multi"}, "rocket: 'multi'"),
        ({"resources": {"dft": QueueResources(walltime="12h")}}, "walltime: '12h'"),
        ({"resources": {"dft": QueueResources(ntasks=0)}}, "ntasks (0) must be >= 1"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    tmp_path: Path, launchpad_yaml: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_launchers(tmp_path, launchpad_yaml, VENV, **change)  # type: ignore[arg-type]


def test_missing_site_paths_are_refused(tmp_path: Path, launchpad_yaml: Path) -> None:
    with pytest.raises(ValueError, match=r"launchpad_file: .* does not exist"):
        write_launchers(tmp_path, tmp_path / "absent.yaml", VENV)
    with pytest.raises(ValueError, match=r"venv: .* has no bin/rlaunch"):
        write_launchers(tmp_path, launchpad_yaml, tmp_path)


def test_shipped_launchers_are_what_the_generator_writes(tmp_path: Path) -> None:
    write_shipped_examples(tmp_path)
    for generated in sorted(tmp_path.rglob("*.yaml")):
        shipped = REPO / "launchers" / generated.relative_to(tmp_path)
        assert shipped.is_file(), f"{shipped} is missing: run write_shipped_examples"
        assert filecmp.cmp(generated, shipped, shallow=False), f"{shipped} is out of date"
    shipped_names = {
        p.relative_to(REPO / "launchers") for p in (REPO / "launchers").rglob("*.yaml")
    }
    assert shipped_names == {p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml")}
