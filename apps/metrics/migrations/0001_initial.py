"""Metric storage: `metrics_series` (one row per project + name + labels) and
`metrics_point`, range-partitioned by day on `ts` and keyed by project_id first.

Neither is a Django model: the ingestion hot path upserts series and COPYs points in
one round trip each (apps.ingestion.writer).
"""

from django.db import migrations

CREATE = """
CREATE TABLE metrics_series (
    id           bigserial   PRIMARY KEY,
    project_id   bigint      NOT NULL,
    name         text        NOT NULL,
    type         text        NOT NULL,  -- gauge | sum | histogram | exponential_histogram
    unit         text        NOT NULL DEFAULT '',
    temporality  smallint    NOT NULL DEFAULT 0, -- OTLP AggregationTemporality: 0 n/a, 1 delta, 2 cumulative
    is_monotonic boolean     NOT NULL DEFAULT false,
    labels       jsonb       NOT NULL DEFAULT '{}',
    labels_hash  bytea       NOT NULL,  -- blake2b of name + canonical labels: the series identity
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Ingestion resolves (project, hash) -> id; the query API looks up series by name.
CREATE UNIQUE INDEX metrics_series_identity ON metrics_series (project_id, labels_hash);
CREATE INDEX metrics_series_project_name ON metrics_series (project_id, name);

CREATE TABLE metrics_point (
    project_id    bigint           NOT NULL,
    series_id     bigint           NOT NULL,
    ts            timestamptz      NOT NULL,
    start_ts      timestamptz,               -- start of the aggregation window (sums, histograms)
    value         double precision,          -- gauge / sum value; NULL for histograms
    count         bigint,                    -- histogram fields below
    sum           double precision,
    min           double precision,
    max           double precision,
    bounds        double precision[],        -- explicit bucket upper bounds
    bucket_counts bigint[],                  -- len(bounds) + 1 counts
    exp_scale     integer,                   -- exponential histogram fields
    exp_zero_count bigint,
    exp_positive_offset integer,
    exp_positive_counts bigint[],
    exp_negative_offset integer,
    exp_negative_counts bigint[]
) PARTITION BY RANGE (ts);
-- Queries read one series (or one project's series) over a time range; rollups scan by ts.
CREATE INDEX metrics_point_series_ts ON metrics_point (project_id, series_id, ts);
"""

DROP = "DROP TABLE IF EXISTS metrics_point CASCADE; DROP TABLE IF EXISTS metrics_series CASCADE;"


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunSQL(CREATE, DROP)]
