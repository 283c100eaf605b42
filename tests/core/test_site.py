"""Site settings travel as '>>key<<' and are resolved from the FWorker env where jobs run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.site import SiteError, resolve_site, site_problems

ON_THE_WORKER = {
    "name": "si",
    "elements": ["Si"],
    "oracle": {
        "qe": {"command": ">>pw_cmd<<", "mpi_command": ">>mpi_cmd<<", "pseudo_dir": ">>pseudo<<"},
        "mace": {"model_paths": ">>mace_models<<"},
    },
}


def test_env_chk_values_come_from_the_worker_env(tmp_path: Path) -> None:
    config = CampaignConfig.model_validate(ON_THE_WORKER)
    env = {
        "pw_cmd": ["srun", "pw.x"],
        "mpi_cmd": [],
        "pseudo": str(tmp_path),
        "mace_models": ["/models/a.model", "/models/b.model"],
    }
    resolved = resolve_site(config, env)
    assert resolved.oracle.qe.command == ["srun", "pw.x"]
    assert resolved.oracle.qe.mpi_argv() == []
    assert resolved.oracle.qe.pseudo_dir == tmp_path
    assert resolved.oracle.mace.model_files() == ["/models/a.model", "/models/b.model"]
    # the science is untouched, and the travelling config still says where values come from
    assert resolved.thresholds == config.thresholds
    assert config.oracle.qe.pseudo_dir == Path(">>pseudo<<")


def test_a_missing_env_key_names_the_field_and_the_key() -> None:
    config = CampaignConfig.model_validate(ON_THE_WORKER)
    with pytest.raises(SiteError, match=r"oracle\.qe\.pseudo_dir is '>>pseudo<<'.*no 'pseudo'"):
        resolve_site(config, {"pw_cmd": ["pw.x"], "mpi_cmd": [], "mace_models": []})


def test_an_unresolved_site_value_is_refused_where_it_is_used() -> None:
    config = CampaignConfig.model_validate(ON_THE_WORKER)
    with pytest.raises(ValueError, match=r"oracle\.mace\.model_paths is '>>mace_models<<'"):
        config.oracle.mace.model_files()
    with pytest.raises(ValueError, match=r"oracle\.qe\.mpi_command"):
        config.oracle.qe.mpi_argv()


def test_site_problems_name_each_field_and_skip_worker_values(tmp_path: Path) -> None:
    local = CampaignConfig.model_validate(
        {
            "name": "si",
            "elements": ["Si"],
            "cutout": {"mode": "cluster"},  # H caps need an H pseudopotential too
            "oracle": {
                "qe": {"pseudo_dir": str(tmp_path), "command": ["no-such-pw.x"]},
                "mace": {"model_paths": [str(tmp_path / "absent.model")]},
            },
        }
    )
    fields = sorted(line.split(":")[0] for line in site_problems(local))
    assert fields == [
        "oracle.mace.model_paths",
        "oracle.qe.command",
        "oracle.qe.pseudo_dir",
        "oracle.qe.pseudo_dir",  # Si, and the H of the cutout's caps
    ]
    remote = CampaignConfig.model_validate(ON_THE_WORKER)
    assert site_problems(remote) == []


def test_a_command_must_be_an_argv_list_or_an_env_reference() -> None:
    with pytest.raises(ValueError, match=r"argv list"):
        CampaignConfig.model_validate(
            {"name": "si", "elements": ["Si"], "oracle": {"qe": {"command": "mpirun pw.x"}}}
        )


def test_the_launchers_offer_exactly_the_site_keys_the_tasks_read() -> None:
    from pyacemaker_fw.launchers import ENV_KEYS
    from pyacemaker_fw.site import SITE_FIELDS

    assert set(ENV_KEYS) == set(SITE_FIELDS.values())
