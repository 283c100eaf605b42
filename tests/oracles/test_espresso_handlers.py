"""Each handler against real pw.x 6.7 failures captured by ``data/make_pw_failures.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pyacemaker_fw.oracles.espresso.handlers import (
    BandsNotConvergedHandler,
    DiagonalizationHandler,
    PwErrorHandler,
    ScfConvergenceHandler,
    SmearingHandler,
    WalltimeHandler,
    default_handlers,
    occupation_levels,
    smearing_band_count,
)
from pyacemaker_fw.oracles.espresso.inputs import PwInput
from tests.oracles.paths import FAILURE_CASES

CaseCopier = Callable[[str], Path]

HANDLERS_OF_CASE: dict[str, set[type[PwErrorHandler]]] = {
    # with fixed occupations an unconverged SCF may be a metal: smearing goes on as well
    "scf_not_converged": {ScfConvergenceHandler, SmearingHandler},
    "max_seconds": {WalltimeHandler},
    "smearing_needed": {SmearingHandler},
    "metal_fixed_occupations": {SmearingHandler},
    "s_matrix": {DiagonalizationHandler},
    "more_bands_than_pws": {DiagonalizationHandler},
    "bands_not_converged": {BandsNotConvergedHandler},
}


@pytest.mark.parametrize("case", FAILURE_CASES)
def test_exactly_the_matching_handlers_fire_on_each_real_failure(
    case: str, captured_run: CaseCopier
) -> None:
    directory = captured_run(case)
    fired = {type(handler) for handler in default_handlers() if handler.check(str(directory))}
    assert fired == HANDLERS_OF_CASE[case]


def test_no_handler_fires_on_a_converged_insulator(captured_run: CaseCopier) -> None:
    directory = captured_run("converged")
    text = (directory / "pw.out").read_text()
    highest, lowest = occupation_levels(text) or (0.0, 0.0)
    assert lowest - highest > 0.3  # Si2: a gap of 0.35 eV on this grid
    assert not any(handler.check(str(directory)) for handler in default_handlers())


def test_an_even_count_metal_that_converged_with_fixed_occupations_gets_smearing(
    captured_run: CaseCopier,
) -> None:
    # Al2 converges with fixed occupations to an energy 0.9 eV above the smeared one, and
    # pw.x says nothing: only its band edges, which overlap, give it away
    directory = captured_run("metal_fixed_occupations")
    text = (directory / "pw.out").read_text()
    assert "convergence has been achieved" in text
    highest, lowest = occupation_levels(text) or (0.0, 0.0)
    assert highest > lowest + 4.0
    record, corrected = _corrected(SmearingHandler(smearing="mv", degauss=0.01), directory)
    assert len(record["errors"]) == 1
    assert "highest occupied level (11.1988 eV)" in record["errors"][0]
    assert corrected.get("system", "occupations") == "smearing"
    assert corrected.get("system", "smearing") == "mv"
    # 6 electrons: pw.x's own smearing default of 7 bands equals what the input already had
    assert corrected.get("system", "nbnd") == 7


def test_smearing_after_a_walltime_restart_starts_from_scratch(captured_run: CaseCopier) -> None:
    directory = captured_run("metal_fixed_occupations")
    pw_input = PwInput.read(directory / "pw.in")
    pw_input.set("control", "restart_mode", "restart")
    pw_input.write(directory / "pw.in")
    _, corrected = _corrected(SmearingHandler(), directory)
    assert corrected.get("control", "restart_mode") is None


def test_smearing_brings_enough_empty_bands() -> None:
    assert smearing_band_count(6.0) == 7  # 3 occupied + 4
    assert smearing_band_count(256.0) == 154  # 20 % more than 128
    assert smearing_band_count(3.0) == 6  # 2 partly occupied + 4


def _corrected(handler: PwErrorHandler, directory: Path) -> tuple[dict[str, object], PwInput]:
    record = handler.correct(str(directory))
    return record, PwInput.read(directory / "pw.in")


def test_an_unconverged_fixed_occupation_run_gets_smearing_and_gentler_mixing(
    captured_run: CaseCopier,
) -> None:
    directory = captured_run("scf_not_converged")
    smearing_record = SmearingHandler().correct(str(directory))
    scf_record = ScfConvergenceHandler().correct(str(directory))
    corrected = PwInput.read(directory / "pw.in")
    assert smearing_record["errors"] == ["convergence NOT achieved after   3 iterations: stopping"]
    assert corrected.get("system", "occupations") == "smearing"
    assert scf_record["actions"]
    assert corrected.get("electrons", "mixing_beta") == pytest.approx(0.25)


def test_scf_handler_lowers_beta_raises_steps_then_switches_mixing(
    captured_run: CaseCopier,
) -> None:
    directory = captured_run("scf_not_converged")
    handler = ScfConvergenceHandler()
    record, first = _corrected(handler, directory)
    assert record["errors"] == ["convergence NOT achieved after   3 iterations: stopping"]
    assert first.get("electrons", "mixing_beta") == pytest.approx(0.25)
    assert first.get("electrons", "electron_maxstep") == 100
    assert first.get("electrons", "mixing_mode") is None
    handler.n_applied_corrections = 1  # custodian counts applied corrections
    _, second = _corrected(handler, directory)
    assert second.get("electrons", "mixing_beta") == pytest.approx(0.125)
    assert second.get("electrons", "electron_maxstep") == 200
    assert second.get("electrons", "mixing_mode") == "local-TF"


def test_scf_handler_gives_up_when_nothing_is_left_to_lower(captured_run: CaseCopier) -> None:
    directory = captured_run("scf_not_converged")
    pw_input = PwInput.read(directory / "pw.in")
    pw_input.set("electrons", "mixing_beta", 0.05)
    pw_input.set("electrons", "electron_maxstep", 1000)
    pw_input.set("electrons", "mixing_mode", "local-TF")
    pw_input.write(directory / "pw.in")
    handler = ScfConvergenceHandler()
    handler.n_applied_corrections = 3
    record = handler.correct(str(directory))
    assert record["actions"] is None


def test_walltime_handler_restarts_with_a_longer_limit(captured_run: CaseCopier) -> None:
    directory = captured_run("max_seconds")
    record, corrected = _corrected(WalltimeHandler(), directory)
    assert record["errors"] == ["Maximum CPU time exceeded"]
    assert corrected.get("control", "restart_mode") == "restart"
    assert corrected.get("control", "max_seconds") == pytest.approx(60.0)
    # the restart must find the files of the interrupted run where it left them
    assert corrected.get("control", "outdir") == "./out"
    assert corrected.get("control", "prefix") == "pwscf"


def test_smearing_handler_switches_a_metal_to_smearing(captured_run: CaseCopier) -> None:
    directory = captured_run("smearing_needed")
    record, corrected = _corrected(SmearingHandler(smearing="mv", degauss=0.02), directory)
    assert record["errors"] == ["charge is wrong: smearing is needed"]
    assert record["actions"] == [
        {
            "dict": "pw.in",
            "action": {
                "_set": {
                    "system.occupations": "smearing",
                    "system.smearing": "mv",
                    "system.degauss": 0.02,
                }
            },
        }
    ]
    assert corrected.get("system", "occupations") == "smearing"
    assert SmearingHandler().correct(str(directory))["actions"] is None  # already smeared


@pytest.mark.parametrize("case", ["s_matrix", "more_bands_than_pws"])
def test_diagonalization_handler_walks_david_cg_ppcg_then_gives_up(
    case: str, captured_run: CaseCopier
) -> None:
    directory = captured_run(case)
    handler = DiagonalizationHandler()
    seen = []
    for _ in range(2):
        record, corrected = _corrected(handler, directory)
        assert record["actions"]
        seen.append(corrected.get("electrons", "diagonalization"))
    assert seen == ["cg", "ppcg"]
    assert handler.correct(str(directory))["actions"] is None


def test_bands_handler_swaps_solver_and_drops_the_iteration_cap(
    captured_run: CaseCopier,
) -> None:
    directory = captured_run("bands_not_converged")
    assert PwInput.read(directory / "pw.in").get("electrons", "diago_cg_maxiter") == 1
    record, corrected = _corrected(BandsNotConvergedHandler(), directory)
    assert record["errors"] == ["too many bands are not converged"]
    assert corrected.get("electrons", "diagonalization") == "david"
    assert corrected.get("electrons", "diago_cg_maxiter") is None
    assert {"dict": "pw.in", "action": {"_unset": {"electrons.diago_cg_maxiter": 1}}} in (
        record["actions"]
    )


def test_corrections_keep_the_structure_and_cards_untouched(captured_run: CaseCopier) -> None:
    directory = captured_run("scf_not_converged")
    before = PwInput.read(directory / "pw.in")
    ScfConvergenceHandler().correct(str(directory))
    after = PwInput.read(directory / "pw.in")
    assert after.cards == before.cards
    assert after.namelists["system"] == before.namelists["system"]


def test_bands_handler_gives_up_after_both_solvers_failed(captured_run: CaseCopier) -> None:
    directory = captured_run("bands_not_converged")
    handler = BandsNotConvergedHandler()
    handler.n_applied_corrections = 2
    assert handler.correct(str(directory))["actions"] is None
