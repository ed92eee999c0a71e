"""Grouping vigil-v1 as a table: pairs of events that must land in one issue, and pairs that must not."""

from __future__ import annotations

import pytest

from apps.errors.grouping import GROUPING, group, mask, normalize_filename
from tests.errors.conftest import exception_event, frame

VIEW = frame("shop.views", "checkout", "total = cart.total()", lineno=40)
MODEL = frame("shop.models", "total", "return sum(i.price for i in self.items)", lineno=12)
LIB = frame("django.core.handlers", "inner", "response = get_response(request)", lineno=55, in_app=False)


def js_frame(filename: str) -> dict[str, object]:
    return {"filename": filename, "function": "onClick", "context_line": "a.b()", "lineno": 1, "colno": 9001}


SAME = [
    pytest.param(
        exception_event("TypeError", "unsupported operand", [LIB, VIEW, MODEL]),
        exception_event("TypeError", "other text", [LIB, {**VIEW, "lineno": 41}, {**MODEL, "lineno": 99}]),
        id="line numbers and the message do not split a stack",
    ),
    pytest.param(
        exception_event("TypeError", "x", [LIB, VIEW, MODEL]),
        exception_event("TypeError", "x", [{**LIB, "function": "other_inner"}, VIEW, MODEL]),
        id="library frames do not split a stack",
    ),
    pytest.param(
        exception_event(
            "TypeError", "x", [VIEW, {**MODEL, "context_line": "  return sum(i.price for i in self.items)  "}]
        ),
        exception_event("TypeError", "x", [VIEW, MODEL]),
        id="context lines are compared without their indentation",
    ),
    pytest.param(
        exception_event("Error", "x", [js_frame("https://shop.test/static/main.3f2a1b9c.js")]),
        exception_event("Error", "x", [js_frame("https://cdn.shop.test/static/main.77aa00ff.js?v=2")]),
        id="JS build hashes, origins and query strings are stripped from file names",
    ),
    pytest.param(
        {"message": "User 17 not found at 2026-12-06T10:00:00Z from 10.0.0.7"},
        {"message": "User 4242 not found at 2025-01-01T23:59:59Z from 192.168.1.20"},
        id="numbers, dates and IPs are masked in messages",
    ),
    pytest.param(
        {"logentry": {"message": "order %s failed", "params": ["a1"], "formatted": "order a1 failed"}},
        {"logentry": {"message": "order %s failed", "params": ["b2"], "formatted": "order b2 failed"}},
        id="log messages group by their template",
    ),
    pytest.param(
        exception_event("ValueError", "bad id 3f2a1b9c-0d4e-4f6a-8b7c-9d0e1f2a3b4c for bob@shop.test", []),
        exception_event("ValueError", "bad id 00000000-1111-4222-8333-444455556666 for eve@x.org", []),
        id="an exception without frames groups by its masked value (UUIDs, emails)",
    ),
    pytest.param(
        exception_event("TypeError", "x", [VIEW], fingerprint=["checkout-total"]),
        exception_event("KeyError", "y", [MODEL], fingerprint=["checkout-total"]),
        id="the SDK's fingerprint wins over the stack",
    ),
]

DIFFERENT = [
    pytest.param(
        exception_event("TypeError", "x", [VIEW, MODEL]),
        exception_event("KeyError", "x", [VIEW, MODEL]),
        id="another exception type",
    ),
    pytest.param(
        exception_event("TypeError", "x", [VIEW, MODEL]),
        exception_event("TypeError", "x", [VIEW, {**MODEL, "function": "subtotal"}]),
        id="another in-app function",
    ),
    pytest.param(
        exception_event("TypeError", "x", [VIEW, MODEL]),
        exception_event("TypeError", "x", [VIEW, {**MODEL, "context_line": "return 0"}]),
        id="another line of code in an in-app frame",
    ),
    pytest.param(
        {"message": "payment declined"}, {"message": "payment refunded"}, id="messages with other words"
    ),
    pytest.param(
        exception_event("TypeError", "x", [VIEW], fingerprint=["{{ default }}", "tenant-a"]),
        exception_event("TypeError", "x", [VIEW], fingerprint=["{{ default }}", "tenant-b"]),
        id="a fingerprint extending the default splits it",
    ),
    pytest.param(
        exception_event("TypeError", "x", [VIEW], fingerprint=["{{ default }}"]),
        exception_event("KeyError", "x", [VIEW], fingerprint=["{{ default }}"]),
        id="{{ default }} stands for the default grouping",
    ),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_events_of_one_problem_get_one_hash(one, other):
    assert group(one).primary == group(other).primary


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_events_of_different_problems_get_different_hashes(one, other):
    assert group(one).primary != group(other).primary


def test_the_last_exception_of_a_chain_is_the_one_grouped():
    cause = {"type": "KeyError", "value": "sku", "stacktrace": {"frames": [MODEL]}}
    first = {
        "exception": {
            "values": [cause, {"type": "CheckoutFailed", "value": "a", "stacktrace": {"frames": [VIEW]}}]
        }
    }
    other_cause = {**cause, "type": "OSError"}
    second = {"exception": {"values": [other_cause, first["exception"]["values"][1]]}}

    assert group(first).primary == group(second).primary
    assert group(first).basis[0] == "CheckoutFailed"


def test_the_all_frames_hash_changes_with_library_frames_and_is_kept_apart():
    one = group(exception_event("TypeError", "x", [LIB, VIEW]))
    other = group(exception_event("TypeError", "x", [{**LIB, "function": "outer"}, VIEW]))

    assert one.primary == other.primary
    assert one.secondary is not None and one.secondary != other.secondary


def test_the_basis_says_which_frames_made_the_group():
    basis = group(exception_event("TypeError", "x", [LIB, VIEW, MODEL])).basis

    assert basis == [
        "TypeError",
        "shop.views checkout total = cart.total()",
        "shop.models total return sum(i.price for i in self.items)",
    ]
    assert GROUPING == "vigil-v1"


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("timeout after 30.5s on 10.1.2.3:5432", "timeout after <int>s on <ip>"),
        ("row 0x7f3a missing", "row <hex> missing"),
        ("job 5f2b7c9e01 failed", "job <hex> failed"),
        ("login failed for a.b+c@ex.co.uk", "login failed for <email>"),
        ("started 2026-12-06 10:00:00", "started <date>"),
        ("at 23:59:01 again", "at <time> again"),
        ("payment declined", "payment declined"),
    ],
)
def test_variable_parts_of_messages_are_masked(message, masked):
    assert mask(message) == masked


@pytest.mark.parametrize(
    ("filename", "normalized"),
    [
        ("https://shop.test/assets/app.3f2a1b9c.js", "/assets/app.js"),
        ("/assets/chunk-5e6f7a8b.mjs", "/assets/chunk.mjs"),
        ("app.abcdef1234567890.min.js", "app.min.js"),
        ("src/shop/views.py", "src/shop/views.py"),
        ("webpack:///./src/cart.ts?abcd", "/./src/cart.ts"),
    ],
)
def test_file_names_lose_origins_and_build_hashes(filename, normalized):
    assert normalize_filename(filename) == normalized


def test_frames_with_objects_where_text_belongs_group_as_their_text():
    """Components are cached by the frame's values; a list or an object is not hashable and is
    made without the cache, with the same result every time."""
    odd = {**VIEW, "function": ["checkout"], "context_line": {"line": 1}}
    first, again = (
        group(exception_event("TypeError", "x", [odd])),
        group(exception_event("TypeError", "x", [odd])),
    )
    assert first.primary == again.primary
    assert first.basis == ["TypeError", "shop.views ['checkout'] {'line': 1}"]
    assert first.primary != group(exception_event("TypeError", "x", [VIEW])).primary
