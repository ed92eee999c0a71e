"""Native log batches whose records are all plain are decoded a column at a time
(`native._plain_log_rows`): what is stored must be exactly what record-by-record decoding stores."""

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ingestion import native
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.redaction import REDACTED, Redactor

NOW_NS = time.time_ns()
HEX = "0123456789abcdef"


def decoded(records: list[Any], columns: bool) -> tuple[list[tuple[Any, ...]], int, list[str]]:
    cleaner = Cleaner(Redactor())
    batch = native.decode_logs(7, records, cleaner) if columns else native._decode_logs(7, records, cleaner)
    # observed_ts (column 2) is the time of decoding, and so is the timestamp of a record without one.
    rows = [row[:2] + row[3:] if row[1] != row[2] else row[3:] for row in batch.logs]
    return rows, batch.rejected, batch.reasons


def plain_record() -> st.SearchStrategy[dict[str, Any]]:
    """Records of the shapes the column path takes: they should nearly all stay plain."""
    return st.fixed_dictionaries(
        {
            "timestamp": st.integers(NOW_NS - 10**12, NOW_NS),
            "message": st.text(max_size=30),
        },
        optional={
            "level": st.sampled_from([0, 5, 9, 17, 24, "info", "ERROR", "warning", ""]),
            "service": st.sampled_from(["api", "checkout", "", "s" * 64]),
            "trace_id": st.text(HEX, min_size=32, max_size=32),
            "span_id": st.text(HEX, min_size=16, max_size=16),
            "attributes": st.dictionaries(
                st.sampled_from(["user.id", "http.route", "n", "ok", "k" * 64]),
                st.one_of(
                    st.text(max_size=20),
                    st.integers(-(2**63), 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(),
                    st.none(),
                ),
                max_size=4,
            ),
            "extra": st.integers(),
        },
    )


ODD_VALUES = {
    "timestamp": [None, 0, 1_700_000_000, "2026-01-01T00:00:00Z", NOW_NS + 10**15, 1.5e18, True, [1]],
    "message": [None, 5, {"a": 1}, "a\x00b", "Bearer abcdef123456", "card 4111 1111 1111 1111", "x" * 17_000],
    "level": [None, 25, -1, "bogus", True, 9.0, [1]],
    "service": [None, 5, "x" * 65, "x" * 300, "a\x00b", ["api"], False],
    "trace_id": ["", "AB" * 16, "0" * 32, "ab" * 15, "zz" * 16, "ab " * 10 + "ab", 5, None],
    "span_id": ["", "CD" * 8, "0" * 16, "cd" * 9, 7, None],
    "attributes": [
        None,
        [],
        "text",
        {"password": "hunter2"},
        {"k\x00": 1},
        {"n": "a\x00b"},
        {"x" * 65: 1},
        {"nested": {"a": 1}},
        {"nested": {"password": "hunter2"}},
        {"list": [{"auth_token": "t0k"}]},
        {"list": [1, 2]},
        {"big": 2**70},
        {"nan": float("nan")},
        {"inf": float("-inf")},
        {"long": "v" * 17_000},
        {"s": "null"},
        {"k": "vgl_ingest_" + "A" * 36},
        {str(n): n for n in range(200)},
    ],
}


@st.composite
def batch(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = draw(st.lists(plain_record(), min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 2))):
        index = draw(st.integers(0, len(records) - 1))
        if draw(st.integers(0, 9)) == 0:
            records[index] = draw(st.sampled_from([None, 5, "record", [1]]))
            continue
        if isinstance(records[index], dict):
            field = draw(st.sampled_from(sorted(ODD_VALUES)))
            records[index] = {**records[index], field: draw(st.sampled_from(ODD_VALUES[field]))}
    return records


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(batch())
def test_column_decoding_stores_exactly_what_record_by_record_decoding_stores(records):
    assert decoded(records, columns=True) == decoded(records, columns=False)


PLAIN = [
    {
        "timestamp": NOW_NS - n,
        "level": "info",
        "message": f"request {n}",
        "service": "api",
        "trace_id": f"{n + 1:032x}",
        "span_id": f"{n + 1:016x}",
        "attributes": {"n": n, "ok": True, "ratio": 0.5, "who": "ann", "gone": None},
    }
    for n in range(3)
]


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, values in ODD_VALUES.items() for value in values], ids=repr
)
def test_each_odd_value_among_plain_records_is_stored_as_record_by_record_decoding_stores_it(field, value):
    records = [PLAIN[0], {**PLAIN[1], field: value}, PLAIN[2]]
    assert decoded(records, columns=True) == decoded(records, columns=False)


def test_typical_batches_take_the_column_path():
    records = [
        {
            "timestamp": NOW_NS - n,
            "level": "info" if n % 2 else 17,
            "message": f"GET /api/orders/{n} 200",
            "service": "checkout",
            "trace_id": f"{n:032x}" if n else None,
            "span_id": f"{n + 1:016x}",
            "attributes": {"http.status_code": 200, "duration_ms": 1.5, "user.id": "u1", "cached": None},
        }
        for n in range(100)
    ]
    assert native._plain_log_rows(7, records, Cleaner(Redactor())) is not None
    without_times = [{"message": "started", "attributes": None} for _ in range(3)]
    assert native._plain_log_rows(7, without_times, Cleaner(Redactor())) is not None
    assert decoded(records, columns=True) == decoded(records, columns=False)


def test_a_batch_with_a_secret_is_masked_as_record_by_record_decoding_would():
    records = [{"timestamp": NOW_NS, "message": f"clean {n}", "attributes": {"n": n}} for n in range(5)]
    records[3]["attributes"]["card"] = "4111-1111-1111-1111"
    rows, rejected, _ = decoded(records, columns=True)
    assert rejected == 0 and REDACTED.encode() in rows[3][-2] and b"4111" not in rows[3][-2]
    assert (rows, rejected) == decoded(records, columns=False)[:2]
