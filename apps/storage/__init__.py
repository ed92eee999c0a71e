"""Storage mechanics shared by the owners of the telemetry tables; no models, no tables of its own.

Public surface:
  apps.storage.partitions   create_partitions, ensure_day_partitions, forget_partitions,
                            partition_name, day_bounds, days_between, days_around,
                            expired_partitions, drop_expired, drop_partition, partition_exists
  apps.storage.copy         copy_rows (binary COPY of prepared rows)
"""
