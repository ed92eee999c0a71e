"""An event's payload is stored LZ4-compressed in bytea (apps/errors/storage.py) and reads back
whole, through the model, the API and the issue page; the migration converts stored jsonb."""

from __future__ import annotations

import cramjam
import orjson
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.errors import storage
from apps.errors.ingest import SentryRequest, handle
from apps.errors.models import Event
from tests.errors.conftest import exception_event, frame, grouped


def send(dsn_key, event: dict) -> None:
    body = b"{}\n" + b'{"type":"event"}\n' + orjson.dumps(event) + b"\n"
    query = f"sentry_key={dsn_key.public_key}"
    reply = handle(SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body))
    assert reply.status == 200, reply.body
    grouped()


def crash(message: str = "cart is empty") -> dict:
    frames = [frame(f"shop.layer{n}", f"step{n}", f"    step{n + 1}(cart)") for n in range(15)]
    crumbs = [{"category": "query", "message": f"SELECT {n} FROM cart", "level": "info"} for n in range(20)]
    return exception_event("ValueError", message, frames, breadcrumbs={"values": crumbs}, extra={"n": 1.5})


def raw_data(event_pk: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM errors_event WHERE id = %s", [event_pk])
        return bytes(cursor.fetchone()[0])


def test_the_payload_is_stored_compressed_and_reads_back_whole(dsn_key, client, org_a):
    event = crash()
    send(dsn_key, event)

    stored = Event.objects.get()
    assert stored.data == event
    raw = raw_data(stored.pk)
    assert raw[:1] == b"\x04" and len(raw) < len(orjson.dumps(event)) / 2
    client.force_login(org_a.owner)
    page = client.get(f"/projects/{org_a.project.pk}/issues/{stored.issue_id}/")
    assert page.status_code == 200 and b"SELECT 19 FROM cart" in page.content


def test_the_payload_is_stored_as_sent(dsn_key):
    text = b'{ "message" : "cart is empty",\n  "level": "warning", "extra": {"price": 1.50, "\\u00e9": 1e2} }'
    body = b"{}\n" + b'{"type":"event","length":%d}\n' % len(text) + text + b"\n"
    query = f"sentry_key={dsn_key.public_key}"
    handle(SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body))

    stored = Event.objects.get()
    assert storage.data_decode(raw_data(stored.pk)) == orjson.loads(text) == stored.data
    assert bytes(cramjam.lz4.decompress_block(raw_data(stored.pk)[1:])) == text


def test_an_orm_write_of_the_payload_reads_back(dsn_key):
    send(dsn_key, crash())

    edited = {"message": "edited", "extra": {"n": [1, 2]}}
    Event.objects.update(data=edited)

    assert Event.objects.get().data == edited
    assert list(Event.objects.values_list("data", flat=True)) == [edited]


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_stored_jsonb_and_back(dsn_key):
    send(dsn_key, crash("before the migration"))
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("errors", "0010_debug_ids_and_source_retention")])  # jsonb again
        with connection.cursor() as cursor:
            cursor.execute("SELECT data->'exception'->'values'->0->>'value' FROM errors_event")
            assert cursor.fetchone()[0] == "before the migration"
        MigrationExecutor(connection).migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    send(dsn_key, crash("after the migration"))

    migrated, new = Event.objects.order_by("pk")
    assert migrated.data == crash("before the migration")
    assert raw_data(migrated.pk)[:1] == b"{"  # converted as plain JSON text
    assert new.data == crash("after the migration") and raw_data(new.pk)[:1] == b"\x04"
