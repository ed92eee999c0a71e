"""Markdown for bench/INGEST_RESULTS.md (the lead merges it into BENCHMARKS.md)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

TARGETS = {"native_logs": 100_000, "otlp_logs": 80_000}


def _row(name: str, run: dict[str, Any], ceiling: float, target: int | None) -> str:
    ratio = run["events_per_s"] / ceiling if ceiling else 0
    target_text = f"≥ {target:,}/s and ≥ 0.5 of COPY" if target else "—"
    return (
        f"| {name} | {run['events_per_s']:,.0f} | {run['requests_per_s']:,.1f} | {run['p50_ms']:.1f} | "
        f"{run['p99_ms']:.1f} | {ratio:.2f} | {run['non2xx'] + run['errors']} | "
        f"{' / '.join(str(c) for c in run.get('worker_cpu', []))} | {run.get('postgres_cpu', '?')} | "
        f"{run.get('machine_busy', '?')} | {target_text} |"
    )


def render(results: dict[str, Any], duration: int, connections: int, elapsed: float) -> str:
    lines = [
        "# Ingestion benchmark (`make bench-ingest`)",
        "",
        f"Machine: {platform.machine()}, {results['workers']} cores; uvicorn workers = cores, one process",
        "each on a shared SO_REUSEPORT port; PostgreSQL, Redis and the load generator share the same cores.",
        "Requests of 1,000 records; `wrk -t1 "
        f"-c{connections}` replaying a prepared body for {duration} s per scenario after a 3 s warm-up.",
        f"Body sizes: {', '.join(f'{k} {v / 1024:.0f} KiB' for k, v in results['body_bytes'].items())}.",
        "",
        "| scenario | events/s | requests/s | p50 ms | p99 ms | ratio to raw COPY | non-2xx | worker CPU % "
        "| PostgreSQL CPU % | machine busy % | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
        _row("OTLP protobuf logs", results["otlp_logs"], results["copy_otlp_logs"], TARGETS["otlp_logs"]),
        _row("native JSON logs", results["native_logs"], results["copy_native_logs"], TARGETS["native_logs"]),
        _row("OTLP protobuf metrics", results["otlp_metrics"], results["copy_otlp_metrics"], None),
        "",
        "CPU % is of one core (the machine has two); machine busy % is of both.",
        "",
        "Raw psycopg binary COPY of the same rows (what the endpoint writes for these bodies), 2 processes /",
        "2 connections, 1,000 rows per transaction, measured just before each endpoint run (each phase",
        "starts from emptied, checkpointed tables): "
        f"**{results['copy_otlp_logs']:,.0f}** and **{results['copy_native_logs']:,.0f} log rows/s**, "
        f"**{results['copy_otlp_metrics']:,.0f} metric points/s**.",
        "Load average before/after the run (other work shares this machine): "
        f"{' '.join(f'{x:.2f}' for x in results['load_average_before'])} / "
        f"{' '.join(f'{x:.2f}' for x in results['load_average_after'])}.",
        "",
        "Latency at half the peak request rate (paced client, 8 connections):",
        "",
        "| scenario | rate (req/s) | p50 ms | p99 ms | statuses | target |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for name, key in (
        ("OTLP protobuf logs", "half_rate_otlp_logs"),
        ("native JSON logs", "half_rate_native_logs"),
    ):
        run = results[key]
        lines.append(
            f"| {name} | {run['rate']:.1f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
            f"{run['statuses']} | p99 < 150 ms |"
        )
    rss = ", ".join(f"{value:.0f} MB" for value in results["rss_mb"])
    lines += [
        "",
        f"Server RSS per worker after the load: {rss} (target < 250 MB).",
        "",
        "## Where the time goes (py-spy, one worker, OTLP protobuf logs under load)",
        "",
        "Share of samples in which the function is on the stack (inclusive):",
        "",
        "| function | % |",
        "| --- | ---: |",
    ]
    for frame, share in results.get("profile", [])[:40]:
        lines.append(f"| `{frame}` | {share:.1f} |")
    lines += ["", f"Total bench time {elapsed:.0f} s.", ""]
    notes = Path(__file__).with_name("ingest_notes.md")
    if notes.exists():  # hand-written reading of the figures, kept across runs
        lines += [notes.read_text()]
    return "\n".join(lines)
