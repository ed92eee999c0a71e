"""`make bench-live`: live fan-out latency, written to bench/LIVE_RESULTS.md.

What runs: a fresh `vigil_bench_live` database (migrations) and a dedicated Redis db, a real server
(two uvicorn workers on one SO_REUSEPORT port, as bench/ingest.py serves), 20 projects with 10
members each, and two client processes:
- subscribers: 200 WebSockets (10 per project), each signed in with its own member's session
  cookie, recording every frame with its arrival time;
- load: native JSON logs at a steady EVENTS_PER_SECOND in batches of BATCH records, spread
  round-robin over the projects, recording when each request was acknowledged (HTTP 200).
Latency pairs each acknowledged request with the moment each subscriber of its project has
received as many events as the project had acknowledged up to and including that request
(cumulative counts, in ack order); it can be slightly negative, since a batch is announced right
after COMMIT, before its HTTP response reaches the client. "No dropped announcement": per
subscriber, the events received add up to exactly the events acknowledged for its project, with
consecutive event ids and no gap.
Environment: BENCH_LIVE_SECONDS (default 30), BENCH_LIVE_RATE (events/s, default 5000),
BENCH_LIVE_BATCH (default 50), DATABASE_HOST_URL, BENCH_LIVE_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers as bench_servers  # noqa: E402 (main() has its own `servers`)

bench_servers.ensure()
DATABASE_NAME = "vigil_bench_live"
os.environ["DATABASE_URL"] = bench_servers.database_url(DATABASE_NAME)
os.environ["REDIS_URL"] = os.environ.get("BENCH_LIVE_REDIS_URL") or bench_servers.redis_url(8)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"  # per-key rate limit raised

PROJECTS = 20
SUBSCRIBERS_PER_PROJECT = 10
WORKERS = 2
DRAIN_SECONDS = 3.0
TARGET_P95_MS = 500


def reset_database() -> None:
    bench_servers.recreate_database(DATABASE_NAME)


def create_tenants() -> list[dict[str, Any]]:
    """20 projects (two per organization), each with 10 members signed in by a session cookie."""
    from django.conf import settings
    from django.test import Client

    from apps.accounts.models import User
    from apps.audit import Actor
    from apps.projects.models import KeyScope, Membership, Organization, Project, Role
    from apps.projects.services import api_key_create

    projects = []
    for index in range(PROJECTS):
        if index % 2 == 0:
            organization = Organization.objects.create(name=f"Bench {index // 2}")
        project = Project.objects.create(organization=organization, name=f"live {index}")
        cookies = []
        for member in range(SUBSCRIBERS_PER_PROJECT):
            user = User.objects.create_user(f"p{index}-m{member}@bench.test", "bench-password-123")
            Membership.objects.create(organization=organization, user=user, role=Role.VIEWER)
            client = Client()
            client.force_login(user)
            cookies.append(
                f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            )
        _, key = api_key_create(project, KeyScope.INGEST, "bench", by=Actor(user=user))
        projects.append({"id": project.id, "key": key, "cookies": cookies})
    return projects


# --- subscribers (a process of their own) ------------------------------------------------------


async def subscribe(config: dict[str, Any]) -> dict[str, Any]:
    import orjson
    import websockets

    base = config["url"].replace("http", "ws")
    sockets: list[dict[str, Any]] = []

    async def listen(project: dict[str, Any], cookie: str, ready: asyncio.Event) -> None:
        record: dict[str, Any] = {
            "project": project["id"],
            "received": [],
            "ids": [],
            "frames": [],
            "lags": [],
            "gaps": 0,
        }
        sockets.append(record)
        url = f"{base}/ws/projects/{project['id']}/live/"
        headers = {"Cookie": cookie, "Origin": config["url"]}  # a page of the server it talks to
        async with websockets.connect(url, additional_headers=headers, open_timeout=30, max_size=None) as ws:
            total = 0
            async for message in ws:
                now = time.time()
                frame = orjson.loads(message)
                if frame["type"] == "hello":
                    ready.set()
                elif frame["type"] == "gap":
                    record["gaps"] += 1
                elif frame["type"] == "events":
                    record["frames"].append(now)
                    for event in frame["events"]:
                        record["lags"].append((now, now * 1000 - event["at"]))
                        record["ids"].append(int(event["id"]))
                        total += event["count"]
                        record["received"].append((now, total))

    tasks, readies = [], []
    for project in config["projects"]:
        for cookie in project["cookies"]:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(listen(project, cookie, ready)))
            await asyncio.sleep(0.005)  # a page load's pace, not a thundering herd of handshakes
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 120)
    Path(config["ready"]).write_text("ready")
    while not Path(config["stop"]).exists():
        await asyncio.sleep(0.1)
    await asyncio.sleep(DRAIN_SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"sockets": sockets}


# --- load --------------------------------------------------------------------------------------


async def load(url: str, projects: list[dict[str, Any]], rate: int, batch: int, seconds: float) -> list[dict]:
    import httpx
    import orjson

    words = "user order payment request cache database timeout retry completed failed started".split()
    bodies = [
        orjson.dumps(
            [
                {
                    "message": f"{words[i % len(words)]} {words[(i * 7) % len(words)]} request {i} done",
                    "level": ["info", "info", "warn", "error"][i % 4],
                    "service": ["checkout", "cart", "search", "auth"][i % 4],
                    "attributes": {"http.status_code": 200 if i % 9 else 500, "duration_ms": i % 97},
                }
                for i in range(batch)
            ]
        )
        for _ in range(4)
    ]
    interval = batch / rate
    requests: list[dict] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def send(index: int) -> None:
            project = projects[index % len(projects)]
            sent = time.time()
            response = await client.post(
                "/api/v1/ingest/logs",
                content=bodies[index % len(bodies)],
                headers={"authorization": f"Bearer {project['key']}", "content-type": "application/json"},
            )
            requests.append(
                {
                    "project": project["id"],
                    "count": batch,
                    "sent": sent,
                    "ack": time.time(),
                    "status": response.status_code,
                }
            )

        started = time.monotonic()
        pending = []
        index = 0
        while time.monotonic() - started < seconds:
            due = started + index * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(send(index)))
            index += 1
        await asyncio.gather(*pending)
    return requests


# --- analysis ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")
    )


def analyse(requests: list[dict], sockets: list[dict]) -> dict[str, Any]:
    acked = [r for r in requests if r["status"] == 200]
    by_project: dict[int, list[dict]] = {}
    for request in sorted(acked, key=lambda r: r["ack"]):
        by_project.setdefault(request["project"], []).append(request)
    latencies: list[float] = []
    dropped, bad_ids, gaps, busiest = 0, 0, 0, 0
    for socket in sockets:
        mine = by_project.get(socket["project"], [])
        times = [t for t, _ in socket["received"]]
        totals = [c for _, c in socket["received"]]
        cumulative = 0
        for request in mine:
            cumulative += request["count"]
            at = bisect.bisect_left(totals, cumulative)
            if at < len(totals):
                latencies.append((times[at] - request["ack"]) * 1000)
        if (totals[-1] if totals else 0) != cumulative:
            dropped += 1
        ids = socket["ids"]
        if ids != list(range(ids[0], ids[0] + len(ids))) if ids else False:
            bad_ids += 1
        gaps += socket["gaps"]
        frames = socket["frames"]
        busiest = max([busiest, *(bisect.bisect_left(frames, t + 1.0) - i for i, t in enumerate(frames))])
    ack_ms = [(r["ack"] - r["sent"]) * 1000 for r in acked]
    lags = [lag for socket in sockets for _, lag in socket["lags"]]
    span = (max(r["ack"] for r in acked) - min(r["sent"] for r in acked)) if acked else 1
    return {
        "requests": len(requests),
        "non_2xx": len(requests) - len(acked),
        "events": sum(r["count"] for r in acked),
        "events_per_second": sum(r["count"] for r in acked) / span,
        "samples": len(latencies),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "negative": sum(1 for value in latencies if value < 0),
        "sockets": len(sockets),
        "dropped": dropped,
        "bad_ids": bad_ids,
        "gaps": gaps,
        "busiest_second": busiest,
        "frames_per_socket_per_second": statistics.mean(
            len(s["frames"]) / max(1e-9, (s["frames"][-1] - s["frames"][0]) or 1)
            for s in sockets
            if s["frames"]
        ),
        "commit_p50": percentile(lags, 50),
        "commit_p95": percentile(lags, 95),
        "commit_p99": percentile(lags, 99),
        "ack_p50": percentile(ack_ms, 50),
        "ack_p99": percentile(ack_ms, 99),
    }


def render(result: dict[str, Any], settings: dict[str, Any]) -> str:
    ok = result["p95"] < TARGET_P95_MS and result["dropped"] == 0 and result["bad_ids"] == 0
    return f"""# Live fan-out benchmark (`make bench-live`)

Machine: {platform.machine()}, {os.cpu_count()} cores; {WORKERS} uvicorn workers on one SO_REUSEPORT port;
PostgreSQL, Redis, the server, the {result["sockets"]} subscribers (one process) and the load generator
(another process) share the same cores. {PROJECTS} projects, {SUBSCRIBERS_PER_PROJECT} signed-in members
each with an open `/ws/projects/{{id}}/live/`; native JSON logs at a steady
{settings["rate"]:,} events/s in batches of {settings["batch"]}, round-robin over the projects, for
{settings["seconds"]:.0f} s.

| measure | value | target |
| --- | ---: | --- |
| ingest-ack → message-received p50 | {result["p50"]:.0f} ms | |
| ingest-ack → message-received p95 | **{result["p95"]:.0f} ms** | < {TARGET_P95_MS} ms |
| ingest-ack → message-received p99 | {result["p99"]:.0f} ms | |
| … max | {result["max"]:.0f} ms | |
| COMMIT → message-received p50 / p95 / p99 (event `at` to arrival) \
| {result["commit_p50"]:.0f} / {result["commit_p95"]:.0f} / {result["commit_p99"]:.0f} ms | |
| samples (each acknowledged request, at each subscriber of its project) | {result["samples"]:,} | |
| subscribers whose received total ≠ acknowledged total | {result["dropped"]} of {result["sockets"]} | 0 |
| subscribers with non-consecutive event ids / gap frames | {result["bad_ids"]} / {result["gaps"]} | 0 / 0 |
| events acknowledged | {result["events"]:,} ({result["events_per_second"]:,.0f}/s) | {settings["rate"]:,}/s |
| requests / non-2xx | {result["requests"]:,} / {result["non_2xx"]} | 0 non-2xx |
| ingest request latency p50 / p99 | {result["ack_p50"]:.0f} / {result["ack_p99"]:.0f} ms | |
| frames per socket: mean rate / most in any 1 s \
| {result["frames_per_socket_per_second"]:.1f}/s / {result["busiest_second"]} | ≤ ~4/s |
| server worker CPU during the run | {settings["cpu"]} | |

Result: **{"target met" if ok else "target NOT met"}**. Latencies below zero ({result["negative"]:,} samples)
are announcements that reached the page before the HTTP response reached the client.
Load average before/after the run (other work shares this machine): \
{settings["load_before"]} / {settings["load_after"]}.

## Reading these figures

- How an event travels (apps/dashboards/live.py, consumers.py): COMMIT → the worker's publisher
  thread (throttle: at most one event per project and kind every 0.25 s, leading edge + trailing
  flush) → one Lua call (INCR id, XADD to the project's stream) → in each web process, one blocking
  XREAD over the streams its sockets watch → each socket sends what continues its cursor, at most
  one frame per 0.25 s. Up to ~0.5 s of latency is deliberate batching (both 0.25 s intervals);
  typical is about half of each. What remains is Redis, the event loops and the shared cores.
- "COMMIT → received" starts at the event's `at`, the newest commit folded into it: it understates
  the wait of the earlier batches folded into the same event (the ack-based figures do not).
- Why a follower per process and not a Channels group message per event: the first version poked
  every socket through `group_send` and had each socket read the stream. With channels_redis a
  group message costs several Redis round trips per receiving socket; at this load (≈1,000 socket
  deliveries/s) p95 was 750 to 1,050 ms, with the workers at 63-72 % CPU instead of about 55 %
  (2026-11-22 runs on this machine, similar load). The Channels layer now carries only access
  changes (a removed member's sockets are closed at once).
"""


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "subscribe":
        config = json.loads(Path(sys.argv[2]).read_text())
        result = asyncio.run(subscribe(config))
        Path(sys.argv[3]).write_text(json.dumps(result))
        return
    seconds = float(os.environ.get("BENCH_LIVE_SECONDS", "30"))
    rate = int(os.environ.get("BENCH_LIVE_RATE", "5000"))
    batch = int(os.environ.get("BENCH_LIVE_BATCH", "50"))
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # a dedicated db: streams of earlier runs
    reset_database()
    import django

    django.setup()
    from bench.ingest_runs import Servers, cpu_seconds

    projects = create_tenants()
    servers = Servers(WORKERS)
    work = Path(tempfile.mkdtemp(prefix="vigil-live-"))
    config = {
        "url": servers.url,
        "projects": projects,
        "ready": str(work / "ready"),
        "stop": str(work / "stop"),
    }
    (work / "config.json").write_text(json.dumps(config))
    subscriber = subprocess.Popen(
        [sys.executable, __file__, "subscribe", str(work / "config.json"), str(work / "result.json")],
        cwd=ROOT,
    )
    try:
        while not (work / "ready").exists():
            if subscriber.poll() is not None:
                raise RuntimeError("subscribers failed to connect")
            time.sleep(0.2)
        asyncio.run(load(servers.url, projects, rate, batch, 3))  # warm-up: connections, partitions
        time.sleep(DRAIN_SECONDS)
        load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        cpu_start = [cpu_seconds(pid) for pid in servers.pids]
        started = time.time()
        requests = asyncio.run(load(servers.url, projects, rate, batch, seconds))
        cpu = [
            f"{(cpu_seconds(pid) - before) / (time.time() - started) * 100:.0f} %"
            for pid, before in zip(servers.pids, cpu_start, strict=True)
        ]
        (work / "stop").write_text("stop")
        subscriber.wait(timeout=120)
        load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
        try:
            servers.stop()
        except subprocess.TimeoutExpired:
            for process in servers.processes:
                process.kill()
    sockets = json.loads((work / "result.json").read_text())["sockets"]
    # Only what happened after the warm-up counts: drop events received before the measured run.
    for socket in sockets:
        warm = [(t, c) for t, c in socket["received"] if t < started]
        base = warm[-1][1] if warm else 0
        socket["received"] = [(t, c - base) for t, c in socket["received"] if t >= started]
        kept = len(socket["ids"]) - len(warm)
        socket["ids"] = socket["ids"][len(warm) :] if kept >= 0 else []
        socket["frames"] = [t for t in socket["frames"] if t >= started]
        socket["lags"] = [(t, lag) for t, lag in socket["lags"] if t >= started]
    result = analyse(requests, sockets)
    settings = {
        "rate": rate,
        "batch": batch,
        "seconds": seconds,
        "cpu": " / ".join(cpu),
        "load_before": load_before,
        "load_after": load_after,
    }
    report = render(result, settings)
    (ROOT / "bench" / "LIVE_RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
