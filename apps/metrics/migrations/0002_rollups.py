"""Rollups of metric points: `metrics_rollup_1m` and `metrics_rollup_1h`, plus the watermark row.

A rollup row holds, per series and bucket, *mergeable* partial aggregates: merging rows (the 1h
rollup from 1m rows, a 5-minute chart step from five 1m rows, a group of series) is sum/min/max
of the columns and an element-wise sum of the histogram bucket counts, never an average of
averages or of percentiles.

  count          raw samples (gauges, sums) or observations (histograms)
  sum/min/max    of the sample values, or the histograms' sum/min/max
  last           the last sample value in the bucket (gauges)
  increase       sums only: the counter's increase in the bucket. Delta points add up; for
                 cumulative points it is the difference to the previous point with reset
                 handling. Being additive, rate() over any step is sum(increase) / step.
  bounds, bucket_counts   explicit-bucket histograms (deltas for cumulative ones)

Both tables are range-partitioned on `bucket` (1m by day, 1h by month) so retention drops
partitions (1m kept 30 d, 1h 400 d). The BRIN index on the raw points' `ts` is what lets the
rollup read "the points of the last minutes" of all projects without a sequential scan of
the day partition; points arrive in ts order, so BRIN stays tiny and costs ingestion nothing.
"""

from django.db import migrations

ROLLUP_TABLE = """
CREATE TABLE {name} (
    project_id    bigint           NOT NULL,
    series_id     bigint           NOT NULL,
    bucket        timestamptz      NOT NULL,
    count         bigint           NOT NULL,
    sum           double precision,
    min           double precision,
    max           double precision,
    last          double precision,
    increase      double precision,
    bounds        double precision[],
    bucket_counts bigint[],
    -- Covering: a chart reads one series' buckets in key order from the index alone (index-only
    -- scan). The heap is in time order (all series of a minute together), so reading it for
    -- one series' day touched a page per row: 5x slower when the partition is not cached.
    PRIMARY KEY (project_id, series_id, bucket)
        INCLUDE (count, sum, min, max, last, increase, bounds, bucket_counts)
) PARTITION BY RANGE (bucket);
"""

CREATE = """
CREATE INDEX metrics_point_ts_brin ON metrics_point USING brin (ts);

{rollup_1m}
-- The 1h rollup re-reads the 1m rows of the current hour for all projects.
CREATE INDEX metrics_rollup_1m_bucket_brin ON metrics_rollup_1m USING brin (bucket);
{rollup_1h}
-- One row per rollup pipeline; the rollup task locks it to claim the range to roll up.
CREATE TABLE metrics_rollup_watermark (
    name         text        PRIMARY KEY,
    rolled_until timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Element-wise sum of histogram bucket counts. Arrays of another length (bounds changed
-- mid-bucket) are skipped rather than mis-added.
CREATE FUNCTION vigil_bucket_add(state bigint[], counts bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF counts IS NULL THEN RETURN state; END IF;
    IF state IS NULL THEN RETURN counts; END IF;
    IF cardinality(state) <> cardinality(counts) THEN RETURN state; END IF;
    FOR i IN 1 .. cardinality(state) LOOP
        state[i] := state[i] + counts[i];
    END LOOP;
    RETURN state;
END $$;
CREATE AGGREGATE vigil_bucket_sum(bigint[]) (SFUNC = vigil_bucket_add, STYPE = bigint[],
    COMBINEFUNC = vigil_bucket_add, PARALLEL = SAFE);

-- Bucket counts of a cumulative histogram minus those of its previous point.
CREATE FUNCTION vigil_bucket_sub(counts bigint[], previous bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF counts IS NULL OR previous IS NULL OR cardinality(counts) <> cardinality(previous) THEN
        RETURN counts;
    END IF;
    FOR i IN 1 .. cardinality(counts) LOOP
        counts[i] := counts[i] - previous[i];
    END LOOP;
    RETURN counts;
END $$;
""".replace("{rollup_1m}", ROLLUP_TABLE.format(name="metrics_rollup_1m")).replace(
    "{rollup_1h}", ROLLUP_TABLE.format(name="metrics_rollup_1h")
)

DROP = """
DROP TABLE IF EXISTS metrics_rollup_1m CASCADE;
DROP TABLE IF EXISTS metrics_rollup_1h CASCADE;
DROP TABLE IF EXISTS metrics_rollup_watermark;
DROP AGGREGATE IF EXISTS vigil_bucket_sum(bigint[]);
DROP FUNCTION IF EXISTS vigil_bucket_add(bigint[], bigint[]);
DROP FUNCTION IF EXISTS vigil_bucket_sub(bigint[], bigint[]);
DROP INDEX IF EXISTS metrics_point_ts_brin;
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, DROP)]
