"""From the alerts outbox to deliveries: routing, then Alertmanager-style grouping.

Routing. A transition goes to every enabled channel whose Route matches it (the route's policy,
priorities and labels, each condition optional); when no route of the organization matches, to
its default channels. Routes naming a policy are how "a policy names its channels".

Grouping (Alertmanager's model, per channel and policy). The first change of a quiet group waits
`group_wait` (30 s; P1: 0) so that instances firing together go out as one message; later changes
are batched every `group_interval` (5 m); while incidents stay open and unacknowledged, a reminder
goes every `repeat_interval` (4 h; P1: 30 m). 200 instances firing in one evaluation are one
message per channel. PagerDuty is the exception: it deduplicates and groups by dedup_key itself
and wants one event per alert, so its deliveries are made at once, one per instance change.

Both steps run in the transaction that claims the transitions (`FOR UPDATE SKIP LOCKED`) and
stamps them notified: a crash anywhere rolls all of it back and the next run takes them again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.alerts.models import Incident, Policy, Priority, State, Transition
from apps.notifications import messages
from apps.notifications import silences as silences_of
from apps.notifications.models import Channel, ChannelKind, Delivery, Event, NoticeGroup, Route
from apps.notifications.transports.pagerduty import dedup_key

BATCH = 1000
DEFAULT_TIMING = (30, 300, 4 * 3600)  # group_wait, group_interval, repeat_interval (seconds)
P1_TIMING = (0, 300, 30 * 60)


def route_matches(route: Route, policy: Policy, labels: dict[str, str]) -> bool:
    return (
        (route.policy_id is None or route.policy_id == policy.pk)
        and (not route.priorities or policy.priority in route.priorities)
        and all(labels.get(k) == v for k, v in route.labels.items())
    )


class Router:
    """Routes and default channels, loaded once per organization per dispatch run."""

    def __init__(self) -> None:
        self._routes: dict[int, list[Route]] = {}
        self._defaults: dict[int, list[Channel]] = {}

    def _load(self, organization_id: int) -> None:
        if organization_id not in self._routes:
            self._routes[organization_id] = list(
                Route.objects.filter(organization_id=organization_id, channel__enabled=True).select_related(
                    "channel"
                )
            )
            self._defaults[organization_id] = list(
                Channel.objects.filter(organization_id=organization_id, enabled=True, is_default=True)
            )

    def targets(self, policy: Policy, labels: dict[str, str]) -> list[tuple[Channel, Route | None]]:
        organization_id = policy.project.organization_id
        self._load(organization_id)
        found: dict[int, tuple[Channel, Route | None]] = {}
        for route in self._routes[organization_id]:
            if route_matches(route, policy, labels):
                found.setdefault(route.channel_id, (route.channel, route))
        if not found:
            for channel in self._defaults[organization_id]:
                found[channel.pk] = (channel, None)
        return list(found.values())


def timing_for(policy: Policy, route: Route | None) -> tuple[int, int, int]:
    wait, interval, repeat = P1_TIMING if policy.priority == Priority.P1 else DEFAULT_TIMING
    if route is not None:
        wait = route.group_wait_seconds if route.group_wait_seconds is not None else wait
        interval = route.group_interval_seconds if route.group_interval_seconds is not None else interval
        repeat = route.repeat_interval_seconds if route.repeat_interval_seconds is not None else repeat
    return wait, interval, repeat


def delivery_create(
    channel: Channel, policy: Policy, transitions: list[Transition], now: datetime, is_repeat: bool = False
) -> Delivery:
    notice = messages.notice_build(policy, transitions, now, is_repeat)
    first = transitions[0]
    return Delivery.objects.create(
        organization_id=channel.organization_id,
        channel=channel,
        project_id=policy.project_id,
        incident_id=first.incident_id,
        event=notice["type"],
        payload=notice,
        transition_ids=[t.pk for t in transitions],
        dedup_key=dedup_key(channel.organization_id, first.instance_id)
        if channel.kind == ChannelKind.PAGERDUTY
        else "",
        next_attempt_at=now,
    )


def _file(group: NoticeGroup, transition: Transition, now: datetime) -> None:
    group.pending = [*group.pending, transition.pk]
    if group.flush_at is None:
        interval = timedelta(seconds=group.group_interval_seconds)
        if group.last_sent_at is not None and now < group.last_sent_at + interval:
            group.flush_at = group.last_sent_at + interval  # batched with what follows
        elif messages.event_of(transition) == Event.FIRING:
            # A new episode: wait for the instances that fire with this one.
            group.flush_at = now + timedelta(seconds=group.group_wait_seconds)
        else:
            group.flush_at = now  # acknowledged / resolved after a quiet interval: nothing to wait for
    group.save(
        update_fields=[
            "pending",
            "flush_at",
            "group_wait_seconds",
            "group_interval_seconds",
            "repeat_interval_seconds",
        ]
    )


def transitions_dispatch(now: datetime | None = None, limit: int = BATCH) -> int:
    """Claim un-notified transitions, route and group them; how many were claimed."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Transition.objects.filter(notify=True, notified_at__isnull=True)
            .order_by("id")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not rows:
            return 0
        policies = Policy.objects.select_related("project__organization").in_bulk({t.policy_id for t in rows})
        incidents = Incident.objects.in_bulk({t.incident_id for t in rows if t.incident_id})
        router = Router()
        quieting = {p: silences_of.Quieting(p, now) for p in {t.project_id for t in rows}}
        groups: dict[tuple[int, int], NoticeGroup] = {}
        for transition in rows:
            transition.incident = incidents.get(transition.incident_id) if transition.incident_id else None
            policy = policies[transition.policy_id]
            if not messages.is_notifiable(transition):
                continue
            if quieting[transition.project_id].reason(policy.pk, policy.kind, transition.labels):
                continue  # silenced, in maintenance or inhibited: recorded and shown, not sent
            for channel, route in router.targets(policy, transition.labels):
                if channel.kind == ChannelKind.PAGERDUTY:
                    delivery_create(channel, policy, [transition], now)
                    continue
                key = (channel.pk, policy.pk)
                if key not in groups:
                    groups[key], _ = NoticeGroup.objects.select_for_update().get_or_create(
                        channel=channel, policy=policy
                    )
                group = groups[key]
                group.group_wait_seconds, group.group_interval_seconds, group.repeat_interval_seconds = (
                    timing_for(policy, route)
                )
                _file(group, transition, now)
        Transition.objects.filter(pk__in=[t.pk for t in rows]).update(notified_at=now)
    return len(rows)


def _open_incident_transitions(policy: Policy) -> list[Transition]:
    """For a reminder: the firing transition of each open, unacknowledged incident of the policy."""
    open_incidents = Incident.objects.filter(
        policy=policy, resolved_at__isnull=True, acknowledged_at__isnull=True
    )
    return list(
        Transition.objects.filter(incident__in=open_incidents, to_state=State.FIRING)
        .select_related("incident")
        .order_by("incident_id", "id")
        .distinct("incident_id")
    )


def group_flush(group: NoticeGroup, now: datetime) -> Delivery | None:
    """Turn a due group into one delivery (or none: nothing to say); schedule its next reminder."""
    channel = group.channel
    policy = Policy.objects.select_related("project__organization").get(pk=group.policy_id)
    latest: dict[int, Transition] = {}
    for transition in (
        Transition.objects.filter(pk__in=group.pending).select_related("incident").order_by("id")
    ):
        latest[transition.instance_id] = transition  # the newest change of each instance counts
    items = list(latest.values())
    # An instance that fired and calmed down within one wait was never announced here: telling
    # the receiver it is resolved (or acknowledged) would be noise about nothing it saw.
    announced = set(group.announced)
    items = [t for t in items if messages.event_of(t) == Event.FIRING or t.instance_id in announced]
    if not channel.enabled:
        items = []  # disabled since the changes were filed: they are dropped, not queued
    elif not channel.send_resolved:
        items = [t for t in items if messages.event_of(t) != Event.RESOLVED]
    is_repeat = False
    if not items and group.repeat_at is not None and group.repeat_at <= now:
        items, is_repeat = _open_incident_transitions(policy), True
    delivery = None
    if items:
        delivery = delivery_create(channel, policy, items, now, is_repeat)
        group.last_sent_at = now
        for item in items:
            if messages.event_of(item) == Event.RESOLVED:
                announced.discard(item.instance_id)
            else:
                announced.add(item.instance_id)
    for transition in latest.values():
        if messages.event_of(transition) == Event.RESOLVED:
            announced.discard(transition.instance_id)  # its episode is over, announced or not
    group.announced = sorted(announced)
    still_open = Incident.objects.filter(
        policy=policy, resolved_at__isnull=True, acknowledged_at__isnull=True
    ).exists()
    group.pending, group.flush_at = [], None
    group.repeat_at = now + timedelta(seconds=group.repeat_interval_seconds) if still_open else None
    group.save(update_fields=["pending", "flush_at", "repeat_at", "last_sent_at", "announced"])
    return delivery


def groups_flush(now: datetime | None = None, limit: int = 500) -> int:
    """Flush every due group, each in its own transaction; how many deliveries were made."""
    now = now or timezone.now()
    made = 0
    for _ in range(limit):
        with transaction.atomic():
            group = (
                NoticeGroup.objects.filter(Q(flush_at__lte=now) | Q(repeat_at__lte=now))
                .select_related("channel")
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("id")
                .first()
            )
            if group is None:
                break
            made += group_flush(group, now) is not None
    return made
