"""CPU per JavaScript event spent on source maps, in-process: a micro-benchmark for comparing code.

What runs: a realistic bundle — undici's CommonJS sources (~1 MB), each file wrapped in a function,
minified by terser with a source map that includes the sources (~1.5 MB) — is uploaded as release
files through the same service the release files API calls. Then `services.event_row` (what the
ingest path runs per event: symbolication, then grouping) is timed on
* `symbolicated`: an event of that release with 15 frames at 15 different places of the bundle,
  the same stack each time (an error that repeats, as most events are);
* `symbolicated, new stacks`: the same, but every event's 15 frames at places not seen before;
* `no files`: the same event of a release that has no uploaded files (most JS events);
* `python`: a Python event of 15 frames (no symbolication at all), the floor to compare with.
Reported: CPU of this process per event (time.process_time; waits for PostgreSQL or Redis are not
in it, their client-side work is), median of ROUNDS rounds of ITERATIONS events.

Usage: python bench/sourcemap_cpu.py (BENCH_CPU_ITERATIONS, default 50). To compare with another
commit: `git archive COMMIT | tar -x -C DIR`, copy this file into DIR/bench and run it there with
BENCH_CPU_DATABASE set apart. Needs node and terser (tests/errors/clients/sentry-node).
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE = os.environ.get("BENCH_CPU_DATABASE", "vigil_bench_sourcemap")
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(9)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DATABASE_POOL"] = "true"  # as web processes serve (a connection per event is not the cost here)

ROUNDS = 5
FRAMES = 15
NODE_MODULES = ROOT / "tests" / "errors" / "clients" / "sentry-node" / "node_modules"
URL = "https://shop.test/static/js/vendor.min.js"


def bundle(directory: Path) -> tuple[bytes, bytes]:
    """(minified bundle, its source map) of undici's sources, terser-minified."""
    sources = sorted((NODE_MODULES / "undici" / "lib").rglob("*.js"))
    # As a bundler does: each module a function kept in a registry (so none is dead code).
    parts = [
        f"__modules[{str(path.name)!r}] = function (module, exports, require) {{\n{path.read_text()}\n}};\n"
        for path in sources
    ]
    (directory / "vendor.js").write_text("".join(parts))
    terser = NODE_MODULES / "terser" / "bin" / "terser"
    done = subprocess.run(
        ["node", str(terser), "vendor.js", "--compress", "--mangle", "--source-map",
         "url='vendor.min.js.map',includeSources", "-o", "vendor.min.js"],
        cwd=directory, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return (directory / "vendor.min.js").read_bytes(), (directory / "vendor.min.js.map").read_bytes()


def js_event(minified: bytes, release: str, variant: int = 0) -> dict[str, Any]:
    """An exception with FRAMES frames at `function` keywords spread over the bundle; another
    `variant` puts them at other places."""
    lines = minified.decode().split("\n")
    places = [(n, m.start()) for n, text in enumerate(lines) for m in re.finditer(r"function", text)]
    step = max(1, len(places) // FRAMES)
    shift, offset = divmod(variant, step)
    frames = [
        {
            "filename": URL,
            "abs_path": URL,
            "function": "e",
            "lineno": n + 1,
            "colno": col + 1 + shift,
            "in_app": True,
        }
        for n, col in places[offset::step][:FRAMES]
    ]
    exception = {"type": "TypeError", "value": "x is undefined", "stacktrace": {"frames": frames}}
    return {"platform": "javascript", "release": release, "exception": {"values": [exception]}}


def python_event() -> dict[str, Any]:
    frames = [
        {"module": f"shop.m{i}", "function": f"f{i}", "filename": f"shop/m{i}.py", "lineno": 10 + i,
         "context_line": f"    return f{i + 1}(cart)", "in_app": True}
        for i in range(FRAMES)
    ]  # fmt: skip
    exception = {"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": frames}}
    return {"platform": "python", "release": "shop@1", "exception": {"values": [exception]}}


def main() -> None:
    if not servers.database_exists(DATABASE):
        servers.recreate_database(DATABASE)
    import django

    django.setup()
    import orjson
    from django.db import close_old_connections

    from apps.errors import services, sourcemaps, storage
    from apps.projects.models import Organization, Project

    organization = Organization.objects.create(name="Bench source maps")
    project = Project.objects.create(organization=organization, name="bench")
    release = f"shop@{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as directory:
        minified, source_map = bundle(Path(directory))
    sourcemaps.release_file_upload(project, release, "~/static/js/vendor.min.js", minified)
    sourcemaps.release_file_upload(project, release, "~/static/js/vendor.min.js.map", source_map)
    iterations = int(os.environ.get("BENCH_CPU_ITERATIONS", "50"))
    new_stacks = [orjson.dumps(js_event(minified, release, 1 + i)) for i in range(ROUNDS * iterations)]
    events = {
        "symbolicated": [orjson.dumps(js_event(minified, release))] * len(new_stacks),
        "symbolicated, new stacks": new_stacks,
        "no files": [orjson.dumps(js_event(minified, "shop@nothing-uploaded"))] * len(new_stacks),
        "python": [orjson.dumps(python_event())] * len(new_stacks),
    }
    check = services.event_row(project.pk, orjson.loads(events["symbolicated"][0]), datetime.now(UTC))
    symbolicated = storage.data_decode(check.data)["exception"]["values"][0]["stacktrace"]["frames"]
    done = sum(bool((f.get("data") or {}).get("symbolicated")) for f in symbolicated)
    print(
        f"bundle {len(minified) / 1e6:.2f} MB, map {len(source_map) / 1e6:.2f} MB;"
        f" {done}/{FRAMES} frames mapped"
    )

    gc.freeze()
    gc.set_threshold(50_000, 10, 10)  # as config/asgi.py
    print(f"load average {os.getloadavg()}")
    results: dict[str, list[float]] = {name: [] for name in events}
    for round_number in range(ROUNDS):
        for name, payloads in events.items():
            started = time.process_time()
            for payload in payloads[round_number * iterations :][:iterations]:
                close_old_connections()
                services.event_row(project.pk, orjson.loads(payload), datetime.now(UTC))
            results[name].append((time.process_time() - started) / iterations * 1e6)
    for name, values in results.items():
        rounds = ", ".join(f"{value:.0f}" for value in values)
        print(f"{name}: {statistics.median(values):.0f} µs CPU per event; rounds {rounds}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
