"""Commands in a new shell find the running stack through var/stack.env, and never guess a database.

Each command runs as a new process (`manage.py` as a user types it), with DATABASE_URL and
REDIS_URL removed and its own VIGIL_VAR_DIR, so nothing of the test run's environment helps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import devstack
from config.stackenv import stack_env_path, stack_env_read, stack_env_remove, stack_env_write

ROOT = Path(__file__).resolve().parents[2]
SHOW_DATABASE = "from django.db import connection; print(connection.settings_dict['NAME'])"
QUERY_DATABASE = "from django.db import connection; connection.ensure_connection(); print('connected')"


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_VAR_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(finished.stdout)


def manage(var_dir: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VIGIL_VAR_DIR=str(var_dir), **variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_without_a_stack_or_a_url_a_database_command_says_what_to_do_in_one_line(var_dir):
    done = manage(var_dir, "migrate", "--noinput")

    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "make run" in line and "DATABASE_URL" in line
    assert "5432" not in done.stderr and "Traceback" not in done.stderr


def test_help_and_check_work_without_a_database(var_dir):
    assert manage(var_dir, "help").returncode == 0
    checked = manage(var_dir, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_a_running_stack_is_found_through_its_stack_env(var_dir):
    stack_env_write(
        {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}, os.getpid()
    )

    done = manage(var_dir, "shell", "--no-imports", "-c", QUERY_DATABASE)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "connected"


def test_an_explicit_database_url_wins_over_the_stack(var_dir):
    stack_env_write({"DATABASE_URL": "postgresql://postgres@/from_the_stack"}, os.getpid())

    done = manage(
        var_dir, "shell", "--no-imports", "-c", SHOW_DATABASE, DATABASE_URL="postgresql://postgres@/explicit"
    )

    assert done.stdout.strip() == "explicit", done.stderr


def test_the_file_of_a_stack_that_was_killed_is_ignored(var_dir, dead_pid):
    stack_env_write({"DATABASE_URL": os.environ["DATABASE_URL"]}, dead_pid)

    assert stack_env_read() == {}
    done = manage(var_dir, "shell", "--no-imports", "-c", QUERY_DATABASE)
    assert done.returncode == 1
    assert "make run" in done.stderr


def test_a_stack_removes_only_its_own_file(var_dir, dead_pid):
    stack_env_write({"DATABASE_URL": "postgresql://postgres@/newer"}, os.getpid())

    stack_env_remove(dead_pid)  # an older stack stopping late
    assert stack_env_read() == {"DATABASE_URL": "postgresql://postgres@/newer"}

    stack_env_remove(os.getpid())
    assert not stack_env_path().exists()


def test_the_file_is_replaced_whole_and_leaves_no_temporary_files(var_dir):
    stack_env_write(
        {"DATABASE_URL": "postgresql://postgres@/one", "VIGIL_URL": "http://127.0.0.1:1"}, os.getpid()
    )
    stack_env_write({"DATABASE_URL": "postgresql://postgres@/two"}, os.getpid())

    assert stack_env_read() == {"DATABASE_URL": "postgresql://postgres@/two"}
    assert [path.name for path in var_dir.iterdir()] == ["stack.env"]


@pytest.fixture
def redis_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "redis"
    path.mkdir()
    yield path


def test_the_embedded_redis_keeps_its_port_across_restarts(redis_dir):
    first = devstack.redis_port(redis_dir, persistent=True)

    assert devstack.redis_port(redis_dir, persistent=True) == first
    assert (redis_dir / "port").read_text().strip() == str(first)


def test_the_embedded_redis_moves_only_when_its_port_is_taken(redis_dir):
    first = devstack.redis_port(redis_dir, persistent=True)
    with devstack.socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first))
        moved = devstack.redis_port(redis_dir, persistent=True)

    assert moved != first
    assert devstack.redis_port(redis_dir, persistent=True) == moved


def test_a_test_run_neither_takes_nor_records_the_stacks_port(redis_dir):
    first = devstack.redis_port(redis_dir, persistent=True)

    devstack.redis_port(redis_dir, persistent=False)

    assert (redis_dir / "port").read_text().strip() == str(first)


def test_the_recorded_web_url_is_one_a_browser_on_this_machine_can_open():
    assert devstack.web_url("0.0.0.0", "8123") == "http://127.0.0.1:8123"
    assert devstack.web_url("192.168.1.20", "8000") == "http://192.168.1.20:8000"
    assert devstack.web_url("::1", "8000") == "http://[::1]:8000"
