"""The cast of every test: alice owns org A, bob is a viewer in org A, mallory owns org B
and must never see anything of A. Real PostgreSQL and Redis (DATABASE_URL / REDIS_URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from apps.accounts.models import User
from apps.audit import Actor
from apps.billing import state as billing_state
from apps.projects.models import KeyScope, Membership, Organization, Project, Role
from apps.projects.services import api_key_create

PASSWORD = "correct-horse-battery-staple"


def missing_tool(reason: str) -> None:
    """Skip on a developer's machine that lacks a tool; fail in CI, whose set-up (.ci/run, make)
    promises it, so a broken install can never pass as a skip there."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def _no_live_events_of_earlier_runs():
    """Every run gets a fresh database, whose project ids start again at 1; the per-project live
    event streams in Redis (apps.dashboards.live) must start again too, or a run would see the
    events and ids an earlier run left for a project with the same id."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        # The usage meter's counters too: ids restart, so a counter of an earlier run would
        # count against a new organization with the same id.
        for pattern in ("vigil:live:*", "vigil:quota:*", "vigil:usage:*"):
            for key in client.scan_iter(pattern, count=1000):
                client.delete(key)
    except redis.RedisError:
        pass  # tests that need Redis will say so themselves
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _fast_hashing_and_clean_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    billing_state.forget()  # plans are rows: a test's plan must not outlive its transaction
    yield
    cache.clear()


def make_user(email: str) -> User:
    return User.objects.create_user(email, PASSWORD)


def make_member(organization: Organization, email: str, role: str) -> User:
    user = make_user(email)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


@dataclass
class Tenant:
    organization: Organization
    project: Project
    owner: User
    ingest_key: str
    read_key: str


def make_tenant(name: str, owner_email: str) -> Tenant:
    organization = Organization.objects.create(name=name)
    owner = make_member(organization, owner_email, Role.OWNER)
    project = Project.objects.create(organization=organization, name=f"{name} web")
    _, ingest = api_key_create(project, KeyScope.INGEST, "test ingest", by=Actor(user=owner))
    _, read = api_key_create(project, KeyScope.READ, "test read", by=Actor(user=owner))
    return Tenant(organization, project, owner, ingest, read)


@pytest.fixture
def org_a(db) -> Tenant:
    return make_tenant("Acme", "alice@acme.test")


@pytest.fixture
def org_b(db) -> Tenant:
    return make_tenant("Bigcorp", "mallory@bigcorp.test")


@pytest.fixture
def alice(org_a) -> User:
    return org_a.owner


@pytest.fixture
def bob(org_a) -> User:
    return make_member(org_a.organization, "bob@acme.test", Role.VIEWER)


@pytest.fixture
def mallory(org_b) -> User:
    return org_b.owner


def client_for(user: User) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return client_for(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return client_for(bob)


@pytest.fixture
def mallory_client(mallory) -> Client:
    return client_for(mallory)
