"""MD with ACE in LAMMPS: the engine, the ACE bridge, the uncertainty monitor.

The engine itself is :class:`pyacemaker_fw.simulation.engine.LammpsEngine`. The two helpers
below are what a workflow needs around it: where a run starts when there is no restart, and
which restart a rerun resumes from.
"""

from pyacemaker_fw.simulation.restarts import newest_restart
from pyacemaker_fw.simulation.start import initial_md_structure

__all__ = ["initial_md_structure", "newest_restart"]
