"""Live notices of notification trouble and quieting, for open pages (issue 17 §8, §4).

What is announced, after the commit that causes it (apps.dashboards.live):
* a channel's warning or its disabling (a message given up after its last attempt, a 410): the
  organization's channel list is told (admins only: only they see channels), and so is every
  project's Alerts tab, whose notifications card shows failed deliveries and warnings;
* a silence made, expired, or made from a link: that project's Alerts tab and incident pages
  mark what it holds back.
Notices carry no details; pages refetch what they show through their usual views, so the
role rules of those views decide what each reader sees (errors of a delivery only to admins).
"""

from __future__ import annotations

from django.db import transaction

from apps.dashboards import live
from apps.notifications.models import Channel
from apps.projects.models import Project

KIND = "notifications"


def channel_trouble_on_commit(channel: Channel) -> None:
    organization_id, channel_id = channel.organization_id, channel.pk
    project_ids = list(Project.objects.filter(organization_id=organization_id).values_list("pk", flat=True))

    def announce() -> None:
        notice = {"kind": "channels", "channel": channel_id}
        live.announce_organization(organization_id, notice, admins_only=True)
        for project_id in project_ids:
            live.announce(project_id, KIND, {"count": 1})

    transaction.on_commit(announce)


def quieting_changed_on_commit(project_id: int) -> None:
    transaction.on_commit(lambda: live.announce(project_id, KIND, {"count": 1}))
