"""Settings for `make bench-ingest`: production settings with the per-key rate limit raised, so the
benchmark measures the limiter's cost (one Redis round trip) without being throttled by it."""

from config.settings import *  # noqa: F403

INGEST_RATE_PER_SECOND = 100_000_000
INGEST_RATE_BURST = 1_000_000_000
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
BILLING_DEFAULT_PLAN = "business"  # the benchmark measures metering and enforcement, never hits a quota
