"""The search language, parsed without a database: a table of queries and the AST each one means,
and a table of invalid queries with the position and expectation of the error."""

import pytest

from apps.logs.query import (
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    And,
    Equals,
    JsonCompare,
    JsonMatch,
    Level,
    Not,
    Or,
    QuerySyntaxError,
    Text,
    parse,
)

VALID = [
    ("", None),
    ("   ", None),
    ("timeout", Text("timeout")),
    ('"connection reset"', Text("connection reset")),
    ('"say \\"hi\\""', Text('say "hi"')),
    ("payment failed", And((Text("payment"), Text("failed")))),
    ("payment AND failed", And((Text("payment"), Text("failed")))),
    ("a OR b c", Or((Text("a"), And((Text("b"), Text("c")))))),
    ("(a OR b) c", And((Or((Text("a"), Text("b"))), Text("c")))),
    ("a or b", And((Text("a"), Text("or"), Text("b")))),  # only upper-case OR is an operator
    ("-health", Not(Text("health"))),
    ('-"health check"', Not(Text("health check"))),
    ("-(a OR b)", Not(Or((Text("a"), Text("b"))))),
    ("NOT debug", Not(Text("debug"))),
    ("a - b", And((Text("a"), Text("-"), Text("b")))),  # a lone dash is a word
    ("re-try", Text("re-try")),
    ("level:error", Level("=", 17, 20)),
    ("level:ERROR", Level("=", 17, 20)),
    ("level:warning", Level("=", 13, 16)),
    ("level>=warn", Level(">=", 13, 16)),
    ("level>info", Level(">", 9, 12)),
    ("level<error", Level("<", 17, 20)),
    ("level:17", Level("=", 17, 17)),
    ("service:api", Equals("service", "api")),
    ('service:"billing worker"', Equals("service", "billing worker")),
    ("trace_id:5B8EFFF798038103D269B633813FC60C", Equals("trace_id", "5b8efff798038103d269b633813fc60c")),
    ("span_id:eee19b7ec3c1b174", Equals("span_id", "eee19b7ec3c1b174")),
    ("message:timeout", Text("timeout")),
    ("attr.user_id:42", JsonMatch("attributes", "user_id", "42", quoted=False)),
    ('attr.user_id:"42"', JsonMatch("attributes", "user_id", "42", quoted=True)),
    ("attr.http.status_code:500", JsonMatch("attributes", "http.status_code", "500", quoted=False)),
    ("resource.host:web-1", JsonMatch("resource", "host", "web-1", quoted=False)),
    ("attr.duration_ms>500", JsonCompare("attributes", "duration_ms", ">", "500")),
    ("attr.ratio<=-0.25", JsonCompare("attributes", "ratio", "<=", "-0.25")),
    (
        'level>=warn service:api -"health check" (timeout OR refused)',
        And(
            (
                Level(">=", 13, 16),
                Equals("service", "api"),
                Not(Text("health check")),
                Or((Text("timeout"), Text("refused"))),
            )
        ),
    ),
]


@pytest.mark.parametrize(("source", "expected"), VALID, ids=[v[0] or "empty" for v in VALID])
def test_a_valid_query_parses_to_the_expected_tree(source, expected):
    assert parse(source) == expected


INVALID = [
    ("(error", 6, "')'"),
    ("error)", 5, "end of query"),
    ("()", 1, "a search term"),
    ("OR error", 0, "a search term"),
    ("error OR", 8, "a search term"),
    ("error AND", 9, "a search term"),
    ("-", None, None),  # a word, see VALID: kept here to document it is not an error
    ('"unterminated', 13, 'a closing "'),
    ("level:", 6, "a value after 'level:'"),
    ("level: error", 6, "a value after 'level:'"),
    ("level:loud", 6, "a level"),
    ("level:25", 6, "a level"),
    ("service>api", 7, "':'"),
    ("trace_id:xyz", 9, "a hexadecimal id"),
    ("attr.duration_ms>slow", 17, "a number"),
    ('attr.duration_ms>"5"', 17, "a number"),
    ("attr.x>1e999", 7, "a number"),
    ("http://example.com", 0, "a field"),
    ("attr:x", 0, "a field"),
    ("level:error)", 11, "end of query"),
    ("a (b OR c", 9, "')'"),
    ("nul\x00byte", 3, "a character other than NUL"),
]


@pytest.mark.parametrize(("source", "position", "expected"), INVALID, ids=[repr(v[0]) for v in INVALID])
def test_an_invalid_query_reports_where_and_what_was_expected(source, position, expected):
    if position is None:
        assert parse(source) is not None
        return
    with pytest.raises(QuerySyntaxError) as error:
        parse(source)
    assert error.value.position == position
    assert error.value.expected.startswith(expected)


def test_deep_nesting_is_refused_instead_of_exhausting_the_stack():
    with pytest.raises(QuerySyntaxError) as error:
        parse("(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5))
    assert "nested" in error.value.expected
    with pytest.raises(QuerySyntaxError):
        parse("-" * 5000 + "x")


def test_an_overlong_query_is_refused_at_the_length_limit():
    with pytest.raises(QuerySyntaxError) as error:
        parse("a " * MAX_QUERY_LENGTH)
    assert error.value.position == MAX_QUERY_LENGTH


def test_too_many_terms_are_refused():
    with pytest.raises(QuerySyntaxError):
        parse(" ".join(f"w{n}" for n in range(100)))
