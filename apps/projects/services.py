"""Writes that change who can do what. UI views, API views and the tenant admin all call these,
so each rule (last owner, admins vs owners, single-use invitations) and each audit event lives
in exactly one place. Every function audits inside the transaction that makes the change.

Who acts and from where comes as `by=Actor(...)` (apps.audit.Actor), never as the request:
callers build it with `Actor.from_request(request)`, commands and tests with `Actor(user=...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone

from apps import audit
from apps.accounts.models import User
from apps.api.errors import Conflict
from apps.audit import Actor
from apps.billing import limits
from apps.billing import services as billing
from apps.dashboards import live
from apps.projects.authentication import invalidate_keys
from apps.projects.models import ApiKey, Invitation, KeyScope, Membership, Organization, Project, Role

logger = logging.getLogger(__name__)


class ActionRefused(Conflict):
    """The action is understood and permitted in general, but the current state forbids it:
    409 in the API (apps.api.errors), a message on the page in the UI."""

    code = "conflict"


class PlanLimitReached(ActionRefused):
    """Refused by the organization's plan (apps.billing.limits): the message names limit and plan."""

    code = "plan_limit"


def _within_plan(check: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    try:
        check(*args, **kwargs)
    except limits.LimitReached as reached:
        raise PlanLimitReached(str(reached)) from None


def organization_with_owner(user: User, name: str) -> Organization:
    """Create an organization owned by `user`, on the default plan. Callers audit (sign-up and
    "new organization" differ)."""
    organization = Organization.objects.create(name=name.strip())
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    billing.subscription_start(organization)
    return organization


def _forget_keys() -> None:
    """Drop cached keys now (this process) and again once the change is committed (every process).

    The second call closes the window in which another process could re-cache a key it read
    before our transaction committed its revocation.
    """
    invalidate_keys()
    transaction.on_commit(invalidate_keys)


def organization_create(name: str, *, by: Actor) -> Organization:
    """A new organization owned by the acting user."""
    if by.user is None:
        raise PermissionDenied("Only a signed-in user can create an organization.")
    with transaction.atomic():
        organization = organization_with_owner(by.user, name)
        audit.record(
            "organization.create",
            by=by,
            organization=organization,
            target=organization,
            after={"name": organization.name},
        )
    return organization


def organization_update(organization: Organization, name: str, *, by: Actor) -> None:
    before = {"name": organization.name}
    with transaction.atomic():
        organization.name = name.strip()
        organization.save(update_fields=["name"])
        audit.record(
            "organization.update",
            by=by,
            organization=organization,
            target=organization,
            before=before,
            after={"name": organization.name},
        )


def organization_delete(organization: Organization, *, by: Actor) -> None:
    with transaction.atomic():
        audit.record(
            "organization.delete",
            by=by,
            organization=organization,
            target=organization,
            before={"name": organization.name},
        )
        project_ids = list(organization.projects.values_list("pk", flat=True))
        organization.delete()
        _forget_keys()
        transaction.on_commit(lambda: live.access_changed(project_ids=project_ids))  # close live pages


def ownership_transfer(actor: Membership, new_owner: Membership, *, by: Actor) -> None:
    """The acting owner hands ownership to another member and becomes an admin."""
    if actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can transfer ownership.")
    if new_owner.pk == actor.pk:
        raise ActionRefused("You already own this organization.")
    with transaction.atomic():
        before = {"from": actor.role, "to": new_owner.role}
        new_owner.role = Role.OWNER
        new_owner.save(update_fields=["role"])
        actor.role = Role.ADMIN
        actor.save(update_fields=["role"])
        audit.record(
            "organization.transfer_ownership",
            by=by,
            organization=actor.organization,
            target=new_owner.user,
            before=before,
            after={"from": actor.role, "to": new_owner.role},
        )


def project_create(organization: Organization, name: str, *, by: Actor) -> Project:
    try:
        with transaction.atomic():
            limits.lock_organization(organization.pk)
            _within_plan(limits.check_project_limit, organization)
            project = Project.objects.create(organization=organization, name=name.strip())
            audit.record(
                "project.create",
                by=by,
                organization=organization,
                target=project,
                after={"name": project.name},
            )
            # Every new project starts watched: the default alert rules (apps/alerts/rulepack.py).
            from apps.alerts.rulepack import rule_pack_add

            try:
                rule_pack_add(project, actor=by.user)
            except limits.LimitReached as reached:  # an operator's plan smaller than the pack
                raise PlanLimitReached(
                    f"New projects start with the default alert rules. {reached}"
                ) from None
    except IntegrityError:
        raise ActionRefused(
            f"A project named “{name.strip()}” already exists in this organization."
        ) from None
    return project


def project_rename(project: Project, name: str, *, by: Actor) -> None:
    before = {"name": project.name}
    try:
        with transaction.atomic():
            project.name = name.strip()
            project.save(update_fields=["name"])
            audit.record(
                "project.update",
                by=by,
                organization=project.organization,
                target=project,
                before=before,
                after={"name": project.name},
            )
    except IntegrityError:
        project.name = before["name"]
        raise ActionRefused(
            f"A project named “{name.strip()}” already exists in this organization."
        ) from None


def project_delete(project: Project, *, by: Actor) -> None:
    with transaction.atomic():
        audit.record(
            "project.delete",
            by=by,
            organization=project.organization,
            target=project,
            before={"name": project.name},
        )
        project_id = project.pk
        project.delete()
        _forget_keys()
        transaction.on_commit(lambda: live.access_changed(project_ids=[project_id]))  # close live pages


def api_key_create(
    project: Project,
    scope: str,
    name: str = "",
    *,
    by: Actor,
    within_plan: bool = True,
) -> tuple[ApiKey, str]:
    """`within_plan=False` only for operators' tooling (bootstrap), never for a tenant's request."""
    if scope not in KeyScope.values:
        raise ActionRefused(f"Unknown key scope “{scope}”; use one of: {', '.join(KeyScope.values)}.")
    created_by = by.user
    key, secret = ApiKey.build(project, scope, created_by, name.strip())
    with transaction.atomic():
        if within_plan:
            limits.lock_organization(project.organization_id)
            _within_plan(limits.check_api_key_limit, project)
        key.save()
        audit.record(
            "api_key.create",
            by=by,
            actor=created_by,
            organization=project.organization,
            target=key,
            after={"scope": scope, "name": key.name, "prefix": key.prefix},
        )
    return key, secret


def api_key_revoke(key: ApiKey, *, by: Actor) -> None:
    with transaction.atomic():
        if not key_revoke_once(
            key, "api_key.revoke", key.project.organization, {"prefix": key.prefix}, by=by
        ):
            raise ActionRefused("This key is already revoked.")


def key_revoke_once(
    key: models.Model, action: str, organization: Organization, after: dict[str, Any], *, by: Actor
) -> bool:
    """Set a key's `revoked_at` and audit it as `action`, in one transaction; False when it was
    already revoked. The conditional UPDATE, not a read first, is what makes two revokes at once
    (a double click, two admins) record one revocation. For every kind of project key (API keys
    here, DSN keys in apps.errors); every process's key caches forget the key at once."""
    with transaction.atomic():
        revoked = (
            type(key)
            ._default_manager.filter(pk=key.pk, revoked_at__isnull=True)
            .update(revoked_at=timezone.now())
        )
        if not revoked:
            return False
        key.refresh_from_db(fields=["revoked_at"])
        audit.record(action, by=by, organization=organization, target=key, after=after)
        _forget_keys()
    return True


def invitation_create(
    organization: Organization, email: str, role: str, actor: Membership, *, by: Actor
) -> tuple[Invitation, str]:
    email = User.objects.normalize_email(email).strip()
    if role not in Role.values:
        raise ActionRefused(f"Unknown role “{role}”.")
    if not actor.can_assign(role):
        raise PermissionDenied("Only an owner can invite another owner.")
    if organization.memberships.filter(user__email__iexact=email).exists():
        raise ActionRefused(f"{email} is already a member of {organization.name}.")
    token, token_hash = Invitation.new_token()
    with transaction.atomic():
        limits.lock_organization(organization.pk)
        _within_plan(limits.check_seat_limit, organization, inviting=email)
        # Re-inviting replaces the open invitation (new role, new expiry, old link dead).
        organization.invitations.filter(email__iexact=email, accepted_at__isnull=True).delete()
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=token_hash,
            invited_by=actor.user,
            expires_at=Invitation.default_expiry(),
        )
        audit.record(
            "invitation.create",
            by=by,
            actor=actor.user,
            organization=organization,
            target=invitation,
            target_repr=email,
            after={"email": email, "role": role},
        )
    _send_invitation(invitation, token, by)
    return invitation, token


def invitation_url(token: str, *, by: Actor) -> str:
    """The accept link: absolute when the inviter came through a request (emails need a host)."""
    return by.url(reverse("accounts:invitation-accept", args=[token]))


def _send_invitation(invitation: Invitation, token: str, by: Actor) -> None:
    inviter = invitation.invited_by.get_full_name() if invitation.invited_by else "Someone"
    body = (
        f"{inviter} invited you to join {invitation.organization.name} on Vigil as {invitation.role}.\n\n"
        f"Accept the invitation: {invitation_url(token, by=by)}\n\n"
        f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    try:
        send_mail(
            f"Join {invitation.organization.name} on Vigil",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [invitation.email],
        )
    except Exception:
        # The invitation stands; admins can copy the link from the members page and resend.
        logger.exception("could not send invitation email", extra={"invitation_id": invitation.pk})


def invitation_revoke(invitation: Invitation, *, by: Actor) -> None:
    with transaction.atomic():
        audit.record(
            "invitation.revoke",
            by=by,
            organization=invitation.organization,
            target=invitation,
            target_repr=invitation.email,
            before={"email": invitation.email, "role": invitation.role},
        )
        invitation.delete()


def invitation_for_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )


def invitation_accept(token: str, user: User, *, by: Actor) -> Membership:
    with transaction.atomic():
        # Row lock: two tabs accepting the same link cannot both create a membership.
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organization")
            .filter(token_hash=Invitation.hash_token(token))
            .first()
        )
        if invitation is None:
            raise ActionRefused("This invitation link is not valid.")
        if invitation.accepted_at is not None:
            raise ActionRefused("This invitation has already been used.")
        if invitation.is_expired:
            raise ActionRefused("This invitation has expired; ask for a new one.")
        if invitation.email.lower() != user.email.lower():
            raise ActionRefused(f"This invitation was sent to {invitation.email}; sign in with that address.")
        organization = invitation.organization
        if organization.memberships.filter(user=user).exists():
            raise ActionRefused(f"You are already a member of {organization.name}.")
        limits.lock_organization(organization.pk)
        _within_plan(limits.check_seat_limit, organization)
        membership = Membership.objects.create(organization=organization, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(
            "invitation.accept",
            by=by,
            actor=user,
            organization=organization,
            target=user,
            after={"role": membership.role},
        )
    return membership


def _guard_last_owner(membership: Membership) -> None:
    if membership.role == Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
        if len(owners) <= 1:
            raise ActionRefused("An organization needs at least one owner; make someone else owner first.")


def membership_set_role(actor: Membership, membership: Membership, role: str, *, by: Actor) -> None:
    if role not in Role.values:
        raise ActionRefused(f"Unknown role “{role}”; use one of: {', '.join(Role.values)}.")
    if not actor.can_manage(membership) or not actor.can_assign(role):
        raise PermissionDenied("Only owners can change an owner's role or make someone owner.")
    if membership.role == role:
        return
    with transaction.atomic():
        if role != Role.OWNER:
            _guard_last_owner(membership)
        before = {"role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            "membership.role_change",
            by=by,
            actor=actor.user,
            organization=membership.organization,
            target=membership.user,
            before=before,
            after={"role": role},
        )


def membership_remove(actor: Membership, membership: Membership, *, by: Actor) -> None:
    leaving = actor.pk == membership.pk
    if not leaving and not actor.can_manage(membership):
        raise PermissionDenied("Only owners can remove an owner.")
    with transaction.atomic():
        _guard_last_owner(membership)
        audit.record(
            "membership.leave" if leaving else "membership.remove",
            by=by,
            actor=actor.user,
            organization=membership.organization,
            target=membership.user,
            before={"role": membership.role},
        )
        user_id = membership.user_id
        membership.delete()
        transaction.on_commit(lambda: live.access_changed(user_ids=[user_id]))  # close their live pages


def bootstrap(email: str, password: str, organization_name: str, project_name: str) -> dict[str, Any]:
    """Idempotent set-up for scripts and demos (`manage.py bootstrap`); see DESIGN.md §2."""
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email, password)
            audit.record("user.signup", actor=user, target=user, extra={"via": "bootstrap"})
        organization = (
            Organization.objects.for_member(user, Role.OWNER).filter(name=organization_name).first()
        )
        if organization is None:
            organization = organization_create(organization_name, by=Actor(user=user))
        project = organization.projects.filter(name__iexact=project_name).first()
        if project is None:
            project = project_create(organization, project_name, by=Actor(user=user))
        # Secrets cannot be shown again, so every run issues fresh keys (old ones keep working).
        # An operator's command: re-runs must keep working whatever the plan's key limit.
        _, ingest_key = api_key_create(
            project, KeyScope.INGEST, "bootstrap", by=Actor(user=user), within_plan=False
        )
        _, read_key = api_key_create(
            project, KeyScope.READ, "bootstrap", by=Actor(user=user), within_plan=False
        )
    return {
        "user": user.email,
        "org_id": organization.pk,
        "project_id": project.pk,
        "ingest_key": ingest_key,
        "read_key": read_key,
    }
