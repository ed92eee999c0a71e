"""Which PostgreSQL and Redis a benchmark runs against.

Design note: the benchmarks used to assume a PostgreSQL on 127.0.0.1:5432 and a Redis on 6379,
which a fresh machine does not have. Now, as with `make test`, a server given by URL is used
(DATABASE_HOST_URL or DATABASE_URL names the PostgreSQL server, REDIS_URL the Redis) and the
missing ones are embedded: the benchmark re-runs itself under `config.devstack exec`, which starts
them in var/bench/ (VIGIL_BENCH_VAR_DIR), apart from `make run`'s data, and stops them after.
Each benchmark then makes its own database on that server and uses its own Redis db number.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


def ensure() -> None:
    """Call first, before reading or setting any URL: re-runs this benchmark with embedded servers
    for the URLs that are not set (the process is replaced; it does not return then)."""
    host_url = os.environ.get("DATABASE_HOST_URL")
    if host_url and not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = database_url("postgres", host_url)
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    var_dir = os.environ.get("VIGIL_BENCH_VAR_DIR", str(ROOT / "var" / "bench"))
    env = {**os.environ, "VIGIL_VAR_DIR": var_dir}
    argv = [sys.executable, "-m", "config.devstack", "exec", sys.executable, *sys.argv]
    os.chdir(ROOT)
    os.execve(sys.executable, argv, env)


def database_url(name: str, server_url: str | None = None) -> str:
    """The URL of database `name` on the server of `server_url` (default: DATABASE_URL's), keeping
    its host, port and options (an embedded server's socket directory is an option, `?host=`)."""
    parts = urlsplit(server_url or os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def redis_url(db: int) -> str:
    """REDIS_URL's server, database number `db` (each benchmark its own)."""
    return urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path=f"/{db}"))


def recreate_database(name: str) -> None:
    """DROP and CREATE `name` on the server, then migrate it (DATABASE_URL must name it)."""
    import subprocess

    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(database_url("postgres")) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
