"""/health/ready reports the evaluator's lag and is not ready once it passes two minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.alerts.models import Policy
from tests.alerts.conftest import make_policy

pytestmark = pytest.mark.django_db


def test_ready_reports_the_lag_of_the_oldest_due_policy(org_a):
    policy = make_policy(org_a.project, "log_count", {"query": ""})
    Policy.objects.filter(pk=policy.pk).update(next_due_at=timezone.now() - timedelta(seconds=30))

    response = Client().get("/health/ready")

    assert response.status_code == 200
    assert 30 <= response.json()["checks"]["alerts"]["lag_seconds"] < 60


def test_ready_is_503_when_policies_wait_more_than_two_minutes(org_a):
    policy = make_policy(org_a.project, "log_count", {"query": ""})
    make_policy(org_a.project, "log_count", {"query": ""}, enabled=False, name="off")
    Policy.objects.update(next_due_at=timezone.now() - timedelta(minutes=3))

    response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["details"] == {"failed": ["alerts"]}
    assert body["checks"]["alerts"]["ok"] is False
    # A disabled policy's stale slot does not count; once evaluated, ready again.
    Policy.objects.filter(pk=policy.pk).update(next_due_at=timezone.now() + timedelta(seconds=60))
    assert Client().get("/health/ready").status_code == 200
