"""Markdown for bench/INGEST_RESULTS.md (the lead merges it into BENCHMARKS.md)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from bench.ingest_runs import ROUNDS

TARGETS = {"native_logs": 100_000, "otlp_logs": 80_000}


def _row(name: str, run: dict[str, Any], target: int | None) -> str:
    ratio = run["ratio_median"]
    target_text = f"≥ {target:,}/s and ≥ 0.5 of COPY" if target else "—"
    return (
        f"| {name} | {run['events_per_s']:,.0f} | {run['requests_per_s']:,.1f} | {run['p50_ms']:.1f} | "
        f"{run['p99_ms']:.1f} | {ratio:.3f} | {run['non2xx'] + run['errors']} | "
        f"{' / '.join(str(c) for c in run.get('worker_cpu', []))} | {run.get('postgres_cpu', '?')} | "
        f"{run.get('machine_busy', '?')} | {target_text} |"
    )


def render(results: dict[str, Any], duration: int, connections: int, elapsed: float) -> str:
    bare = results["bare_native_logs"]
    seconds = max(5, duration // 2)
    lines = [
        "# Ingestion benchmark (`make bench-ingest`)",
        "",
        f"Machine: {platform.machine()}, {results['workers']} cores; uvicorn workers = cores, one process",
        "each on a shared SO_REUSEPORT port; PostgreSQL, Redis and the load generator share the same cores.",
        f"Requests of 1,000 records; `wrk -t1 -c{connections}` replaying a prepared body, per scenario"
        f" {ROUNDS} rounds of {seconds} s,",
        f"each right after {seconds} s of raw COPY (below). events/s, latency and CPU are of the median"
        " round; the ratio is the median",
        "of the per-round ratios (this machine's speed drifts by ±15 % between half-minute runs).",
        f"Body sizes: {', '.join(f'{k} {v / 1024:.0f} KiB' for k, v in results['body_bytes'].items())}.",
        "",
        "| scenario | events/s | requests/s | p50 ms | p99 ms | ratio to raw COPY | non-2xx | worker CPU % "
        "| PostgreSQL CPU % | machine busy % | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
        _row("OTLP protobuf logs", results["otlp_logs"], TARGETS["otlp_logs"]),
        _row("native JSON logs", results["native_logs"], TARGETS["native_logs"]),
        _row("OTLP protobuf metrics", results["otlp_metrics"], None),
        _row("OTLP/gRPC logs", results["grpc_logs"], None),
        _row("Prometheus remote-write samples", results["prom_write"], None),
        "",
        "OTLP/gRPC logs: the OTLP protobuf logs body over gRPC (`manage.py otlp_grpc`, one process per core,"
        f" {connections} connections with a call in flight each, from bench/ingest_grpc.py); "
        f"{results['grpc_logs']['events_per_s'] / results['otlp_logs']['events_per_s']:.2f} of OTLP/HTTP"
        " protobuf's records/s, and "
        f"{results['grpc_logs']['ratio_median'] / results['otlp_logs']['ratio_median']:.2f} of its ratio"
        " to raw COPY (the same comparison, less exposed to the machine's drift between the two runs;"
        " target ≥ 0.90 for both). Remote-write: 1,000 samples per request (100 series x 10 scrapes,"
        " snappy).",
        "",
        "CPU % is of one core (the machine has two); machine busy % is of both.",
        "",
        "Calibration, same run and load: the least a native JSON endpoint can do (bench/ingest_bare.py:",
        "orjson + binary COPY of the same rows, nothing checked) served "
        f"**{bare['events_per_s']:,.0f} records/s** (p50 "
        f"{bare['p50_ms']:.0f} ms); the real native endpoint reached "
        f"{results['native_logs']['events_per_s'] / bare['events_per_s']:.2f} of that.",
        "",
        "Raw psycopg binary COPY of the same rows (what the endpoint writes for these bodies), 2 processes /",
        "2 connections, 1,000 rows per transaction, measured right before each endpoint round (each phase",
        "starts from emptied, checkpointed tables), medians: "
        f"**{results['copy_otlp_logs']:,.0f}** and **{results['copy_native_logs']:,.0f} log rows/s**, "
        f"**{results['copy_otlp_metrics']:,.0f} metric points/s** (OTLP) and "
        f"**{results['copy_prom_write']:,.0f}** (remote-write).",
        "",
        "| scenario | rounds: endpoint events/s / raw COPY rows/s = ratio |",
        "| --- | --- |",
        *(
            f"| {label} | "
            + "; ".join(
                f"{rate:,.0f} / {copy:,.0f} = {ratio:.3f}" for rate, copy, ratio in results[key]["rounds"]
            )
            + " |"
            for label, key in (
                ("OTLP protobuf logs", "otlp_logs"),
                ("native JSON logs", "native_logs"),
                ("OTLP protobuf metrics", "otlp_metrics"),
                ("OTLP/gRPC logs", "grpc_logs"),
                ("Prometheus remote-write samples", "prom_write"),
            )
        ),
        "",
        "Load average before/after the run (other work shares this machine): "
        f"{' '.join(f'{x:.2f}' for x in results['load_average_before'])} / "
        f"{' '.join(f'{x:.2f}' for x in results['load_average_after'])}.",
        "",
        "Latency at half the peak request rate (paced client, 8 connections):",
        "",
        "| scenario | rate (req/s) | p50 ms | p99 ms | statuses | target | slowest 1 % sent at (s) |"
        " PostgreSQL meanwhile |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]
    for name, key in (
        ("OTLP protobuf logs", "half_rate_otlp_logs"),
        ("native JSON logs", "half_rate_native_logs"),
    ):
        run = results[key]
        database = run.get("database", {})
        activity = (
            f"{database['wal_mb']:.0f} MB WAL, {database['checkpoints']:.0f} checkpoints started, "
            f"{database['backend_writes']:.0f} buffers written by backends"
            if database
            else ""
        )
        lines.append(
            f"| {name} | {run['rate']:.1f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
            f"{run['statuses']} | p99 < 150 ms | {run.get('slowest_at_s', '')} | {activity} |"
        )
    lines += [
        "",
        "Each paced phase starts from emptied, checkpointed tables after a 3 s warm-up at its rate, as",
        "the load rounds do; the last two columns say where its slowest hundredth came from.",
    ]
    rss = ", ".join(f"{value:.0f} MB" for value in results["rss_mb"])
    lines += [
        "",
        f"Server RSS per worker after the load: {rss} (target < 250 MB).",
        "",
    ]
    if "metering" in results:
        from bench.metering import render as metering_section

        lines += [*metering_section(results["metering"]).splitlines(), ""]
    lines += [
        "## Where the time goes (py-spy, one worker, OTLP protobuf logs under load)",
        "",
        "Samples of the thread holding the GIL (the worker's Python CPU; waits for PostgreSQL, Redis",
        "or the network are not in them): share in which the function is on the stack (inclusive).",
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
