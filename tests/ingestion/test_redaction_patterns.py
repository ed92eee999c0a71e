"""Tenant-written redaction patterns run in RE2: a catastrophic pattern cannot stall a worker (and
with it every other tenant), what RE2 cannot run is refused when saved, and their number and
length are capped."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import re2

from apps.ingestion.models import MAX_REDACT_PATTERN_LENGTH, MAX_REDACT_PATTERNS, IngestionSettings
from apps.ingestion.redaction import REDACTED, Redactor
from tests.conftest import client_for
from tests.ingestion.conftest import logs_of

ADD = "/manage/ingestion/ingestionsettings/add/"
CATASTROPHIC = "(a+)+$"
HOSTILE_LINE = "a" * 40 + "!"  # 2^40 backtracking steps for Python's re: hours, not a request


def save_patterns(client, project, patterns):
    return client.post(
        ADD, {"project": project.pk, "redact_keys": "[]", "redact_patterns": json.dumps(patterns)}
    )


def test_a_catastrophic_pattern_is_compiled_by_re2_and_finishes_on_the_hostile_line():
    redactor = Redactor(extra_patterns=(CATASTROPHIC,))
    assert isinstance(redactor.custom_pattern, re2._Regexp)
    assert redactor.text(HOSTILE_LINE * 100) == HOSTILE_LINE * 100
    assert redactor.text("id aaaa") == f"id {REDACTED}"


def test_default_and_project_patterns_both_mask(org_a):
    redactor = Redactor(extra_patterns=(r"EMP-\d{4}",))
    text = "Bearer abcdefgh12345 paid by EMP-1234 with 4111 1111 1111 1111"
    assert redactor.text(text) == f"{REDACTED} paid by {REDACTED} with {REDACTED}"


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        (r"(a)\1", "invalid escape sequence"),
        (r"(?<!x)secret", "invalid perl operator"),
        (r"x(?=y)", "invalid perl operator"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_when_saved_with_the_reason(alice_client, org_a, pattern, said):
    response = save_patterns(alice_client, org_a.project, [r"EMP-\d{4}", pattern])
    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "is not supported" in page and said in page and "RE2" in page
    assert not IngestionSettings.objects.exists()


def test_too_many_patterns_are_refused(alice_client, org_a):
    patterns = [f"code-{i}" for i in range(MAX_REDACT_PATTERNS + 1)]
    response = save_patterns(alice_client, org_a.project, patterns)
    assert f"At most {MAX_REDACT_PATTERNS} redaction patterns" in response.content.decode()
    assert not IngestionSettings.objects.exists()
    assert save_patterns(alice_client, org_a.project, patterns[:-1]).status_code == 302


def test_a_pattern_too_long_or_too_large_for_re2_is_refused(alice_client, org_a):
    response = save_patterns(alice_client, org_a.project, ["x" * (MAX_REDACT_PATTERN_LENGTH + 1)])
    assert f"longer than {MAX_REDACT_PATTERN_LENGTH} characters" in response.content.decode()
    response = save_patterns(alice_client, org_a.project, ["((((a{100}){100}){100}){100})"])
    assert "is not supported" in response.content.decode()
    assert not IngestionSettings.objects.exists()


def test_a_pattern_matching_empty_text_is_refused(alice_client, org_a):
    response = save_patterns(alice_client, org_a.project, ["x*"])
    assert "matches empty text" in response.content.decode()
    assert not IngestionSettings.objects.exists()


def test_a_pattern_stored_before_re2_is_skipped_not_run_by_python_re(org_a):
    redactor = Redactor(extra_patterns=(r"(a)\1", r"EMP-\d{4}"))
    assert redactor.text("EMP-1234 aa") == f"{REDACTED} aa"


@pytest.mark.django_db(transaction=True)
def test_a_hostile_tenant_pattern_does_not_hold_up_its_own_or_another_tenants_ingestion(
    vigil_server, org_a, org_b
):
    alice = client_for(org_a.owner)
    assert save_patterns(alice, org_a.project, [CATASTROPHIC]).status_code == 302  # RE2 runs it safely

    def send(key: str, records: list[dict]) -> httpx.Response:
        return httpx.post(
            vigil_server.url + "/api/v1/ingest/logs",
            json=records,
            headers={"authorization": f"Bearer {key}"},
            timeout=60,
        )

    hostile = [{"message": HOSTILE_LINE, "attributes": {"note": HOSTILE_LINE}}, {"message": "aaaa"}]
    with ThreadPoolExecutor(4) as pool:
        hostile_replies = [pool.submit(send, org_a.ingest_key, hostile) for _ in range(3)]
        other = pool.submit(send, org_b.ingest_key, [{"message": "other tenant"}]).result()
        assert [reply.result().status_code for reply in hostile_replies] == [200, 200, 200]
    assert other.status_code == 200
    assert [row["message"] for row in logs_of(org_b.project.id)] == ["other tenant"]
    stored = logs_of(org_a.project.id)
    assert sorted(row["message"] for row in stored) == sorted([HOSTILE_LINE] * 3 + [REDACTED] * 3)
