"""Per-minute log counts and the trigram extension for message search.

`logs_count_1m` holds one row per (project, minute, severity, service), recounted from
logs_event by the `count_logs` beat task (apps.logs.counts). Stats without a query read it, so
"level counts per 5 minutes over 24 h" sums ~1,440 minutes x levels x services rows instead of
scanning millions of log rows. It is range-partitioned by day like every telemetry table, so
retention drops partitions; apps.logs.counts creates them on demand.

pg_trgm lets apps.logs.textindex build GIN indexes that serve `message ILIKE '%word%'` on
sealed (past) partitions and finished hours only: a GIN index on rows still being written would
cut COPY throughput several-fold.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE logs_count_1m (
    project_id bigint      NOT NULL,
    minute     timestamptz NOT NULL,
    level      smallint    NOT NULL,
    service    text        NOT NULL,
    count      bigint      NOT NULL,
    -- INCLUDE (count): stats read a project's day as an index-only scan of one contiguous key range;
    -- the heap interleaves every project's rows minute by minute (~10x more pages to read).
    PRIMARY KEY (project_id, minute, level, service) INCLUDE (count)
) PARTITION BY RANGE (minute);
-- Two narrower rollups of logs_count_1m, recounted from it in the same transaction, for stats
-- without a query: the level histogram does not need the service (~8x fewer rows per day of a
-- busy project) and top services do not need minutes (hours: ~60x fewer).
CREATE TABLE logs_count_level_1m (
    project_id bigint      NOT NULL,
    minute     timestamptz NOT NULL,
    level      smallint    NOT NULL,
    count      bigint      NOT NULL,
    PRIMARY KEY (project_id, minute, level) INCLUDE (count)
) PARTITION BY RANGE (minute);
CREATE TABLE logs_count_service_1h (
    project_id bigint      NOT NULL,
    hour       timestamptz NOT NULL,
    service    text        NOT NULL,
    count      bigint      NOT NULL,
    PRIMARY KEY (project_id, hour, service) INCLUDE (count)
) PARTITION BY RANGE (hour);
-- Lets a search of the newest, not yet trigram-indexed hour read only that hour's pages of the
-- open partition whatever the planner thinks of (project_id, ts) correlation. BRIN costs a COPY
-- nothing: rows landing in not yet summarised page ranges update no index.
CREATE INDEX IF NOT EXISTS logs_event_ts_brin ON logs_event USING brin (ts) WITH (pages_per_range = 32);
-- One row: every minute before counted_until has been counted (later arrivals within the late
-- window are recounted). Its row lock is how one count_logs run claims the work.
CREATE TABLE logs_count_watermark (
    id            smallint PRIMARY KEY CHECK (id = 1),
    counted_until timestamptz
);
INSERT INTO logs_count_watermark (id, counted_until) VALUES (1, NULL);
"""

DROP = """
DROP TABLE IF EXISTS logs_count_watermark;
DROP TABLE IF EXISTS logs_count_service_1h CASCADE;
DROP TABLE IF EXISTS logs_count_level_1m CASCADE;
DROP TABLE IF EXISTS logs_count_1m CASCADE;
"""


class Migration(migrations.Migration):
    dependencies = [("logs", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, DROP)]
