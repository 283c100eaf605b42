"""Where the oracle tests find their data: captured pw.x runs and the MACE committee."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
MACE_COMMITTEE = [ASSETS / "mace_si" / f"committee_{seed}.model" for seed in (0, 1, 2)]
FAILURE_CASES = (
    "scf_not_converged",
    "max_seconds",
    "smearing_needed",
    "metal_fixed_occupations",
    "s_matrix",
    "more_bands_than_pws",
    "bands_not_converged",
)
