"""Storage mechanics shared by the owners of the telemetry tables (partitions, COPY, per-minute
count tables) and the process-wide Redis client of hot paths, with its circuit breaker and Lua
scripts; no models, no tables of its own.

Public surface:
  apps.storage.partitions   create_partitions, ensure_day_partitions, forget_partitions,
                            partition_name, day_bounds, days_between, days_around,
                            expired_partitions, drop_expired, drop_partition, partition_exists
  apps.storage.copy         copy_rows (binary COPY of prepared rows), PreEncodedJsonbDumper
  apps.storage.redis        one Redis client per process and URL, short timeouts: shared_client;
                            its circuit breaker: available_client, trip; Lua scripts registered
                            once: script(text); TAKE_TOKENS (the token bucket's Lua function)
  apps.storage.counting     the per-minute count-table scheme: CountTable, advance, CountRun,
                            floor_minute, late_threshold, late_span, note_late_rows,
                            note_late_range, recount_stale, RUN_BUDGET_SECONDS
"""
