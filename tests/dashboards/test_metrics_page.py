"""The metrics explorer page: a shell for every member (the chart loads from the metric API),
404 for other organizations, and a view that keeps a demo project's trickle going."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.dashboards.models import DemoFeed

pytestmark = pytest.mark.django_db


def test_every_member_gets_the_explorer_and_another_organization_gets_404(
    alice_client, bob_client, mallory_client, org_a
):
    url = f"/projects/{org_a.project.pk}/metrics/"
    for client in (alice_client, bob_client):
        page = client.get(url)
        assert page.status_code == 200
        body = page.content.decode()
        for control in ("metric-search", "agg", "group-by", "filters", "range-picker", "metric-chart"):
            assert f'data-testid="{control}"' in body
        assert "js/metrics.js" in body and "vendor/uplot/uPlot.iife.min.js" in body
    response = mallory_client.get(url)
    assert response.status_code == 404 and "Acme" not in response.content.decode()


def test_the_explorer_has_no_inline_script_or_style(alice_client, org_a):
    body = alice_client.get(f"/projects/{org_a.project.pk}/metrics/").content.decode()

    assert "<script>" not in body and "style=" not in body and "onclick" not in body
    assert (
        "script-src 'self'"
        in alice_client.get(f"/projects/{org_a.project.pk}/metrics/")["Content-Security-Policy"]
    )


def test_viewing_a_demo_project_keeps_its_trickle_alive(bob_client, org_a):
    long_ago = timezone.now() - timedelta(hours=20)
    DemoFeed.objects.create(project=org_a.project, filled_until=long_ago, last_viewed_at=long_ago)

    bob_client.get(f"/projects/{org_a.project.pk}/metrics/")

    assert DemoFeed.objects.get(project=org_a.project).last_viewed_at > timezone.now() - timedelta(minutes=1)
