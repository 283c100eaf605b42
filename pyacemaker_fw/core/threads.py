"""Thread pinning for torch and TensorFlow on shared cores.

With two threads per process on a loaded 2-core machine a single MACE force call went from
0.14 s to 3 s; one thread each is the safe default.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_threads(threads: int = 1) -> None:
    """Limit BLAS/OpenMP threads (for this process and its children) and torch's pool."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def subprocess_env(threads: int = 1) -> dict[str, str]:
    """An environment for engine subprocesses (pacemaker, mace_run_train, pw.x)."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    return env
