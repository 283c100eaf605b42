"""Oracles: everything that labels structures (MACE, Quantum ESPRESSO, references)."""
