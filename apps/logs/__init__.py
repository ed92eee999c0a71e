"""Logs: owner of logs_event and the log count tables; search, stats and patterns.

Public surface (what other apps may import; nothing else of this app):
  apps.logs.storage         ensure_partitions, copy_logs, COPY/TYPES/TS_COLUMN, drop_expired,
                            DEBUG_LEVELS, WARN_LEVELS (partitions, the COPY, the retention drop)
  apps.logs.selectors       search_logs, log_patterns, trace_logs, level_name, LOG_ROWS,
                            LOG_LEVEL_MINUTES, count_logs_by_project (reads; other apps never
                            name our tables); for alert evaluation: log_counts,
                            log_services_seen, log_pattern_counts, and grouped for a batch of
                            policies log_counts_many (LogCountRequest), log_services_seen_many
  apps.logs.stats           log_stats, bucket_starts, ORIGIN
  apps.logs.counts          count_logs, recount, counted_until, note_late_rows,
                            note_late_range (the log counts; the scheme is apps.storage.counting)
  apps.logs.query           parse, QuerySyntaxError (the search language)
  apps.logs.matcher         compile_matcher, Predicate (the language over one record)
"""
