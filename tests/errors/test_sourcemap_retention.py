"""Uploaded source maps do not live forever: the hourly retention task deletes debug-id bundles
and releases' files once no event used them for SOURCEMAP_RETENTION_DAYS, and chunks never
assembled after SOURCEMAP_CHUNK_RETENTION_HOURS."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine

from apps.errors.artifact_bundles import bundle_assemble, chunks_store
from apps.errors.debug_ids import debug_id_files_store
from apps.errors.models import ArtifactBundle, DebugIdFile, Event, FileChunk, ReleaseFile
from apps.errors.retention import delete_abandoned_chunks
from apps.errors.services import event_store
from apps.errors.sourcemaps import release_file_upload
from apps.errors.tasks import delete_expired_events_task
from tests.errors.test_debug_ids import browser_event, bundled, inject, throw_position
from tests.errors.test_sourcemaps import CART, EXPORT, EXTRA, build

pytestmark = pytest.mark.django_db
START = datetime(2026, 9, 1, 12, tzinfo=UTC)


def symbolicated(project_id: int, payload: bytes) -> bool:
    event_store(project_id, orjson.loads(payload), datetime.now(UTC))
    top = Event.objects.order_by("-id")[0].data["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    return top["filename"] == "src/cart.js"


def test_unused_bundles_and_releases_go_after_the_retention_and_used_ones_stay(
    sentry_node, org_a, tmp_path, settings
):
    settings.SOURCEMAP_RETENTION_DAYS = 90
    used_build = build(tmp_path / "a", CART + EXPORT, "3f2a1b9c")
    unused_build = build(tmp_path / "b", EXTRA + CART + EXPORT, "77e0d4aa")
    used_id, unused_id = inject(used_build), inject(unused_build)
    plain = build(tmp_path / "c", CART + EXPORT, "0badf00d")
    project = org_a.project
    with time_machine.travel(START, tick=False):
        debug_id_files_store([project], "used", "", "", bundled(used_build, used_id))
        debug_id_files_store([project], "unused", "", "", bundled(unused_build, unused_id))
        for path in (plain, plain.with_name(plain.name + ".map")):
            release_file_upload(project, "shop@1.0", f"~/static/{path.name}", path.read_bytes())
        release_file_upload(project, "shop@1.0", "~/static/lazy-chunk.js", b"var lazy=1;\n")
        release_file_upload(project, "shop@0.9", "~/static/old.js", b"var old=1;\n")

    by_debug_id = browser_event(
        f"https://shop.test/static/{used_build.name}", *throw_position(used_build), str(used_id)
    )
    plain_url = f"https://shop.test/static/{plain.name}"
    by_release = browser_event(plain_url, *throw_position(plain), str(uuid.uuid4()), release="shop@1.0")
    with time_machine.travel(START + timedelta(days=60), tick=False):
        assert symbolicated(project.pk, by_debug_id) and symbolicated(project.pk, by_release)
    with time_machine.travel(START + timedelta(days=60, hours=5), tick=False):
        assert symbolicated(project.pk, by_debug_id)  # the day's use is already written

    with time_machine.travel(START + timedelta(days=91), tick=False):
        delete_expired_events_task()
    assert list(ArtifactBundle.objects.values_list("bundle_id", flat=True)) == ["used"]
    assert set(DebugIdFile.objects.values_list("debug_id", flat=True)) == {used_id}
    assert ArtifactBundle.objects.get().last_used_at == START + timedelta(days=60)
    # shop@0.9 was never used; shop@1.0 was, so even its file no event needed stays.
    assert set(ReleaseFile.objects.values_list("release", "name")) == {
        ("shop@1.0", f"~/static/{plain.name}"),
        ("shop@1.0", f"~/static/{plain.name}.map"),
        ("shop@1.0", "~/static/lazy-chunk.js"),
    }

    with time_machine.travel(START + timedelta(days=151), tick=False):
        delete_expired_events_task()
        assert not ArtifactBundle.objects.exists() and not DebugIdFile.objects.exists()
        assert not ReleaseFile.objects.exists()
        assert not symbolicated(project.pk, by_debug_id)


def test_chunks_never_assembled_are_deleted_after_a_day_and_a_late_assemble_asks_again(org_a, settings):
    settings.SOURCEMAP_CHUNK_RETENTION_HOURS = 24
    organization = org_a.organization
    old, recent = b"first half of a bundle", b"second half of a bundle"
    names = [hashlib.sha1(data).hexdigest() for data in (old, recent)]
    with time_machine.travel(START, tick=False):
        chunks_store(organization, [(names[0], old, False)])
    with time_machine.travel(START + timedelta(hours=23), tick=False):
        chunks_store(organization, [(names[1], recent, False)])

    with time_machine.travel(START + timedelta(hours=25), tick=False):
        delete_expired_events_task()
        assert list(FileChunk.objects.values_list("checksum", flat=True)) == [names[1]]
        late = bundle_assemble(
            organization, [org_a.project], hashlib.sha1(old + recent).hexdigest(), names, "1.0", ""
        )
    assert (late.state, late.missing) == ("not_found", [names[0]])


def test_chunks_are_deleted_in_batches_until_none_is_left(org_a):
    chunks = [(hashlib.sha1(bytes([n])).hexdigest(), bytes([n]), False) for n in range(5)]
    with time_machine.travel(START, tick=False):
        chunks_store(org_a.organization, chunks)

    assert delete_abandoned_chunks(START + timedelta(days=2), batch=2) == 5
    assert not FileChunk.objects.exists()
