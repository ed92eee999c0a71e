"""One module per channel kind, each a small class with one `send(channel, delivery) -> Answer`.

Adding a kind: a module here, an entry in TRANSPORTS, its config check in apps.notifications.channels.
Transports never raise for a receiver's trouble: the Answer says what happened and the sender
(apps.notifications.sender) decides between delivered, retry and permanent failure.
"""

from __future__ import annotations

from typing import Protocol

from apps.notifications.models import Channel, ChannelKind, Delivery
from apps.notifications.outbound import Answer
from apps.notifications.transports.email import EmailTransport
from apps.notifications.transports.pagerduty import PagerDutyTransport
from apps.notifications.transports.slack import SlackTransport
from apps.notifications.transports.webhook import WebhookTransport


class Transport(Protocol):
    def send(self, channel: Channel, delivery: Delivery) -> Answer: ...


TRANSPORTS: dict[str, Transport] = {
    ChannelKind.EMAIL: EmailTransport(),
    ChannelKind.SLACK: SlackTransport(),
    ChannelKind.PAGERDUTY: PagerDutyTransport(),
    ChannelKind.WEBHOOK: WebhookTransport(),
}


def transport_for(channel: Channel) -> Transport:
    return TRANSPORTS[channel.kind]
