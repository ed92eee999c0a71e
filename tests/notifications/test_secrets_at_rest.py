"""Channel secrets are encrypted at rest: a copy of the database (a backup, a read replica, a
support dump) does not hand out webhook signing secrets, Slack webhook URLs or PagerDuty routing
keys; keys rotate without losing a channel."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.audit.models import AuditEvent
from apps.notifications.models import Channel
from tests.notifications.conftest import make_channel

SLACK_URL = "http://127.0.0.1:9/services/T000/B000/slack-token-xyz"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"
HOOK_URL = "http://127.0.0.1:9/hook?token=hook-token-abc"


def raw_columns(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT config, secret, previous_secret FROM notifications_channel WHERE id = %s", [channel.pk]
        )
        return " ".join(value or "" for value in cursor.fetchone())


def make_three(organization) -> list[Channel]:
    return [
        make_channel(organization, "webhook", {"url": HOOK_URL}, name="hook"),
        make_channel(organization, "slack", {"url": SLACK_URL}, name="slack"),
        make_channel(organization, "pagerduty", {"routing_key": ROUTING_KEY}, name="pd"),
    ]


@pytest.mark.django_db
def test_secrets_urls_and_routing_keys_are_not_in_the_database_in_plain_text(org_a):
    hook, slack, pagerduty = make_three(org_a.organization)
    assert hook.secret.startswith("whsec_")
    raw = " ".join(raw_columns(channel) for channel in (hook, slack, pagerduty))
    for secret in (hook.secret, HOOK_URL, "hook-token-abc", SLACK_URL, "slack-token", ROUTING_KEY):
        assert secret not in raw
    # Loaded back, they are what was saved: the transports read them as before.
    assert Channel.objects.get(pk=hook.pk).secret == hook.secret
    assert Channel.objects.get(pk=hook.pk).config["url"] == HOOK_URL
    assert Channel.objects.get(pk=slack.pk).config == {"url": SLACK_URL}
    assert Channel.objects.get(pk=pagerduty.pk).config["routing_key"] == ROUTING_KEY


@pytest.mark.django_db
def test_a_new_key_reads_old_rows_and_rotation_moves_them_to_it(org_a, settings):
    settings.CHANNEL_ENCRYPTION_KEYS = ["old passphrase"]
    hook, slack, _ = make_three(org_a.organization)
    before = raw_columns(slack)

    settings.CHANNEL_ENCRYPTION_KEYS = ["new passphrase", "old passphrase"]
    assert Channel.objects.get(pk=slack.pk).config == {"url": SLACK_URL}  # still readable
    call_command("channel_secrets_rotate", stdout=io.StringIO())
    assert raw_columns(slack) != before
    audited = AuditEvent.objects.filter(action="notifications.channel.reencrypt")
    assert audited.count() == 3 and {e.organization_id for e in audited} == {org_a.organization.pk}

    settings.CHANNEL_ENCRYPTION_KEYS = ["new passphrase"]  # the old key dropped
    assert Channel.objects.get(pk=slack.pk).config == {"url": SLACK_URL}
    assert Channel.objects.get(pk=hook.pk).secret == hook.secret

    settings.CHANNEL_ENCRYPTION_KEYS = ["old passphrase"]  # the rows no longer need it
    with pytest.raises(ImproperlyConfigured, match="CHANNEL_ENCRYPTION_KEYS"):
        Channel.objects.get(pk=slack.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_decrypts_them_backwards(org_a):
    hook, slack, pagerduty = make_three(org_a.organization)
    executor = MigrationExecutor(connection)
    before, latest = ("notifications", "0003_noticegroup_announced"), executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([before])  # backwards: plain text, as rows were before encryption
        assert SLACK_URL in raw_columns(slack) and hook.secret in raw_columns(hook)
        assert ROUTING_KEY in raw_columns(pagerduty)
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    assert SLACK_URL not in raw_columns(slack) and hook.secret not in raw_columns(hook)
    assert Channel.objects.get(pk=pagerduty.pk).config["routing_key"] == ROUTING_KEY
    assert Channel.objects.get(pk=hook.pk).secret == hook.secret
