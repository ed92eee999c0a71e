from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit import chain
from apps.audit.actor import Actor
from apps.audit.models import AuditEvent
from apps.ops.middleware import current_request_id

if TYPE_CHECKING:
    from apps.projects.models import ApiKey, Organization


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    by: Actor | None = None,
    actor: Any = None,
    organization: Organization | None = None,
    target: models.Model | None = None,
    target_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    key: ApiKey | None = None,
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` defaults to the signed-in user of `by` (or of `request`),
    which also gives the IP address and user agent.

    Call it inside the same transaction as the change it describes, so that either both
    or neither are committed.
    """
    if by is None and request is not None:
        by = Actor.from_request(request, links=False)
    if actor is None and by is not None:
        actor = by.user
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = before
    if after is not None:
        changes["after"] = after
    if extra:
        changes.update(extra)
    event = AuditEvent(
        created_at=timezone.now(),
        action=action,
        organization_id=organization.pk if organization else None,
        organization_name=organization.name if organization else "",
        actor_user_id=getattr(actor, "pk", None),
        actor_email=getattr(actor, "email", "") or "",
        actor_key_id=key.pk if key else None,
        actor_key_prefix=key.prefix if key else "",
        target_type=(target._meta.model_name or "") if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=(target_repr or (str(target) if target is not None else ""))[:200],
        ip=by.ip if by is not None else None,
        user_agent=by.user_agent[:512] if by is not None else "",
        request_id=current_request_id() or "",
        changes=changes,
    )
    with transaction.atomic():
        # Serialise this organization's writers: read the chain's head only once no other
        # transaction can add to it before we do (the lock is held until our commit).
        chain.lock_chain(event.organization_id)
        head = (
            AuditEvent.objects.filter(organization_id=event.organization_id)
            .order_by("-id")
            .values_list("event_hash", flat=True)
            .first()
        )
        event.prev_hash = head or chain.GENESIS
        event.event_hash = chain.event_digest(event.prev_hash, event)
        event.save(force_insert=True)
    return event
