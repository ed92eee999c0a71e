"""Extra cast for the admin sites: an operator (staff superuser) and carol, admin in org A but
only a viewer in org B, to show that a viewer membership grants nothing in /manage/."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.projects.models import Membership, Role
from tests.conftest import PASSWORD, Tenant, client_for, make_member


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("ops@vigil.test", PASSWORD)


@pytest.fixture
def operator_client(operator) -> Client:
    return client_for(operator)


@pytest.fixture
def carol(org_a: Tenant, org_b: Tenant) -> User:
    user = make_member(org_a.organization, "carol@acme.test", Role.ADMIN)
    Membership.objects.create(organization=org_b.organization, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def carol_client(carol) -> Client:
    return client_for(carol)
