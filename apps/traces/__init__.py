"""Traces: owner of traces_span; the trace API.

Public surface (what other apps may import; nothing else of this app):
  apps.traces.storage       ensure_partitions, copy_spans, START_COLUMN, drop_expired
  apps.traces.selectors     trace_detail, recent_traces, SPAN_ROWS, count_spans_by_project
                            (reads; other apps never name our table); for alert evaluation:
                            span_window_stats (SpanWindow, SPAN_PERCENTILES), span_services_seen,
                            and grouped for a batch of policies span_window_stats_many
                            (SpanWindowRequest), span_services_seen_many
"""
