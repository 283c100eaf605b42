"""The four-phase campaign as plain functions: no FireWorks here.

- :mod:`.layout`: where every step writes, one deterministic folder per unit of work;
- :mod:`.state`: what travels between steps (a walker's position in its MD, …);
- :mod:`.loop`: the state machine, what follows an MD segment or a validation gate;
- :mod:`.distill`, :mod:`.md`, :mod:`.learn`: one function per step, each composing the
  engines (generation, oracles, simulation, extraction, training, validation).

The FireWorks adapters in :mod:`pyacemaker_fw.fw` call one of these per FireTask and own all
persistence.
"""
