"""Compiling a search AST (apps.logs.query) into a parameterised SQL condition on logs_event.

Every user value travels as a query parameter; the only text spliced into SQL is fixed by this
module (column names from a closed set, operators from a closed set). Conditions are written so
that no value can raise a SQL error at run time: numeric comparisons on JSON values go through a
CASE that only casts numbers and strings that look like plain decimals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from apps.billing import retention
from apps.logs.query import (
    NUMBER_RE,
    And,
    Equals,
    JsonCompare,
    JsonMatch,
    Level,
    Node,
    Not,
    Or,
    Text,
)

Condition = tuple[str, list[Any]]

_JSON_COLUMNS = {"attributes", "resource"}
_EQUALS_COLUMNS = {"service", "trace_id", "span_id"}
_COMPARISONS = {">", ">=", "<", "<="}
_JSON_LITERALS = {"true", "false", "null"}
# A JSON string is compared as a number only when it is a plain decimal (no exponent: '1e999999'
# would overflow numeric and turn a search into a 500).
# ASCII whitespace only: what ::numeric accepts around a number. `\s` would also match Unicode
# spaces (U+2003 ...), and the cast would then fail the whole search with a 500.
_DECIMAL_PATTERN = r"^[ \t\n\r\f\v]*-?[0-9]{1,30}(\.[0-9]{1,30})?[ \t\n\r\f\v]*$"


def compile_for_project(project_id: int, node: Node | None, now: datetime | None = None) -> Condition:
    """The search condition AND the project's retention per level class: rows past retention are
    never served, even before the daily task has dropped their partitions."""
    condition, params = compile_condition(node)
    fragment, cutoffs = retention.log_cutoffs(project_id, now or datetime.now(UTC)).sql()
    return f"({condition}) AND {fragment}", [*params, *cutoffs]


def compile_condition(node: Node | None) -> Condition:
    """(sql, params) for a WHERE clause fragment; TRUE for an empty query."""
    if node is None:
        return "TRUE", []
    return _compile(node)


def _compile(node: Node) -> Condition:
    if isinstance(node, Text):
        return "message ILIKE %s", [f"%{escape_like(node.value)}%"]
    if isinstance(node, Level):
        return _level(node)
    if isinstance(node, Equals):
        assert node.column in _EQUALS_COLUMNS
        return f"{node.column} = %s", [node.value]
    if isinstance(node, JsonMatch):
        return _json_match(node)
    if isinstance(node, JsonCompare):
        return _json_compare(node)
    if isinstance(node, Not):
        sql, params = _compile(node.operand)
        # IS NOT TRUE, not NOT: `-trace_id:x` must keep rows whose trace_id is NULL.
        return f"(({sql}) IS NOT TRUE)", params
    if isinstance(node, And | Or):
        parts = [_compile(operand) for operand in node.operands]
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]
    raise TypeError(f"unknown node {node!r}")


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _level(node: Level) -> Condition:
    if node.op == "=":
        if node.low == node.high:
            return "level = %s", [node.low]
        return "level BETWEEN %s AND %s", [node.low, node.high]
    # level>warn means above the whole warn class; level>=warn from its first severity.
    bound = {">=": node.low, ">": node.high, "<=": node.high, "<": node.low}[node.op]
    return f"level {node.op} %s", [bound]


def _documents(key: str, value_json: str) -> list[str]:
    """OTel keys are flat with dots (`http.status_code`); native JSON may nest: try both shapes."""
    documents = ["{" + orjson.dumps(key).decode() + ":" + value_json + "}"]
    if "." in key:
        nested = value_json
        for part in reversed(key.split(".")):
            nested = "{" + orjson.dumps(part).decode() + ":" + nested + "}"
        documents.append(nested)
    return documents


def _json_match(node: JsonMatch) -> Condition:
    assert node.column in _JSON_COLUMNS
    values = [orjson.dumps(node.value).decode()]
    if not node.quoted:
        # attr.user_id:42 matches 42 and "42"; attr.ok:true matches true and "true".
        if node.value in _JSON_LITERALS:
            values.append(node.value)
        elif NUMBER_RE.match(node.value):
            values.append(str(Decimal(node.value)))  # '007' is not JSON; Decimal normalises it
    documents = [document for value in values for document in _documents(node.key, value)]
    # Containment (@>) so a GIN index on the column can serve it.
    sql = " OR ".join(f"{node.column} @> %s::jsonb" for _ in documents)
    return f"({sql})", documents


def _json_compare(node: JsonCompare) -> Condition:
    assert node.column in _JSON_COLUMNS and node.op in _COMPARISONS
    column = node.column
    path = node.key.split(".")
    value = f"coalesce({column} -> %s, {column} #> %s::text[])"
    sql = (
        f"(CASE jsonb_typeof({value})"
        f" WHEN 'number' THEN ({value})::numeric"
        f" WHEN 'string' THEN CASE WHEN ({value} #>> '{{}}') ~ %s THEN ({value} #>> '{{}}')::numeric END"
        f" END {node.op} %s::numeric)"
    )
    key_params = [node.key, path]
    params = key_params * 2 + key_params + [_DECIMAL_PATTERN] + key_params + [node.number]
    return sql, params
