"""Re-encrypt every channel's secrets with the first of CHANNEL_ENCRYPTION_KEYS (after a new key
was put first): `manage.py channel_secrets_rotate`. Safe to run twice; then drop the old key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps import audit
from apps.notifications.models import Channel


class Command(BaseCommand):
    help = "Re-encrypt notification channel secrets with the first CHANNEL_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        ids = list(Channel.objects.order_by("pk").values_list("pk", flat=True))
        for pk in ids:
            with transaction.atomic():
                # Loading decrypts with whichever key made the token; saving encrypts with the
                # first. Locked: a concurrent secret rotation of this channel waits for us.
                channel = (
                    Channel.objects.select_for_update(of=("self",))
                    .select_related("organization")
                    .filter(pk=pk)
                    .first()
                )
                if channel is None:
                    continue
                channel.save(update_fields=["config", "secret", "previous_secret"])
                # Who holds which key is security-relevant: the org's audit log says when its
                # channel secrets were re-encrypted (by an operator: no actor).
                audit.record(
                    "notifications.channel.reencrypt",
                    organization=channel.organization,
                    target=channel,
                )
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} channel(s).")
