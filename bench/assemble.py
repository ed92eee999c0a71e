"""Assemble BENCHMARKS.md from the results each benchmark writes (bench/*_RESULTS.md).

`make bench` runs every benchmark and then this; each `make bench-*` refreshes its own file.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [
    ("INGEST_RESULTS.md", "make bench-ingest"),
    ("QUERY_LOGS_RESULTS.md", "make bench-query-logs"),
    ("QUERY_METRICS_RESULTS.md", "make bench-query-metrics"),
    ("QUERY_TRACES_RESULTS.md", "make bench-query-traces"),
    ("LIVE_RESULTS.md", "make bench-live"),
    ("OVERVIEW_RESULTS.md", "make bench-overview"),
    ("CHAOS_RESULTS.md", "make bench-chaos"),
    ("ALERTS_RESULTS.md", "make bench-alerts"),
    ("NOTIFY_RESULTS.md", "make bench-notify"),
    ("ERRORS_RESULTS.md", "make bench-errors"),
]
HEADER = """# Benchmarks

Measured on the project's machine: 2 cores, 24 GiB, PostgreSQL and Redis on the same box as the
server and the load generator. Every figure below says how it was produced; reproduce any section
with the command under its heading (or all of them with `make bench`, which also rebuilds this
file). Benchmarks load their own databases and never touch the development data.

Each section states the load average during its run. Where other jobs shared the 2 cores, ratios
measured in the same run are more telling than absolute rates.
"""


def main() -> None:
    parts = [HEADER.strip()]
    for name, command in SECTIONS:
        path = ROOT / "bench" / name
        body = path.read_text().strip() if path.exists() else "# (not run yet)"
        # Each results file is a document of its own: shift its headings one level down.
        lines = ["#" + line if line.startswith("#") else line for line in body.splitlines()]
        parts.append(f"{lines[0]}\n\nReproduce: `{command}`\n" + "\n".join(lines[1:]))
    (ROOT / "BENCHMARKS.md").write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
