"""The live tail's matcher (apps.logs.matcher) selects exactly the rows the SQL search selects.

Parity is checked against the real thing: the same fixed data set is searched through the API
(PostgreSQL) and filtered by the matcher (Python), for a table of queries and for generated ones.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.logs.matcher import compile_matcher, fold_case, matches
from apps.logs.query import QuerySyntaxError, parse
from tests.ingestion.messages import attributes, log_record, logs_request
from tests.logs.conftest import at, logs_url, read
from tests.telemetry import ingest_logs

T1 = "5b8efff798038103d269b633813fc60c"
RECORDS = [
    {"level": "error", "service": "checkout", "message": "payment 42 failed: card declined", "trace_id": T1,
     "attributes": {"user_id": 42, "duration_ms": 812, "http.status_code": 500, "ratio": 0.1}},
    {"level": "info", "service": "checkout", "message": "payment 43 succeeded",
     "attributes": {"user_id": "43", "duration_ms": 120.5, "ratio": 1.50}},
    {"level": "debug", "service": "api", "message": "GET /health 200",
     "attributes": {"duration_ms": " 3 ", "code": "007", "ok": "true"}},
    {"level": "warn", "service": "api", "message": "health check failed",
     "attributes": {"duration_ms": "slow", "ok": False, "note": None}},
    {"level": "error", "service": "db", "message": "Connection RESET by peer",
     "attributes": {"http": {"status_code": 502, "method": "GET"}, "items": [10, 20, 30]}},
    {"level": "fatal", "service": "worker", "message": "out of memory 100%_done",
     "attributes": {"flag": True, "items": ["a", "b"], "tags": {"a": [1]}}},
    {"level": "info", "service": "API", "message": "ÉCOLE fermée, İstanbul ΟΔΟΣ",
     "attributes": {"a.b": None, "a": {"b": 5}, "big": 12345678901234567890}},
    {"level": 10, "service": "", "message": 'quoted "phrase" here \\ back',
     "attributes": {"user_id": 42.0, "n": "-0", "http.status_code": "503"}},
    {"message": "no level at all", "attributes": {"duration_ms": "1.5\n", "code": 7, "neg": -12.25}},
    {"level": 21, "service": "checkout", "message": "straße überall",
     "attributes": {"duration_ms": "\t2.50", "deep": {"x": {"y": {"z": 9}}}, "ratio": 1e-7}},
    {"level": "warn", "service": "checkout", "message": "trace me",
     "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "eee19b7ec3c1b174",
     "attributes": {"user_id": "0042", "items": [{"id": 1}]}},
]  # fmt: skip

QUERIES = [
    "",
    "payment",
    "PAYMENT",
    '"card declined"',
    "connection reset",
    "payment -failed",
    "health OR memory",
    "(payment OR health) failed",
    "NOT payment NOT health",
    "école",
    "ÉCOLE",
    "istanbul",
    "οδοσ",
    "STRASSE",
    "straße",
    "ÜBERALL",
    "100%",
    "%_",
    "_",
    "\\",
    '"\\"phrase\\""',
    "message:memory",
    "level:error",
    "level>=warn",
    "level>error",
    "level<info",
    "level<=info",
    "level:0",
    "level:10",
    "level>9",
    "level:fatal",
    "level:critical",
    "service:api",
    "service:API",
    "-service:api",
    'service:""',
    f"trace_id:{T1}",
    f"trace_id:{T1.upper()}",
    f"-trace_id:{T1}",
    "span_id:eee19b7ec3c1b174",
    "-span_id:eee19b7ec3c1b174",
    "attr.user_id:42",
    "attr.user_id:43",
    'attr.user_id:"42"',
    'attr.user_id:"43"',
    "attr.user_id:42.00",
    "attr.user_id:0042",
    "attr.code:007",
    'attr.code:"007"',
    "attr.code:7",
    "attr.ok:true",
    'attr.ok:"true"',
    "attr.ok:false",
    "attr.note:null",
    "attr.flag:true",
    "attr.n:0",
    "attr.n:-0",
    "attr.ratio:1.5",
    "attr.ratio:0.0000001",
    "attr.duration_ms>500",
    "attr.duration_ms<=3",
    "attr.duration_ms>0",
    "attr.duration_ms>=1.5",
    "attr.duration_ms<2.5",
    "-attr.duration_ms>0",
    "attr.missing>0",
    "attr.http.status_code:500",
    "attr.http.status_code:502",
    'attr.http.status_code:"503"',
    "attr.http.status_code>=500",
    "attr.http.method:GET",
    "attr.http:GET",
    "attr.items:10",
    "attr.items.1>15",
    "attr.items.-1>25",
    "attr.items.0:10",
    "attr.items.0.id>0",
    "attr.a.b:5",
    "attr.a.b>1",
    "attr.a.b:null",
    "attr.a:5",
    "attr.tags.a:1",
    "attr.deep.x.y.z>8",
    "attr.deep.x.y.z:9",
    "attr.big>12345678901234567000",
    "attr.neg<-12",
    "attr.neg>=-12.25",
    "attr.code>6",
    "attr.otel.scope.name:app.payments",
    "resource.host.name:web-1",
    "resource.deployment.environment:prod",
    "resource.region:eu",
    "resource.cpu>2",
    "level>=warn service:checkout",
    "(level:error OR attr.duration_ms>100) -service:db",
    "NOT (attr.user_id:42 OR attr.user_id:43)",
    "- - payment",
    "payment OR level:fatal OR resource.region:eu",
]


def otlp_records(org) -> None:
    """Two OTLP records: a resource with attributes, and a scope name in the attributes."""
    request = logs_request(
        log_record("from the sdk", severity_number=13, attributes={"duration_ms": 40}),
        log_record("also from the sdk", severity_number=0),
        service="checkout",
    )
    request.resource_logs[0].resource.attributes.extend(
        attributes({"deployment.environment": "prod", "region": "eu", "cpu": 4})
    )
    response = Client().post(
        "/v1/logs",
        data=request.SerializeToString(),
        content_type="application/x-protobuf",
        headers={"authorization": f"Bearer {org.ingest_key}"},
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def dataset(org_a):
    now = datetime.now(UTC)
    ingest_logs(
        org_a.ingest_key, [{"timestamp": at(30 - i, now), **record} for i, record in enumerate(RECORDS)]
    )
    otlp_records(org_a)
    return org_a


def search(org, query: str) -> list[dict]:
    response = read(Client(), logs_url(org.project.pk), org.read_key, q=query, start="-2h", limit=1000)
    assert response.status_code == 200, (query, response.content)
    return response.json()["records"]


def key(record: dict) -> tuple[str, str]:
    return record["timestamp"], record["message"]


def test_the_matcher_selects_exactly_what_the_search_selects(dataset):
    everything = search(dataset, "")
    assert len(everything) == len(RECORDS) + 2
    mismatches, outcomes = {}, set()
    for query in QUERIES:
        wanted = {key(record) for record in search(dataset, query)}
        predicate = compile_matcher(parse(query))
        got = {key(record) for record in everything if predicate(record)}
        if got != wanted:
            mismatches[query] = {"sql only": wanted - got, "matcher only": got - wanted}
        outcomes.add(frozenset(wanted))
    assert mismatches == {}
    assert len(outcomes) > 30  # the table tells rows apart; it is not a list of empty results


QUERY_PIECES = st.sampled_from(
    [
        "level",
        "level:",
        "level>=",
        "service:",
        "attr.user_id:",
        "attr.duration_ms>",
        "attr.duration_ms<=",
        "attr.http.status_code:",
        "attr.items.1>",
        "attr.a.b:",
        "attr.ok:",
        "resource.region:",
        "resource.cpu>",
        "trace_id:",
        "message:",
        "error",
        "warn",
        "info",
        "42",
        "43",
        "-1.5",
        "500",
        "3",
        "true",
        "null",
        "eu",
        "api",
        "checkout",
        "payment",
        "health",
        "failed",
        "école",
        "%",
        "_",
        '"',
        "(",
        ")",
        " ",
        " ",
        " ",
        "-",
        "AND ",
        "OR ",
        "NOT ",
    ]
)
GRAMMAR_QUERIES = st.lists(QUERY_PIECES, max_size=12).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=GRAMMAR_QUERIES)
def test_generated_queries_select_the_same_rows_in_sql_and_in_the_matcher(dataset, query):
    try:
        node = parse(query)
    except QuerySyntaxError:
        return
    everything = search(dataset, "")
    predicate = compile_matcher(node)
    assert {key(r) for r in everything if predicate(r)} == {key(r) for r in search(dataset, query)}, query


def python_records() -> list[dict]:
    """Records of every shape the matcher meets, without a database (for the fuzz test)."""
    records = []
    for i, record in enumerate(RECORDS):
        records.append(
            {
                "timestamp": (datetime.now(UTC) - timedelta(minutes=i)).isoformat(),
                "level": "info",
                "severity": 9 + i,
                "service": record.get("service", ""),
                "trace_id": record.get("trace_id"),
                "span_id": record.get("span_id"),
                "message": record["message"],
                "attributes": record.get("attributes", {}),
                "resource": {"region": "eu", "cpu": 4, "nested": {"list": [1, {"x": "2"}]}},
            }
        )
    return records


PYTHON_RECORDS = python_records()


@settings(max_examples=500, deadline=None)
@given(query=st.one_of(st.text(max_size=80), GRAMMAR_QUERIES))
def test_any_string_either_fails_to_parse_or_evaluates_without_error(query):
    try:
        node = parse(query)
    except QuerySyntaxError:
        return
    predicate = compile_matcher(node)
    for record in PYTHON_RECORDS:
        assert predicate(record) in (True, False)


def test_an_empty_query_matches_every_line():
    assert all(matches(None, record) for record in PYTHON_RECORDS)


def test_a_unicode_space_around_digits_is_not_a_number():
    # PostgreSQL's regex \s accepts U+2003 but its numeric cast does not: no number, no match.
    record = {**PYTHON_RECORDS[0], "attributes": {"x": "\u200312"}}
    assert not matches(parse("attr.x>5"), record)
    assert matches(parse("attr.x>5"), {**record, "attributes": {"x": " 12\n"}})


def test_case_folding_maps_one_character_to_one_character():
    assert fold_case("ΟΔΟΣ İstanbul ÉCOLE") == "οδοσ istanbul école"
    assert fold_case("Straße") == "straße"
