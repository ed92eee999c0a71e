"""Tenancy: organizations (teams), memberships with roles, invitations, projects and API keys.

Every tenant lookup starts from one of the `for_member(...)` querysets here or from the helpers
in `apps.projects.scoping`; nothing is loaded by bare primary key.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.projects import keyformat

if TYPE_CHECKING:
    from apps.accounts.models import User


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# DESIGN.md §5: each role can do everything the roles below it can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, need: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(need)]


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def for_member(self, user: User, need: str = Role.VIEWER) -> OrganizationQuerySet:
        roles = [r for r in Role if role_at_least(r, need)]
        return self.filter(memberships__user=user, memberships__role__in=roles)


class Organization(models.Model):
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    def owner_count(self) -> int:
        return self.memberships.filter(role=Role.OWNER).count()


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def can(self, need: str) -> bool:
        return role_at_least(self.role, need)

    def can_assign(self, role: str) -> bool:
        """Owners assign any role; admins only roles below owner."""
        return self.role == Role.OWNER or (self.can(Role.ADMIN) and role != Role.OWNER)

    def can_manage(self, other: Membership) -> bool:
        """Whether this member may change or remove `other` (admins do not touch owners)."""
        return self.can(Role.ADMIN) and (self.role == Role.OWNER or other.role != Role.OWNER)


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    # Only a hash of the token is stored: a database leak does not hand out memberships.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # One open invitation per address and organization; re-inviting replaces it.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True),
                name="invitation_open_unique",
            )
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role})"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, cls.hash_token(token)

    @staticmethod
    def default_expiry() -> datetime:
        return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and not self.is_expired


class ProjectQuerySet(models.QuerySet["Project"]):
    def for_member(self, user: User, need: str = Role.VIEWER) -> ProjectQuerySet:
        roles = [r for r in Role if role_at_least(r, need)]
        return self.filter(organization__memberships__user=user, organization__memberships__role__in=roles)


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="project_name_unique_in_org")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class KeyScope(models.TextChoices):
    INGEST = "ingest", "Ingest (write telemetry)"
    READ = "read", "Read (query telemetry)"
    MANAGE = "manage", "Manage (alert policies and heartbeats as code)"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A project credential. The secret is shown once; only its SHA-256 is kept.

    SHA-256 (not a slow password hash) is enough: the secret carries ≥128 random bits,
    so there is nothing to brute-force, and verification stays cheap on the ingest path.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=16, choices=KeyScope.choices)
    prefix = models.CharField(
        max_length=32, unique=True, help_text="Public identifier, e.g. vgl_ingest_AbC12345"
    )
    secret_hash = models.CharField(max_length=64)
    last_four = models.CharField(max_length=4)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last_four}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def build(
        cls, project: Project, scope: str, created_by: User | None, name: str = ""
    ) -> tuple[ApiKey, str]:
        """Return an unsaved key and its secret (the only time the secret exists in clear)."""
        secret = keyformat.generate(scope)
        key = cls(
            project=project,
            scope=scope,
            name=name,
            prefix=keyformat.public_prefix(secret),
            secret_hash=keyformat.hash_secret(secret),
            last_four=secret[-4:],
            created_by=created_by,
        )
        return key, secret
