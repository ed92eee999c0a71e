"""The trace list and trace view pages (the shells traces.js fills): access, and the trace id from
the URL is only ever text."""

import re

import pytest

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def list_page(project_id: int) -> str:
    return f"/projects/{project_id}/traces/"


def trace_page(project_id: int, trace_id: str = TRACE) -> str:
    return f"/projects/{project_id}/traces/{trace_id}/"


@pytest.mark.parametrize("page", [list_page, trace_page])
def test_members_and_viewers_see_the_pages(alice_client, bob_client, org_a, page):
    assert alice_client.get(page(org_a.project.pk)).status_code == 200
    assert bob_client.get(page(org_a.project.pk)).status_code == 200


@pytest.mark.parametrize("page", [list_page, trace_page])
def test_another_organizations_member_gets_404(mallory_client, org_a, page):
    assert mallory_client.get(page(org_a.project.pk)).status_code == 404


@pytest.mark.parametrize("page", [list_page, trace_page])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, org_a, page):
    response = client.get(page(org_a.project.pk))

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_the_trace_view_names_the_trace_it_shows(alice_client, org_a):
    content = alice_client.get(trace_page(org_a.project.pk, TRACE.upper())).content.decode()

    assert f'data-trace-id="{TRACE}"' in content
    assert f'<code class="trace-id" id="trace-id-text">{TRACE}</code>' in content


def test_the_trace_view_states_the_projects_span_retention(alice_client, org_a, settings):
    settings.RETENTION_SPAN_DAYS = 9

    content = alice_client.get(trace_page(org_a.project.pk)).content.decode()

    assert 'data-span-retention-days="9"' in content


def test_a_hostile_trace_id_in_the_url_is_escaped(alice_client, org_a):
    response = alice_client.get(trace_page(org_a.project.pk, '"><script>alert(1)'))
    content = response.content.decode()

    assert response.status_code == 200
    assert "<script>alert(1)" not in content
    assert "&lt;script&gt;alert(1)" in content


def test_the_trace_list_offers_the_status_and_duration_filters(bob_client, org_a):
    content = bob_client.get(list_page(org_a.project.pk)).content.decode()

    assert re.findall(r'<option value="([a-z]+)"', content) == ["any", "error"]
    assert 'id="trace-min"' in content and 'id="trace-max"' in content


@pytest.mark.parametrize("page", [list_page, trace_page])
def test_the_pages_have_no_inline_script_style_or_handler(alice_client, org_a, page):
    content = alice_client.get(page(org_a.project.pk)).content.decode()

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", content) == []
    assert " style=" not in content
    assert re.search(r"\son[a-z]+=", content) is None
