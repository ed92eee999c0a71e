"""Smoke test of `make run` from nothing: embedded PostgreSQL and Redis, web, worker and beat.

It starts the real thing twice on one temporary var dir (DATABASE_URL and REDIS_URL removed
from the environment, so config/devstack.py starts the embedded servers), waits for
/health/ready and a fresh beat heartbeat, stops it with SIGINT like a terminal's Ctrl-C and
checks that nothing is left running; the second start must find the first run's data.

While it is up, the README's commands run as a user types them in a new shell — no URL set, the
stack found through var/stack.env: `bootstrap --json`, `demo` (and its `--project`/`--stop`
forms), the curl examples and the OpenTelemetry snippet.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.5
METRICS_TOKEN = "smoke-test-metrics-token"
SMOKE_EMAIL = "smoke@vigil.test"
IMPORT_USER = "from apps.accounts.models import User"
README_URL = "http://127.0.0.1:8000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def stack_environment(var_dir: Path, port: int) -> dict[str, str]:
    removed = {
        "DATABASE_URL",
        "DATABASE_RUNTIME_URL",
        "DATABASE_RUNTIME_ROLE",
        "REDIS_URL",
        "PROMETHEUS_MULTIPROC_DIR",
    }
    env = {name: value for name, value in os.environ.items() if name not in removed}
    env.update(
        VIGIL_VAR_DIR=str(var_dir),
        PORT=str(port),
        METRICS_TOKEN=METRICS_TOKEN,
        OTLP_GRPC_PORT=str(free_port()),
    )
    return env


def start_make_run(var_dir: Path, run: int) -> Stack:
    port = free_port()
    log_path = var_dir.parent / f"make-run-{run}.log"
    with log_path.open("wb") as log_file:
        # `-o .venv/.installed`: use the venv as it is; a test must not pip-install into a venv
        # other people are using. Everything else is the `make run` recipe.
        process = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run"],
            cwd=ROOT,
            env=stack_environment(var_dir, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Own process group: SIGINT to it is what Ctrl-C in a terminal does.
            start_new_session=True,
        )
    return Stack(process, port, log_path, time.time())


def wait_until_ready(stack: Stack) -> dict[str, Any]:
    """Poll /health/ready until 200 and a heartbeat written after this start; return the checks."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last: tuple[int, bytes] = (0, b"")
    while time.monotonic() < deadline:
        assert stack.process.poll() is None, f"make run exited early:\n{stack.log()}"
        try:
            last = stack.get("/health/ready")
        except OSError:  # not listening yet
            time.sleep(POLL_SECONDS)
            continue
        status, body = last
        if status == 200:
            checks = json.loads(body)["checks"]
            age = checks["beat"]["age_seconds"]
            fresh_beat = checks["beat"]["ok"] and age is not None and age <= time.time() - stack.started_at
            if fresh_beat and checks["otlp_grpc"]["ok"]:
                return checks
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"not ready in {READY_TIMEOUT_SECONDS}s; last answer {last!r}\n{stack.log()}")


def postmaster_pid(var_dir: Path) -> int | None:
    pid_file = var_dir / "postgres" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def processes_of(stack: Stack, var_dir: Path) -> list[psutil.Process]:
    """Every process this start created: make's descendants, plus the postmaster pg_ctl detached."""
    found = psutil.Process(stack.process.pid).children(recursive=True)
    pid = postmaster_pid(var_dir)
    if pid is not None:
        found.append(psutil.Process(pid))
    return found


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_using(var_dir: Path) -> list[psutil.Process]:
    """Every live process tied to the var dir: by its environment (all of them inherit VIGIL_VAR_DIR),
    its command line (postgres -D) or its working directory (redis-server --dir)."""
    marker = str(var_dir)
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "environ"]):
        environ = process.info["environ"] or {}
        cmdline = " ".join(process.info["cmdline"] or [])
        cwd = process.info["cwd"] or ""
        tied = environ.get("VIGIL_VAR_DIR") == marker or marker in cmdline or cwd.startswith(marker)
        if tied and process.pid != os.getpid() and is_alive(process):
            found.append(process)
    return found


def stop_with_ctrl_c(stack: Stack) -> int:
    os.killpg(stack.process.pid, signal.SIGINT)
    try:
        return stack.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make run did not stop within {STOP_TIMEOUT_SECONDS}s\n{stack.log()}") from None


def new_shell(var_dir: Path, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in ROOT as a user's new terminal would: no DATABASE_URL or REDIS_URL."""
    env = {**stack_environment(var_dir, 0), **variables}
    env.pop("PORT")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def manage_shell(var_dir: Path, code: str) -> str:
    """Run `manage.py shell -c` in a new shell: it finds the stack's PostgreSQL through var/stack.env."""
    done = new_shell(var_dir, f".venv/bin/python manage.py shell --no-imports -c {shlex.quote(code)}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def read_stack_env(var_dir: Path) -> dict[str, str]:
    lines = (var_dir / "stack.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def code_blocks(language: str, containing: str) -> list[str]:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    return [block for block in blocks if containing in block]


def run_readme_commands(stack: Stack, var_dir: Path) -> None:
    """The README's commands after `make run`, each as written, in a new shell."""
    (bootstrap,) = code_blocks("sh", "manage.py bootstrap")
    done = new_shell(var_dir, bootstrap)
    assert done.returncode == 0, done.stderr
    keys = json.loads(done.stdout)
    assert keys["user"] == "you@example.com" and keys["ingest_key"].startswith("vgl_ingest_")

    (demo_block,) = code_blocks("sh", "manage.py demo")
    fill, fill_project, stop = [line.split("#")[0].strip() for line in demo_block.strip().splitlines()]
    done = new_shell(var_dir, fill)
    assert done.returncode == 0, done.stderr
    # The address of the server that is running, not a hard-coded :8000.
    assert re.search(rf"Open http://127\.0\.0\.1:{stack.port}/projects/\d+/", done.stdout), done.stdout
    missing = new_shell(var_dir, fill_project.replace("--project 3", "--project 999999"))
    assert missing.returncode == 1
    assert f"#{keys['project_id']} checkout (Acme)" in missing.stderr, missing.stderr
    project = f"--project {keys['project_id']}"
    done = new_shell(var_dir, fill_project.replace("--project 3", project) + " --hours 0.1")
    assert done.returncode == 0, done.stderr
    done = new_shell(var_dir, stop)
    assert done.returncode == 0 and "trickle stopped" in done.stdout, done.stdout + done.stderr

    url = read_stack_env(var_dir)["VIGIL_URL"]
    (curl,) = code_blocks("sh", "/api/v1/ingest/")
    done = new_shell(var_dir, curl.replace(README_URL, url), VIGIL_INGEST_KEY=keys["ingest_key"])
    assert done.returncode == 0, done.stderr
    assert [answer["accepted"] for answer in map(json.loads, re.findall(r"\{.*?\}", done.stdout))] == [1, 1]

    (exports,) = code_blocks("sh", f"OTEL_EXPORTER_OTLP_ENDPOINT={README_URL}")  # the OTLP/HTTP one
    (program,) = code_blocks("python", "OTLPLogExporter")
    otel = {
        name: value.replace("${VIGIL_INGEST_KEY}", keys["ingest_key"]).replace(README_URL, url)
        for name, value in re.findall(r'export (\w+)="?([^"\n]*)"?', exports)
    }
    done = new_shell(var_dir, f".venv/bin/python -c {shlex.quote(program)}", **otel)
    assert done.returncode == 0, done.stderr

    # One log from curl, one from the SDK (the demo's simulated shop never says this).
    stored = manage_shell(
        var_dir,
        "from django.db import connection; cursor = connection.cursor(); cursor.execute("
        "\"SELECT count(*) FROM logs_event WHERE message = 'payment failed' AND project_id = %s\", "
        f"[{keys['project_id']}]); print(cursor.fetchone()[0])",
    )
    assert stored == "2"


def force_cleanup(stack: Stack, var_dir: Path) -> None:
    """After a failed assertion: end what this test started, found by its process group and var dir."""
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
    for process in processes_using(var_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def assert_clean_stop(stack: Stack, var_dir: Path) -> None:
    started = processes_of(stack, var_dir)
    assert any("redis-server" in p.name() for p in started), "expected an embedded redis-server"
    assert postmaster_pid(var_dir) is not None, "expected an embedded PostgreSQL"

    exit_code = stop_with_ctrl_c(stack)

    log = stack.log()
    # GNU make re-raises SIGINT on itself once its recipe has finished, so `make` reports -SIGINT
    # on Ctrl-C; how the supervisor itself ended is in its log.
    assert exit_code in (0, -signal.SIGINT), log
    assert "[vigil] shutting down" in log
    assert "[vigil] stopping embedded Redis" in log
    assert "[vigil] stopping embedded PostgreSQL" in log
    assert "did not stop in time" not in log
    assert "Traceback" not in log, log
    leftovers = [p for p in started if is_alive(p)] + processes_using(var_dir)
    assert not leftovers, f"still running after make run stopped: {leftovers}"


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: the embedded PostgreSQL runs as another system user when we are root,
    # and it must be able to reach its data directory.
    parent = Path(tempfile.mkdtemp(prefix="vigil-smoke-"))
    parent.chmod(0o755)
    yield parent / "var"
    shutil.rmtree(parent, ignore_errors=True)


def test_make_run_comes_up_from_nothing_stops_on_ctrl_c_and_comes_back_with_its_data(var_dir):
    first = start_make_run(var_dir, run=1)
    try:
        checks = wait_until_ready(first)
        assert checks["database"]["ok"] and checks["redis"]["ok"] and checks["migrations"]["ok"]
        assert checks["otlp_grpc"]["ok"]  # the OTLP/gRPC receiver runs next to the web server
        assert first.get("/health") == (200, b'{"status": "ok"}')
        # The heartbeat ran in a Celery worker process; the web process reports it (multiprocess mode).
        status, body = first.get("/metrics", token=METRICS_TOKEN)
        assert status == 200
        assert 'task="apps.ops.tasks.beat_heartbeat"' in body.decode()
        # Worker logs go through settings.LOGGING too (JSON), not Celery's own text handler.
        assert '"logger": "celery.app.trace"' in first.log()
        recorded = read_stack_env(var_dir)
        assert recorded["VIGIL_URL"] == f"http://127.0.0.1:{first.port}"
        assert recorded["REDIS_URL"].startswith("redis://127.0.0.1:")
        assert "host=" in recorded["DATABASE_URL"]  # the socket under var/postgres, not a TCP port
        manage_shell(var_dir, f"{IMPORT_USER}; User.objects.create_user({SMOKE_EMAIL!r}, 'smoke-pass-12345')")
        run_readme_commands(first, var_dir)
        # A benchmark (or `make test`) beside the stack shares its PostgreSQL and leaves it running.
        postmaster = postmaster_pid(var_dir)
        beside = new_shell(var_dir, ".venv/bin/python -m config.devstack exec .venv/bin/python -c pass")
        assert beside.returncode == 0, beside.stderr
        assert "leaving embedded PostgreSQL running" in beside.stderr
        assert postmaster_pid(var_dir) == postmaster
        assert first.get("/health/ready")[0] == 200
        assert_clean_stop(first, var_dir)
        assert not (var_dir / "stack.env").exists()
        done = new_shell(var_dir, ".venv/bin/python manage.py demo")
        assert done.returncode == 1 and "make run" in done.stderr, done.stderr
    finally:
        force_cleanup(first, var_dir)

    second = start_make_run(var_dir, run=2)
    try:
        wait_until_ready(second)
        still_there = manage_shell(
            var_dir, f"{IMPORT_USER}; print(User.objects.filter(email={SMOKE_EMAIL!r}).exists())"
        )
        assert still_there == "True"
        # Same Redis port as the first run: clients that kept the URL find it again.
        assert read_stack_env(var_dir)["REDIS_URL"] == recorded["REDIS_URL"]
        assert_clean_stop(second, var_dir)
    finally:
        force_cleanup(second, var_dir)
