"""Names of the metadata that modules attach to ASE ``Atoms``.

Every module reads and writes these through the constants below, so that a reader can find
each producer and consumer of a piece of metadata with one search.
"""

from __future__ import annotations

from typing import Final

# --- per-atom arrays (``atoms.arrays``) -------------------------------------------------
FORCE_WEIGHT: Final = "force_weight"
"""Per-atom weight of the force in the fit: 1 for core atoms, 0 for buffer and passivants."""
GAMMA: Final = "gamma"
"""Per-atom ACE extrapolation grade."""
REGION: Final = "region"
"""Per-atom cutout region code, see :data:`REGION_CORE` and friends."""
FORCE_UNCERTAINTY: Final = "force_uncertainty"
"""Per-atom committee spread of the force (eV/Å)."""
PARENT_INDEX: Final = "parent_index"
"""Index of the atom in the frame it was cut from (-1 for passivants)."""
PASSIVANT_HOST: Final = "passivant_host"
"""Per-atom index, within a cutout cluster, of the atom a passivant caps; -1 for other atoms."""
ACE_FORCES: Final = "ace_forces"
"""Per-atom forces the ACE potential predicted during MD (eV/Å); a prediction, not a label."""

REGION_CORE: Final = 0
REGION_BUFFER: Final = 1
REGION_PASSIVANT: Final = 2

# --- per-structure info (``atoms.info``) ------------------------------------------------
ENERGY_WEIGHT: Final = "energy_weight"
"""Weight of the total energy in the fit; by default 0 when some atom has zero force weight."""
GAMMA_MAX: Final = "gamma_max"
LABEL_SOURCE: Final = "label_source"
"""Which oracle labelled the structure: see :data:`LABEL_SOURCES`."""
UNCERTAINTY: Final = "uncertainty"
"""Per-structure uncertainty (for MACE: max committee force spread, eV/Å)."""
ENERGY_UNCERTAINTY: Final = "energy_uncertainty"
"""Per-structure committee spread of the energy per atom (eV/atom)."""
ENERGY_SHIFT: Final = "energy_shift"
"""Constant (eV) added to a MACE energy to put it on the DFT scale."""
PROVENANCE: Final = "provenance"
"""Where the structure came from: generator name, MD step, parent frame id, …"""
STRUCTURE_ID: Final = "structure_id"
STRUCTURE_FAMILY: Final = "structure_family"
"""Generator family: bulk, volume, shear, rattle, vacancy, interstitial, surface or alloy."""
SELECTION_REASON: Final = "selection_reason"
"""Why active-set selection kept the structure (MaxVol rows it holds, or its novelty)."""
PARENT_ID: Final = "parent_id"
"""``structure_id`` of the frame a cutout cluster was cut from."""
MD_STEP: Final = "md_step"
ACE_ENERGY: Final = "ace_energy"
"""Total energy the ACE potential predicted for an MD frame (eV); a prediction, not a label."""
CENTRE_ATOMS: Final = "centre_atoms"
CUTOUT_MODE: Final = "cutout_mode"
"""What a cutout made: ``cluster``, ``periodic_box``, or ``whole_frame`` when the cell is smaller
than one cut."""
CUTOUT_SPLIT: Final = "cutout_split"
"""Why a group of cutout centres was split: ``none``, ``ring`` or ``larger_than_cell``."""
ORACLE_SETTINGS: Final = "oracle_settings"
CORRECTIONS: Final = "corrections"
RELAXATION: Final = "relaxation"

LABEL_SOURCES: Final = ("mace", "qe", "emt", "lammps", "surrogate", "reference")
