"""Exponential histograms (OTLP) give percentiles like explicit ones: their buckets are stored on one
fixed grid of half-powers of two, so exports with different scales and offsets merge by addition."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from apps.ingestion.records import EXP_GRID, ZERO_BUCKET, exponential_to_grid
from tests.metrics.conftest import iso, ns, query
from tests.telemetry import post_otlp_metrics


def exponential_point(values: list[float], scale: int, moment: datetime) -> dict:
    """What an OTel SDK's exponential histogram aggregation exports for `values` (delta)."""
    base = 2 ** (2**-scale)
    indexes = [math.ceil(math.log(v, base)) - 1 for v in values]  # bucket i holds (base^i, base^(i+1)]
    offset = min(indexes)
    counts = [0] * (max(indexes) - offset + 1)
    for index in indexes:
        counts[index - offset] += 1
    return {
        "timeUnixNano": ns(moment),
        "startTimeUnixNano": ns(moment - timedelta(seconds=10)),
        "count": str(len(values)),
        "sum": sum(values),
        "min": min(values),
        "max": max(values),
        "scale": scale,
        "zeroCount": "0",
        "positive": {"offset": offset, "bucketCounts": [str(c) for c in counts]},
    }


def export(points: list[dict]) -> dict:
    metric = {
        "name": "rpc.duration",
        "unit": "s",
        "exponentialHistogram": {"aggregationTemporality": 1, "dataPoints": points},
    }
    return {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [metric]}]}]}


def grid_bucket(value: float) -> int:
    return next((j for j, bound in enumerate(EXP_GRID) if value <= bound), len(EXP_GRID))


@pytest.mark.parametrize("scale", [-1, 0, 1, 3, 8])
def test_every_value_lands_in_the_grid_bucket_that_contains_it_or_holds_its_coarse_bucket(scale):
    base = 2 ** (2**-scale)
    for value in (0.0015, 0.3, 1.0, 1.7, 42.0, 9_000.0):
        index = math.ceil(math.log(value, base)) - 1
        counts = exponential_to_grid(scale, 0, index, [1], [])
        bucket = counts.index(1)
        if scale >= 1:  # fine enough: the very bucket of the value
            assert bucket == grid_bucket(value), (scale, value)
        else:  # coarser than the grid: the grid bucket that ends where the exponential bucket ends
            assert EXP_GRID[bucket] == pytest.approx(base ** (index + 1)), (scale, value)


def test_zeros_go_to_the_zero_bucket_and_negatives_to_the_mirror_of_their_magnitude():
    counts = exponential_to_grid(3, 4, 10, [1, 2, 3], [5], negative_offset=10)
    assert sum(counts) == 15 and len(counts) == len(EXP_GRID) + 1
    assert counts[ZERO_BUCKET] == 4 and EXP_GRID[ZERO_BUCKET - 1] < 0 < EXP_GRID[ZERO_BUCKET]
    magnitude = 2 ** (10 / 8)  # negative bucket 10 at scale 3 holds values down to -(2^(11/8))
    [negative] = [j for j in range(ZERO_BUCKET) if counts[j]]
    assert counts[negative] == 5 and EXP_GRID[negative - 1] <= -magnitude < EXP_GRID[negative]


def signed_point(values: list[float], scale: int, moment: datetime) -> dict:
    """As exponential_point, for data with zeros and negative values (OTLP's negative buckets)."""
    base = 2 ** (2**-scale)

    def buckets(magnitudes: list[float]) -> dict:
        if not magnitudes:
            return {"offset": 0, "bucketCounts": []}
        indexes = [math.ceil(math.log(v, base)) - 1 for v in magnitudes]
        counts = [0] * (max(indexes) - min(indexes) + 1)
        for index in indexes:
            counts[index - min(indexes)] += 1
        return {"offset": min(indexes), "bucketCounts": [str(c) for c in counts]}

    return {
        "timeUnixNano": ns(moment),
        "startTimeUnixNano": ns(moment - timedelta(seconds=10)),
        "count": str(len(values)),
        "sum": sum(values),
        "min": min(values),
        "max": max(values),
        "scale": scale,
        "zeroCount": str(values.count(0.0)),
        "positive": buckets([v for v in values if v > 0]),
        "negative": buckets([-v for v in values if v < 0]),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Mostly zeros: the median is 0 (it came out as -0.42 when zeros shared a bucket with negatives).
        ([-1.0] * 10 + [0.0] * 60 + [2.0] * 30, {"p50": 0.0}),
        # Negatives only: percentiles are negative, within a grid bucket of the truth.
        ([-8.0] * 50 + [-0.5] * 50, {"p50": -8.0, "p90": -0.5}),
        ([-3.0] * 20 + [0.0] * 20 + [5.0] * 60, {"p50": 5.0, "p10": None}),
    ],
)
def test_percentiles_of_exponential_histograms_with_zeros_and_negatives_are_right(
    client, org_a, values, expected
):
    now = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=2)
    post_otlp_metrics(org_a.ingest_key, export([signed_point(values, 4, now)]))

    for agg, truth in expected.items():
        if truth is None:
            continue
        response = query(
            client,
            org_a.project.pk,
            org_a.read_key,
            name="rpc.duration",
            agg=agg,
            step="60",
            start=iso(now - timedelta(minutes=1)),
            end=iso(now + timedelta(minutes=1)),
        )
        assert response.status_code == 200, response.content
        [value] = [v for _, v in response.json()["series"][0]["points"] if v is not None]
        if truth == 0.0:
            assert abs(value) < 1e-6, (agg, value)
        else:
            assert grid_bucket(value) == grid_bucket(truth) or abs(value - truth) <= abs(truth) * 0.42, (
                agg,
                value,
            )
            assert (value < 0) == (truth < 0), (agg, value)


@pytest.mark.django_db
@pytest.mark.parametrize("agg", ["p50", "p90", "p99"])
def test_percentiles_of_exponential_histograms_exported_at_different_scales_are_within_a_grid_bucket(
    client, org_a, agg
):
    rng = random.Random(7)
    now = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=2)
    first = [rng.lognormvariate(-2.5, 0.8) for _ in range(400)]
    second = [rng.lognormvariate(-2.0, 1.0) for _ in range(600)]
    # Two exports of one series with different scales (an SDK rescales as the range grows).
    post_otlp_metrics(
        org_a.ingest_key, export([exponential_point(first, 5, now), exponential_point(second, 3, now)])
    )

    response = query(
        client,
        org_a.project.pk,
        org_a.read_key,
        name="rpc.duration",
        agg=agg,
        step="60",
        start=iso(now - timedelta(minutes=1)),
        end=iso(now + timedelta(minutes=1)),
    )

    assert response.status_code == 200, response.content
    values = [value for _, value in response.json()["series"][0]["points"] if value is not None]
    truth = sorted(first + second)[int(int(agg[1:]) / 100 * 1000) - 1]
    assert len(values) == 1 and abs(grid_bucket(values[0]) - grid_bucket(truth)) <= 1, (values, truth)
