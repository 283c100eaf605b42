"""The pw.x command line: an argv list from the config, or from the FWorker's ``env``.

FireWorks' ``env_chk`` convention lets each site name its own executable: the config says
``'>>pw_cmd<<'`` and every FWorker sets ``env: {pw_cmd: [mpirun, -np, '4', pw.x]}``. The oracle
must not import FireWorks, so the FireTask passes ``fw_spec['_fw_env']`` in as a plain mapping.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

ENV_PREFIX = ">>"
ENV_SUFFIX = "<<"


class CommandError(ValueError):
    """The pw.x command cannot be resolved or does not point at an executable."""


def env_key(command: str) -> str | None:
    """The env key of an ``env_chk`` string such as ``'>>pw_cmd<<'``, else ``None``."""
    if command.startswith(ENV_PREFIX) and command.endswith(ENV_SUFFIX):
        return command[len(ENV_PREFIX) : -len(ENV_SUFFIX)]
    return None


def _as_argv(value: Any, origin: str) -> list[str]:
    if isinstance(value, str):
        argv = shlex.split(value)  # a split into words, never handed to a shell
    elif isinstance(value, Sequence):
        argv = [str(word) for word in value]
    else:
        raise CommandError(f"{origin} must be a list of words or a string, not {value!r}")
    if not argv:
        raise CommandError(f"{origin} is empty")
    return argv


def resolve_command(
    command: Sequence[str] | str, env: Mapping[str, Any] | None = None
) -> list[str]:
    """The argv list of pw.x, resolving ``'>>key<<'`` against ``env`` (the FWorker env)."""
    if isinstance(command, str):
        key = env_key(command)
        if key is not None:
            if env is None or key not in env:
                known = sorted(env) if env else []
                raise CommandError(
                    f"the pw.x command is {command!r} but the FWorker env has no {key!r} "
                    f"(it has {known}); set env: {{{key}: [pw.x]}} in my_fworker.yaml"
                )
            return _as_argv(env[key], f"FWorker env {key!r}")
    return _as_argv(command, "oracle.qe.command")


def full_command(
    command: Sequence[str] | str,
    mpi_command: Sequence[str] = (),
    env: Mapping[str, Any] | None = None,
) -> list[str]:
    """The MPI prefix (if any) plus the resolved pw.x argv, checked to be executable."""
    argv = [*mpi_command, *resolve_command(command, env)]
    if shutil.which(argv[0]) is None:
        raise CommandError(f"{argv[0]!r} is not an executable on PATH (command {argv})")
    return argv
