"""The benchmarks' servers (bench/servers.py): a given URL is used as it is, embedded servers start
when none is given — a fresh machine has nothing on 127.0.0.1:5432 or 6379."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import servers

ROOT = Path(__file__).resolve().parents[2]
# A stand-in benchmark: what every bench/*.py does first, then one query on its database server.
PROBE = """
import os, sys
sys.path.insert(0, {root!r})
from bench import servers
servers.ensure()
import psycopg, redis
with psycopg.connect(servers.database_url("postgres")) as connection:
    connection.execute("SELECT 1")
redis.Redis.from_url(servers.redis_url(9)).ping()
print(os.environ["DATABASE_URL"], servers.redis_url(9))
"""


def test_a_database_url_keeps_the_server_and_its_socket_directory():
    embedded = "postgresql://postgres@/vigil?host=%2Fwork%2Fvar%2Fpostgres"
    assert servers.database_url("vigil_bench_logs", embedded) == (
        "postgresql://postgres@/vigil_bench_logs?host=%2Fwork%2Fvar%2Fpostgres"
    )
    assert servers.database_url("vigil_bench", "postgres://postgres@db.internal:5433") == (
        "postgres://postgres@db.internal:5433/vigil_bench"
    )


def test_each_benchmark_gets_its_own_redis_database_on_the_given_server(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/0")
    assert servers.redis_url(8) == "redis://cache.internal:6380/8"


@pytest.fixture
def bench_var_dir() -> Iterator[Path]:
    # Not tmp_path: the embedded PostgreSQL runs as another system user when we are root.
    parent = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    parent.chmod(0o755)
    yield parent / "var"
    shutil.rmtree(parent, ignore_errors=True)


def run_probe(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE.format(root=str(ROOT)))
    env = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(variables)
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_without_urls_a_benchmark_runs_against_embedded_servers_and_stops_them(tmp_path, bench_var_dir):
    done = run_probe(tmp_path, VIGIL_BENCH_VAR_DIR=str(bench_var_dir))

    assert done.returncode == 0, done.stderr
    database_url, redis_url = done.stdout.split()
    assert (
        f"host={bench_var_dir}/postgres".replace("/", "%2F") in database_url
        or str(bench_var_dir) in database_url
    )
    assert redis_url.endswith("/9")
    assert "[vigil] stopping embedded PostgreSQL" in done.stderr
    assert not (bench_var_dir / "postgres" / "postmaster.pid").exists()


def test_given_urls_are_used_and_nothing_is_started(tmp_path):
    done = run_probe(
        tmp_path,
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        VIGIL_BENCH_VAR_DIR=str(tmp_path / "unused"),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == os.environ["DATABASE_URL"]
    assert "[vigil] starting" not in done.stderr
    assert not (tmp_path / "unused").exists()
