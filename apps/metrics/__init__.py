"""Metrics: owner of metrics_series, metrics_point and the rollups; the query API.

Public surface (what other apps may import; nothing else of this app):
  apps.metrics.storage      ensure_point_partitions, write_points, remember_series,
                            forget_series, TS_COLUMN, drop_expired
  apps.metrics.selectors    metric_list_for, metric_query_run, series_names_present,
                            POINT_ROWS, SERIES_ROWS, count_points_by_project (reads; other apps
                            never name our tables)
  apps.metrics.rollups      rollup_range (re-roll a backfilled range)
"""
