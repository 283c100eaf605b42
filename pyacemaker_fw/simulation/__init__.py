"""MD with ACE in LAMMPS: the engine, the ACE bridge, the uncertainty monitor."""
