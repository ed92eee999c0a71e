"""The log explorer page itself (the shell logs.js fills): who may open it, and that it carries
nothing the CSP would block."""

import re

import pytest

pytestmark = pytest.mark.django_db


def logs_page(project_id: int) -> str:
    return f"/projects/{project_id}/logs/"


def test_it_is_shown_to_the_owner(alice_client, org_a):
    response = alice_client.get(logs_page(org_a.project.pk))

    assert response.status_code == 200
    assert b'id="log-query"' in response.content
    assert b'data-testid="live-tail"' in response.content
    assert f'data-project-id="{org_a.project.pk}"'.encode() in response.content


def test_it_is_shown_to_a_viewer(bob_client, org_a):
    response = bob_client.get(logs_page(org_a.project.pk))

    assert response.status_code == 200
    assert b'data-can-admin="false"' in response.content


def test_it_offers_every_range_of_the_issue(alice_client, org_a):
    content = alice_client.get(logs_page(org_a.project.pk)).content.decode()

    ranges = re.findall(r'data-range="([^"]+)"', content)
    assert ranges == ["15m", "1h", "6h", "24h", "7d", "30d", "custom"]


def test_another_organizations_member_gets_404(mallory_client, org_a):
    assert mallory_client.get(logs_page(org_a.project.pk)).status_code == 404


def test_an_unknown_project_is_404(alice_client):
    assert alice_client.get(logs_page(999_999)).status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(client, org_a):
    response = client.get(logs_page(org_a.project.pk))

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_it_only_answers_get(alice_client, org_a):
    assert alice_client.post(logs_page(org_a.project.pk)).status_code == 405


def test_it_has_no_inline_script_style_or_handler(alice_client, org_a):
    response = alice_client.get(logs_page(org_a.project.pk))
    content = response.content.decode()

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
    assert " style=" not in content
    assert re.search(r"\son[a-z]+=", content) is None
    assert '/static/js/logs.js"' in content or "/static/js/logs." in content
