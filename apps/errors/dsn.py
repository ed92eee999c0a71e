"""DSN keys: issuing, revoking, formatting `http(s)://<key>@<host>/<project_id>`."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from apps import audit
from apps.accounts.models import User
from apps.audit import Actor
from apps.errors.models import DsnKey
from apps.projects.models import Project
from apps.projects.services import key_revoke_once

DEFAULT_BASE_URL = "http://localhost:8000"


class DsnKeyAlreadyRevoked(Exception):
    pass


def base_url(request: HttpRequest | None = None) -> str:
    """Where SDKs reach Vigil: VIGIL_URL when set, else the address the page was opened at."""
    if settings.VIGIL_URL:
        return str(settings.VIGIL_URL)
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return DEFAULT_BASE_URL


def dsn_of(key: DsnKey, base: str) -> str:
    url = urlsplit(base)
    path = url.path.rstrip("/")
    return f"{url.scheme}://{key.public_key}@{url.netloc}{path}/{key.project_id}"


def dsn_key_create(
    project: Project, name: str = "", request: HttpRequest | None = None, created_by: User | None = None
) -> DsnKey:
    if created_by is None and request is not None and request.user.is_authenticated:
        created_by = request.user  # type: ignore[assignment]
    with transaction.atomic():
        key = DsnKey.objects.create(
            project=project, public_key=DsnKey.new_public_key(), name=name.strip(), created_by=created_by
        )
        audit.record(
            "dsn_key.create",
            request=request,
            actor=created_by,
            organization=project.organization,
            target=key,
            after={"name": key.name, "public_key": key.public_key},
        )
    return key


def dsn_key_revoke(key: DsnKey, request: HttpRequest | None = None) -> None:
    by = Actor.from_request(request, links=False) if request is not None else Actor()
    after = {"public_key": key.public_key}
    if not key_revoke_once(key, "dsn_key.revoke", key.project.organization, after, by=by):
        raise DsnKeyAlreadyRevoked("This DSN key is already revoked.")


def dsns_for(project: Project, base: str) -> list[tuple[DsnKey, str]]:
    return [(key, dsn_of(key, base)) for key in project.dsn_keys.active().order_by("created_at")]


def dsn_for_bootstrap(project_id: int) -> str:
    """The project's oldest active DSN, made on first use: DSNs are public, so unlike API keys
    every bootstrap run can print the same one."""
    project = Project.objects.select_related("organization").get(pk=project_id)
    key = project.dsn_keys.active().order_by("created_at").first()
    if key is None:
        key = dsn_key_create(project, "bootstrap")
    return dsn_of(key, base_url())
