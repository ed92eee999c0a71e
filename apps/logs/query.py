"""The log search language: a hand-written lexer and recursive-descent parser producing an AST.

Grammar (AND binds tighter than OR; juxtaposition is AND):

    query    := or_expr? END
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (("AND")? unary)*
    unary    := ("-" | "NOT") unary | primary
    primary  := "(" or_expr ")" | FIELD OP value | WORD | PHRASE
    value    := WORD | PHRASE

FIELD is `level`, `service`, `trace_id`, `span_id`, `message`, `attr.<key>` or `resource.<key>`,
written directly before its operator (`:`, `>`, `>=`, `<`, `<=`) and value: `level>=warn`.
Only upper-case AND / OR / NOT are operators; `or` is a word like any other.

Nothing here knows SQL: apps.logs.sql compiles the AST into a parameterised WHERE clause.
Every error is a QuerySyntaxError carrying the character offset and what the parser expected,
which the API returns as 400 {"position", "expected"}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

MAX_QUERY_LENGTH = 2000
MAX_DEPTH = 24
MAX_TERMS = 64

LEVEL_CLASSES = {"trace": (1, 4), "debug": (5, 8), "info": (9, 12), "warn": (13, 16), "error": (17, 20)}
LEVEL_CLASSES["fatal"] = (21, 24)
LEVEL_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "information": "info"}
PLAIN_FIELDS = ("level", "service", "trace_id", "span_id", "message")
FIELDS_EXPECTED = "a field (level, service, trace_id, span_id, message, attr.<key>, resource.<key>)"
LEVEL_EXPECTED = "a level (trace, debug, info, warn, error, fatal) or a severity number 0-24"
NUMBER_RE = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?\Z")
HEX_RE = re.compile(r"[0-9a-fA-F]{1,32}\Z")

_FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)(>=|<=|:|>|<)")
_WORD_END = frozenset(' \t\r\n()"')
_NOT_NEGATABLE = frozenset(" \t\r\n)")  # '-' before these is a word, not a negation


class QuerySyntaxError(ValueError):
    def __init__(self, position: int, expected: str, message: str = "") -> None:
        self.position = position
        self.expected = expected
        super().__init__(message or f"Query syntax error at position {position}: expected {expected}.")


# --- AST ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Case-insensitive substring of the message."""

    value: str


@dataclass(frozen=True)
class Level:
    op: str  # one of = >= > <= <
    low: int
    high: int  # a class is a range: level:error is 17..20; a number is low == high


@dataclass(frozen=True)
class Equals:
    column: str  # service, trace_id or span_id
    value: str


@dataclass(frozen=True)
class JsonMatch:
    """attr.key:value / resource.key:value, exact; `quoted` values only match JSON strings."""

    column: str  # attributes or resource
    key: str
    value: str
    quoted: bool


@dataclass(frozen=True)
class JsonCompare:
    column: str
    key: str
    op: str  # > >= < <=
    number: str  # validated decimal text: compared as numeric, never interpolated


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Union[Text, Level, Equals, JsonMatch, JsonCompare, Not, And, Or]  # noqa: UP007 (dataclass forward refs)


# --- lexer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # WORD PHRASE FIELD LPAREN RPAREN AND OR NOT MINUS END
    text: str
    position: int
    op: str = ""


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    index, length = 0, len(source)
    while index < length:
        char = source[index]
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(Token("LPAREN" if char == "(" else "RPAREN", char, index))
            index += 1
        elif char == '"':
            text, end = _read_phrase(source, index)
            tokens.append(Token("PHRASE", text, index))
            index = end
        elif char == "-" and index + 1 < length and source[index + 1] not in _NOT_NEGATABLE:
            tokens.append(Token("MINUS", "-", index))
            index += 1
        else:
            index = _read_word(source, index, tokens)
    tokens.append(Token("END", "", length))
    return tokens


def _read_phrase(source: str, start: int) -> tuple[str, int]:
    """Returns (unescaped text, index after the closing quote); backslash escapes \" and \\."""
    chars: list[str] = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            chars.append(source[index + 1])
            index += 2
        elif char == '"':
            return "".join(chars), index + 1
        else:
            chars.append(char)
            index += 1
    raise QuerySyntaxError(len(source), 'a closing "', f"Unterminated phrase starting at position {start}.")


def _read_word(source: str, start: int, tokens: list[Token]) -> int:
    field = _FIELD_RE.match(source, start)
    if field:
        tokens.append(Token("FIELD", field.group(1), start, op=field.group(2)))
        return _read_value(source, field.end(), tokens)
    index = start
    while index < len(source) and source[index] not in _WORD_END:
        index += 1
    word = source[start:index]
    kind = word if word in ("AND", "OR", "NOT") else "WORD"
    tokens.append(Token(kind, word, start))
    return index


def _read_value(source: str, start: int, tokens: list[Token]) -> int:
    """The value glued to a field operator; may start with '-' (attr.delta>-5 is not a negation)."""
    if start < len(source) and source[start] == '"':
        text, end = _read_phrase(source, start)
        tokens.append(Token("PHRASE", text, start))
        return end
    index = start
    while index < len(source) and source[index] not in _WORD_END:
        index += 1
    if index > start:
        tokens.append(Token("WORD", source[start:index], start))
    return index


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.terms = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse_or(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise QuerySyntaxError(self.current.position, "fewer nested parentheses or negations")
        operands = [self.parse_and(depth)]
        while self.current.kind == "OR":
            self.advance()
            operands.append(self.parse_and(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self, depth: int) -> Node:
        operands = [self.parse_unary(depth)]
        while self.current.kind not in ("OR", "RPAREN", "END"):
            if self.current.kind == "AND":
                self.advance()
            operands.append(self.parse_unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_unary(self, depth: int) -> Node:
        if self.current.kind in ("MINUS", "NOT"):
            self.advance()
            if depth + 1 > MAX_DEPTH:
                raise QuerySyntaxError(self.current.position, "fewer nested parentheses or negations")
            return Not(self.parse_unary(depth + 1))
        return self.parse_primary(depth)

    def parse_primary(self, depth: int) -> Node:
        token = self.current
        if token.kind == "LPAREN":
            self.advance()
            node = self.parse_or(depth + 1)
            if self.current.kind != "RPAREN":
                raise QuerySyntaxError(self.current.position, "')'")
            self.advance()
            return node
        if token.kind in ("WORD", "PHRASE"):
            self.advance()
            return self.counted(Text(token.text))
        if token.kind == "FIELD":
            self.advance()
            return self.counted(self.parse_field(token))
        raise QuerySyntaxError(token.position, "a search term, a field filter or '('")

    def counted(self, node: Node) -> Node:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(self.current.position, f"at most {MAX_TERMS} terms")
        return node

    def parse_field(self, field: Token) -> Node:
        value = self.current
        value_position = field.position + len(field.text) + len(field.op)
        if value.kind not in ("WORD", "PHRASE") or value.position != value_position:
            raise QuerySyntaxError(value_position, f"a value after '{field.text}{field.op}'")
        self.advance()
        return field_node(field.text, field.op, value.text, value.kind == "PHRASE", value_position)


def field_node(name: str, op: str, value: str, quoted: bool, position: int) -> Node:
    """Builds the node of one `name op value` filter, validating the value for that field."""
    op = "=" if op == ":" else op
    if name == "level":
        return _level_node(op, value, position)
    if name == "message":
        if op != "=":
            raise QuerySyntaxError(position - 1, "':' (message has no ordering)")
        return Text(value)
    if name in ("service", "trace_id", "span_id"):
        if op != "=":
            raise QuerySyntaxError(position - len(op), f"':' ({name} is matched exactly)")
        if name != "service" and not HEX_RE.match(value):
            raise QuerySyntaxError(position, "a hexadecimal id")
        return Equals(name, value.lower() if name != "service" else value)
    prefix, _, key = name.partition(".")
    if prefix not in ("attr", "resource") or not key:
        raise QuerySyntaxError(position - len(op) - len(name), FIELDS_EXPECTED)
    column = "attributes" if prefix == "attr" else "resource"
    if op == "=":
        return JsonMatch(column, key, value, quoted)
    if quoted or not NUMBER_RE.match(value):
        raise QuerySyntaxError(position, "a number (e.g. 500 or 0.25)")
    return JsonCompare(column, key, op, value)


def _level_node(op: str, value: str, position: int) -> Node:
    name = LEVEL_ALIASES.get(value.lower(), value.lower())
    if name in LEVEL_CLASSES:
        low, high = LEVEL_CLASSES[name]
        return Level(op, low, high)
    if value.isdigit() and int(value) <= 24:
        return Level(op, int(value), int(value))
    raise QuerySyntaxError(position, LEVEL_EXPECTED)


def parse(source: str) -> Node | None:
    """The AST of `source`, or None for an empty query (match everything)."""
    if len(source) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(MAX_QUERY_LENGTH, f"a query of at most {MAX_QUERY_LENGTH} characters")
    if "\x00" in source:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        raise QuerySyntaxError(source.index("\x00"), "a character other than NUL")
    parser = _Parser(tokenize(source))
    if parser.current.kind == "END":
        return None
    node = parser.parse_or(0)
    if parser.current.kind != "END":
        # Only a stray ')' can stop the AND loop before the end.
        raise QuerySyntaxError(parser.current.position, "end of query (unbalanced ')')")
    return node
