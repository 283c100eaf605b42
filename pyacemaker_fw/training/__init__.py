"""Training: pacemaker ACE fits (scratch and incremental), the replay buffer, MACE fine-tuning
and surrogate data. Plain library code; FireTasks in ``pyacemaker_fw.fw`` adapt it."""
