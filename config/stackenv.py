"""Where the running `make run` stack is: `$VIGIL_VAR_DIR/stack.env`.

Design note: `make run` starts PostgreSQL on a socket under var/postgres and Redis on a port of
its choosing, so a command in a new shell (`manage.py bootstrap`, `manage.py demo`, a benchmark)
cannot guess them. The supervisor writes their URLs here while it runs and removes the file on a
clean stop; settings read it only for variables the environment leaves unset (explicit URLs always
win). The file names the supervisor's pid, so one left behind by a killed stack is ignored instead
of sending commands to servers that are gone.

Plain `NAME=value` lines: `set -a; . var/stack.env` works in a shell too. No Django imports here:
settings import this module before Django is configured.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE_NAME = "stack.env"
PID_VARIABLE = "VIGIL_STACK_PID"
# The variables a stack records, in the order they are written.
VARIABLES = ("DATABASE_URL", "DATABASE_RUNTIME_ROLE", "REDIS_URL", "VIGIL_URL")


def stack_env_path() -> Path:
    return Path(os.environ.get("VIGIL_VAR_DIR", ROOT / "var")).resolve() / FILE_NAME


def stack_env_write(values: dict[str, str], pid: int) -> Path:
    """Write the stack's URLs atomically: a reader sees the old file or the new one, never half of one."""
    path = stack_env_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={values[name]}\n" for name in VARIABLES if values.get(name)]
    lines.append(f"{PID_VARIABLE}={pid}\n")
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE_NAME}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.writelines(lines)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def stack_env_remove(pid: int) -> None:
    """Remove the file, unless another stack has replaced it since (its pid is not ours)."""
    path = stack_env_path()
    if _read(path).get(PID_VARIABLE) == str(pid):
        path.unlink(missing_ok=True)


def stack_env_read() -> dict[str, str]:
    """The running stack's URLs, or {} when no stack runs (no file, or its supervisor is gone)."""
    values = _read(stack_env_path())
    pid = values.pop(PID_VARIABLE, "")
    if not pid.isdigit() or not _is_running(int(pid)):
        return {}
    return {name: value for name, value in values.items() if name in VARIABLES}


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    values = {}
    for line in text.splitlines():
        name, separator, value = line.partition("=")
        if separator:
            values[name.strip()] = value.strip()
    return values


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
