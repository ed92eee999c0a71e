"""Evaluating a search AST (apps.logs.query) against one log record in Python.

The live tail filters lines as they arrive, in the WebSocket consumer, without a database round
trip. A line must appear in the tail exactly when the search API would return it, so each rule
here mirrors the SQL that apps.logs.sql compiles (tests/logs/test_matcher.py runs both on the
same rows):

- `Text` is `message ILIKE '%value%'`: a case-insensitive substring, folded one character at a
  time with the simple lower-case mapping (what PostgreSQL's lower() does under a UTF-8 locale).
- `Level` compares the severity number with the same bounds as the SQL.
- `Equals` is plain equality; NULL trace/span ids never match.
- `JsonMatch` is jsonb containment `@>` of `{"key": value}` or of the nested `{"a": {"b": value}}`
  for a dotted key: the value found must be a scalar equal to one of the candidates (numbers
  numerically, strings exactly; an array does not contain a scalar below the top level).
- `JsonCompare` takes the flat key's value, else the nested path's (`#>`, which also indexes
  arrays: `attr.items.0`), compares numbers and strings that look like plain decimals
  numerically, and never matches any other value.
- `Not` is `IS NOT TRUE`. SQL's NULLs only arise in comparisons and only `IS TRUE`/`IS NOT TRUE`
  ever look at a result, so two-valued logic gives the same answers.

Records have the shape of the search API's records (apps.logs.selectors.LogRecord); numbers in
attributes are Python ints and floats as orjson decodes them from the stored JSON text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.logs.query import NUMBER_RE, And, Equals, JsonCompare, JsonMatch, Level, Node, Not, Or, Text

Predicate = Callable[[Mapping[str, Any]], bool]
_MISSING = object()
# apps.logs.sql's _DECIMAL_PATTERN with PostgreSQL's regex semantics: `$` only at the very end,
# and only the white space that the numeric cast itself skips (PostgreSQL's \s also accepts Unicode
# spaces, which the cast then rejects: such a value is treated as no number here).
_DECIMAL_STRING = re.compile(r"[ \t\n\r\f\v]*-?[0-9]{1,30}(\.[0-9]{1,30})?[ \t\n\r\f\v]*\Z")
_JSON_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


def compile_matcher(node: Node | None) -> Predicate:
    """A predicate telling whether a record matches the query; an empty query matches everything."""
    if node is None:
        return lambda record: True
    return _compile(node)


def matches(node: Node | None, record: Mapping[str, Any]) -> bool:
    return compile_matcher(node)(record)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Text):
        return _text(node)
    if isinstance(node, Level):
        return _level(node)
    if isinstance(node, Equals):
        column, value = node.column, node.value
        return lambda record: record.get(column) == value
    if isinstance(node, JsonMatch):
        return _json_match(node)
    if isinstance(node, JsonCompare):
        return _json_compare(node)
    if isinstance(node, Not):
        operand = _compile(node.operand)
        return lambda record: not operand(record)
    if isinstance(node, And):
        parts = [_compile(operand) for operand in node.operands]
        return lambda record: all(part(record) for part in parts)
    if isinstance(node, Or):
        parts = [_compile(operand) for operand in node.operands]
        return lambda record: any(part(record) for part in parts)
    raise TypeError(f"unknown node {node!r}")


def fold_case(text: str) -> str:
    """Lower-case one character at a time, as PostgreSQL's lower() (towlower) does: 'İ' becomes
    'i', where Python's full mapping would make it two characters and shift every position."""
    if text.isascii():
        return text.lower()
    return "".join(_lower_char(char) for char in text)


def _lower_char(char: str) -> str:
    lowered = char.lower()
    return lowered if len(lowered) == 1 else lowered[0]


def _text(node: Text) -> Predicate:
    needle = fold_case(node.value)
    return lambda record: needle in fold_case(record.get("message") or "")


def _level(node: Level) -> Predicate:
    low, high = node.low, node.high
    if node.op == "=":
        return lambda record: low <= record["severity"] <= high
    bound = {">=": low, ">": high, "<=": high, "<": low}[node.op]
    compare = _COMPARE[node.op]
    return lambda record: compare(record["severity"], bound)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _candidates(node: JsonMatch) -> list[Any]:
    """The JSON values `attr.key:value` accepts, as apps.logs.sql._json_match lists them."""
    values: list[Any] = [node.value]
    if not node.quoted:
        if node.value in _JSON_LITERALS:
            values.append(_JSON_LITERALS[node.value])
        elif NUMBER_RE.match(node.value):
            values.append(Decimal(node.value))
    return values


def _json_match(node: JsonMatch) -> Predicate:
    column, key = node.column, node.key
    path = key.split(".") if "." in key else None
    candidates = _candidates(node)

    def predicate(record: Mapping[str, Any]) -> bool:
        document = record.get(column)
        if not isinstance(document, dict):
            return False
        if key in document and _scalar_in(document[key], candidates):
            return True
        if path is None:
            return False
        value: Any = document
        for part in path:
            # Containment of {"a": {"b": v}} needs an object at every level (no array indexing).
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return _scalar_in(value, candidates)

    return predicate


def _scalar_in(value: Any, candidates: list[Any]) -> bool:
    return any(_json_equal(value, candidate) for candidate in candidates)


def _json_equal(value: Any, candidate: Any) -> bool:
    """jsonb scalar equality: same JSON type, numbers compared as numeric."""
    if isinstance(candidate, str):
        return isinstance(value, str) and value == candidate
    if isinstance(candidate, bool) or candidate is None:
        return value is candidate
    number = _json_number(value)
    return number is not None and number == candidate


def _json_number(value: Any) -> Decimal | None:
    """The numeric value of a JSON number (bools are not numbers), exact for floats too: orjson
    wrote the stored text from the shortest repr, which Decimal(repr) reads back digit for digit."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else None


def _json_compare(node: JsonCompare) -> Predicate:
    column, key, path = node.column, node.key, node.key.split(".")
    bound, compare = Decimal(node.number), _COMPARE[node.op]

    def predicate(record: Mapping[str, Any]) -> bool:
        document = record.get(column)
        value = _json_get(document, key)
        if value is _MISSING:
            value = _json_path(document, path)
        number = _comparable_number(value)
        return number is not None and compare(number, bound)

    return predicate


def _json_get(document: Any, key: str) -> Any:
    """`column -> key`: a present key wins even when its value is JSON null."""
    if isinstance(document, dict) and key in document:
        return document[key]
    return _MISSING


def _json_path(document: Any, path: list[str]) -> Any:
    """`column #> path`: objects by key, arrays by (possibly negative) integer index."""
    value = document
    for part in path:
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list):
            index = _array_index(part, len(value))
            if index is None:
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _array_index(part: str, length: int) -> int | None:
    # PostgreSQL reads the element with strtoint: optional sign and digits, nothing else, int4 range.
    if not re.fullmatch(r"[+-]?[0-9]+", part):
        return None
    index = int(part)
    if not -(2**31) <= index < 2**31:
        return None
    if index < 0:
        index += length
    return index if 0 <= index < length else None


def _comparable_number(value: Any) -> Decimal | None:
    number = _json_number(value)
    if number is not None or not isinstance(value, str):
        return number
    if not _DECIMAL_STRING.match(value):
        return None
    try:
        return Decimal(value.strip(" \t\n\r\f\v"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        return None
