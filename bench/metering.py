"""The metering's own cost per ingestion request: worker CPU spent in apps.billing (target ≤ 50 µs).

What runs: the exact calls ingestion makes per accepted request of 1,000 records —
`quota.admit(...)` (the one Redis script: the API keys' revocation epoch, which authentication
no longer reads with a GET of its own, rate limit, spike protection, quota, metering counters;
the plan from the process cache) and `Admission.headers()` — in a loop against a real Redis, with
spike protection on (an allowance key present, as the baseline task writes it), alternating with
a baseline: the same round trip with a trivial script (what the per-key rate limiter alone cost
before billing folded it in). CPU is this process's (time.process_time: what an ingestion worker
spends, syscalls included), not Redis's. The metering's own cost is the difference. Also run
inside `make bench-ingest` (a section of INGEST_RESULTS.md).

Standalone: `make bench-metering` (BENCH_METERING_CALLS, default 20,000) writes
bench/METERING_RESULTS.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_US = 50.0
ROUNDS = 5


def allow_everything(project_id: int, hours: int = 6) -> None:
    """Spike protection on, with an allowance no benchmark reaches: the script takes the spike
    path (GET, INCRBY, EXPIRE) without ever dropping."""
    import redis
    from django.conf import settings

    from apps.billing.quota import spike_keys

    client = redis.Redis.from_url(settings.REDIS_URL)
    now = int(time.time()) // 3600 * 3600
    for hour in range(hours):
        client.set(spike_keys(project_id, now + hour * 3600)[0], 10**15, ex=(hours + 1) * 3600)
    client.close()


BASELINE = "return {1000, 1, 0, 0}"


def measure(organization_id: int, project_id: int, key_id: int, calls: int) -> dict[str, Any]:
    """Median over ROUNDS of `calls` requests: CPU and wall µs of `quota.admit` + headers, and of
    the baseline — one round trip of a trivial script with the same keys and arguments, what the
    per-key rate limiter alone cost before billing folded it into its script. The difference is
    the metering's own cost; rounds alternate so both see the same machine."""
    import redis
    from django.conf import settings

    from apps.billing import quota
    from apps.projects.authentication import KEY_EPOCH

    allow_everything(project_id)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)
    # As ingestion calls it: the API keys' revocation epoch compared first, in the same script.
    watch = (KEY_EPOCH, client.get(KEY_EPOCH))
    drops = {"invalid": 0, "retention": 0}
    admission = quota.admit(organization_id, project_id, "logs", 1000, drops, key_id, watch)  # warm
    baseline = client.register_script(BASELINE)
    keys = [quota.PENDING_KEY, "vigil:quota:used:1:202612", f"vigil:ingest:bucket:{key_id}", "s:a", "s:b"]
    keys.append(KEY_EPOCH)
    groups = "2 3 4 5 500000000 allow -1 1|2|logs| -"
    args = ["1765000000 3456000 100000000 1000000000 6 0", "", groups, "1 1000 0"]
    baseline(keys=keys, args=args)

    def metered() -> None:
        quota.admit(organization_id, project_id, "logs", 1000, drops, key_id, watch).headers()

    def round_trip() -> None:
        baseline(keys=keys, args=args)

    timings: dict[str, list[tuple[float, float]]] = {"metered": [], "baseline": []}
    for _ in range(ROUNDS):
        for name, call in (("metered", metered), ("baseline", round_trip)):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(calls):
                call()
            timings[name].append(
                (
                    (time.process_time() - cpu_start) / calls * 1e6,
                    (time.perf_counter() - wall_start) / calls * 1e6,
                )
            )
    client.close()
    admission = quota.admit(organization_id, project_id, "logs", 1000, drops, key_id, watch)
    assert admission.metered and admission.keep == 1000, "the benchmark must not be throttled or unmetered"
    cpu = [m[0] - b[0] for m, b in zip(timings["metered"], timings["baseline"], strict=True)]
    return {
        "calls": calls,
        "rounds": ROUNDS,
        "cpu_us": statistics.median(cpu),
        "admit_cpu_us": statistics.median(m[0] for m in timings["metered"]),
        "baseline_cpu_us": statistics.median(b[0] for b in timings["baseline"]),
        "wall_us": statistics.median(m[1] for m in timings["metered"]),
        "baseline_wall_us": statistics.median(b[1] for b in timings["baseline"]),
        "load_average": os.getloadavg(),
    }


def render(result: dict[str, Any]) -> str:
    verdict = "meets" if result["cpu_us"] <= TARGET_US else "misses"
    load = " / ".join(f"{x:.2f}" for x in result["load_average"])
    return "\n".join(
        [
            "## Metering's own cost per request",
            "",
            "apps.billing's part of each ingestion request (bench/metering.py): `quota.admit` — one Redis",
            "script for the API keys' revocation epoch, the key's rate limit, spike protection, the",
            "plan's quota and the usage counters — plus the quota headers, for a request of 1,000 log",
            "records, spike protection on; against the",
            "baseline of one round trip of a trivial script with the same keys and arguments (what the",
            "per-key rate limiter cost on its own before billing folded it into this script).",
            f"Medians of {result['rounds']} alternating rounds of {result['calls']:,} calls each:",
            "",
            "| | worker CPU per request | wall per request |",
            "| --- | ---: | ---: |",
            f"| `quota.admit` + headers | {result['admit_cpu_us']:.1f} µs | {result['wall_us']:.1f} µs |",
            f"| baseline round trip | {result['baseline_cpu_us']:.1f} µs "
            f"| {result['baseline_wall_us']:.1f} µs |",
            f"| **metering's own cost** | **{result['cpu_us']:.1f} µs** "
            f"(target ≤ {TARGET_US:.0f} µs: {verdict}) | |",
            "",
            f"Load average at the end: {load} (a shared machine: figures move with other load).",
            "",
        ]
    )


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import servers

    servers.ensure()
    os.environ["DATABASE_URL"] = servers.database_url("vigil_bench_metering")
    os.environ["REDIS_URL"] = servers.redis_url(12)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"
    servers.recreate_database("vigil_bench_metering")
    import django

    django.setup()
    from bench.ingest_runs import create_tenant

    project_id, key_id, organization_id = tenant_ids(create_tenant())
    calls = int(os.environ.get("BENCH_METERING_CALLS", "20000"))
    result = measure(organization_id, project_id, key_id, calls)
    report = "# Metering benchmark (`make bench-metering`)\n\n" + render(result)
    (ROOT / "bench" / "METERING_RESULTS.md").write_text(report)
    print(report)


def tenant_ids(tenant: tuple[int, str]) -> tuple[int, int, int]:
    """(project id, key id, organization id) of the bench tenant."""
    from apps.projects.models import ApiKey, Project

    project_id, _ = tenant
    project = Project.objects.get(pk=project_id)
    key_id = ApiKey.objects.filter(project=project).values_list("pk", flat=True).first()
    assert key_id is not None
    return project_id, key_id, project.organization_id


if __name__ == "__main__":
    main()
