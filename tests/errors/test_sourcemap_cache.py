"""Symbolication remembers what it read (apps.errors.symbol_cache), and is never stale for it: files
are uploaded by another process (the live server, through the release files API and sentry-cli's
chunk upload + assemble) while this process symbolicates the events, so what makes a new upload
seen here is the project's upload epoch in Redis, not this process's own upload."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.errors import symbol_cache
from apps.errors.ingest import Prepared, SentryRequest, commit, prepare
from apps.errors.models import Event
from tests.errors.test_debug_ids import (
    browser_event,
    inject,
    throw_position,
    top_frame,
    upload_without_release,
)
from tests.errors.test_envelopes import envelope, request
from tests.errors.test_sentry_cli import sentry_cli
from tests.errors.test_sourcemaps import CART, EXPORT, EXTRA, build, upload

SOURCE_MAP_TABLES = ("errors_releasefile", "errors_debugidfile", "errors_artifactbundle")


def js_event(bundle: Path, release: str, position: tuple[int, int] | None = None) -> bytes:
    """A browser error thrown at `position` (default: where the bundle throws) of the bundle."""
    line, column = position or throw_position(bundle)
    url = f"https://shop.test/static/{bundle.name}"
    frame = {
        "filename": url,
        "abs_path": url,
        "function": "t",
        "lineno": line,
        "colno": column,
        "in_app": True,
    }
    exception = {"type": "RangeError", "value": "empty cart", "stacktrace": {"frames": [frame]}}
    return orjson.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "platform": "javascript",
            "release": release,
            "exception": {"values": [exception]},
        }
    )


def send(dsn_key, payload: bytes) -> dict:
    """The top frame of the event as stored, sent through the endpoint in this process."""
    reply = request(
        dsn_key.project_id, envelope(({"type": "event"}, payload)), query=f"sentry_key={dsn_key.public_key}"
    )
    assert reply.status == 200, reply.body
    return top_frame(Event.objects.filter(project_id=dsn_key.project_id).order_by("-id")[0])


def source_map_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if any(t in q["sql"] for t in SOURCE_MAP_TABLES)]


def upload_release(server: str, tenant, key: str, release: str, bundle: Path) -> None:
    """Through the live server's release files API, as `~/static/<file>`."""
    for path in (bundle, bundle.with_name(bundle.name + ".map")):
        answer = upload(server, tenant, key, release, path, name=f"~/static/{path.name}")
        assert answer.status_code == 201, answer.text


@pytest.mark.django_db(transaction=True)
def test_an_upload_made_after_events_of_its_release_is_used_for_the_next_event(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "4c4c4c4c")
    for _ in range(2):  # this process now knows the release has no files
        assert send(dsn_key, js_event(bundle, "shop@3.0.0"))["filename"].endswith(bundle.name)

    upload_release(vigil_server.url, org_a, manage_key, "shop@3.0.0", bundle)

    top = send(dsn_key, js_event(bundle, "shop@3.0.0"))
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)


@pytest.mark.django_db(transaction=True)
def test_a_debug_id_uploaded_after_events_named_it_is_used_for_the_next_event(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "4d4d4d4d")
    debug_id = inject(bundle)
    url = f"https://shop.test/static/{bundle.name}"

    def payload() -> bytes:  # (a new event id each time)
        return browser_event(url, *throw_position(bundle), str(debug_id))

    for _ in range(2):  # this process now knows the project has no file of that id
        assert "symbolicated" not in (send(dsn_key, payload()).get("data") or {})

    upload_without_release(vigil_server.url, manage_key, org_a, bundle)

    top = send(dsn_key, payload())
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)
    assert top["data"]["resolved_with"] == "debug_id"


@pytest.mark.django_db(transaction=True)
def test_a_reuploaded_map_changes_the_symbolication_of_the_next_event(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    # Two builds under one release and one file name, as a rebuild re-uploaded with sentry-cli.
    first = build(tmp_path / "a", CART + EXPORT, "5a5a5a5a")
    second = build(tmp_path / "b", EXTRA + CART + EXPORT, "5a5a5a5a")
    where_second_throws = throw_position(second)

    def sentry_cli_upload(bundle: Path) -> None:
        done = sentry_cli(
            vigil_server.url, manage_key, "sourcemaps", "upload", "--org", str(org_a.organization.pk),
            "--project", str(org_a.project.pk), "--release", "shop@4.0.0", "--url-prefix", "~/static",
            str(bundle.parent),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    sentry_cli_upload(first)
    top = send(dsn_key, js_event(first, "shop@4.0.0"))
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)
    # The second build's position read with the first build's map: some other place.
    assert send(dsn_key, js_event(second, "shop@4.0.0", where_second_throws))["lineno"] != 13

    sentry_cli_upload(second)

    top = send(dsn_key, js_event(second, "shop@4.0.0", where_second_throws))
    # (the frame's minified function name `t` is another function of this build: no name check)
    assert (top["filename"], top["lineno"]) == ("src/cart.js", 13)
    assert top["context_line"].strip() == 'throw new RangeError("cannot check out an empty cart");'


@pytest.mark.django_db
def test_a_release_without_files_costs_no_query_per_event(sentry_node, dsn_key, tmp_path):
    bundle = build(tmp_path, CART + EXPORT, "6b6b6b6b")
    with CaptureQueriesContext(connection) as first:
        send(dsn_key, js_event(bundle, "shop@5.0.0"))
    assert len(source_map_queries(first)) == 1  # does the release have files? no.

    for _ in range(3):
        with CaptureQueriesContext(connection) as later:
            top = send(dsn_key, js_event(bundle, "shop@5.0.0"))
        assert source_map_queries(later) == []
        assert top["filename"] == f"https://shop.test/static/{bundle.name}"


@pytest.mark.django_db(transaction=True)
def test_a_symbolicated_event_costs_no_query_once_its_files_were_read(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "7c7c7c7c")
    upload_release(vigil_server.url, org_a, manage_key, "shop@6.0.0", bundle)
    assert send(dsn_key, js_event(bundle, "shop@6.0.0"))["function"] == "checkout"

    with CaptureQueriesContext(connection) as later:
        top = send(dsn_key, js_event(bundle, "shop@6.0.0"))
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)
    assert source_map_queries(later) == []


@pytest.mark.django_db(transaction=True)
def test_parsed_maps_stay_within_the_byte_bound_and_the_least_recently_used_goes_first(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path, settings
):
    # Builds of some size (a string the minifier keeps, also in the map's sourcesContent), so that
    # the few hundred bytes a symbolicated stack is remembered by are small beside them.
    padding = 'function banner() {\n  return "%s";\n}\n' % ("shop " * 8000)
    builds = {
        "shop@7.0.0": build(tmp_path / "a", CART + EXPORT + padding, "8d8d8d8d"),
        "shop@7.1.0": build(tmp_path / "b", EXTRA + CART + EXPORT + padding, "9e9e9e9e"),
    }
    for release, bundle in builds.items():
        upload_release(vigil_server.url, org_a, manage_key, release, bundle)
    sizes = {
        release: symbol_cache.weight(bundle.with_name(bundle.name + ".map").read_bytes(), is_map=True)
        + symbol_cache.weight(bundle.read_bytes(), is_map=False)
        for release, bundle in builds.items()
    }
    # Room for one build's map and minified file, not for both builds'.
    settings.SOURCEMAP_CACHE_BYTES = max(sizes.values()) + min(sizes.values()) // 2

    def symbolicated_with_queries(release: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            top = send(dsn_key, js_event(builds[release], release))
        assert (top["filename"], top["lineno"]) == ("src/cart.js", 7 if release == "shop@7.0.0" else 13)
        return len(source_map_queries(captured))

    assert symbolicated_with_queries("shop@7.0.0") > 0
    assert symbolicated_with_queries("shop@7.0.0") == 0  # kept
    assert symbolicated_with_queries("shop@7.1.0") > 0
    assert symbol_cache.parsed.size <= settings.SOURCEMAP_CACHE_BYTES
    assert symbolicated_with_queries("shop@7.1.0") == 0  # the newest stays
    assert symbolicated_with_queries("shop@7.0.0") > 0  # evicted for it: read and parsed again

    settings.SOURCEMAP_CACHE_BYTES = 0  # no cache at all: still symbolicated, each time parsed
    symbol_cache.forget()
    assert symbolicated_with_queries("shop@7.1.0") > 0
    assert symbolicated_with_queries("shop@7.1.0") > 0
    assert symbol_cache.parsed.size == 0


@pytest.mark.django_db(transaction=True)
def test_an_upload_made_while_an_event_waits_for_its_batch_is_used_for_that_event(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "4e4e4e4e")
    assert send(dsn_key, js_event(bundle, "shop@3.1.0"))["filename"].endswith(bundle.name)
    body = envelope(({"type": "event"}, js_event(bundle, "shop@3.1.0")))
    query = f"sentry_key={dsn_key.public_key}"
    request = SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body)
    waiting = prepare(request)
    assert isinstance(waiting, Prepared)  # its row made; its admission and COMMIT with its batch

    upload_release(vigil_server.url, org_a, manage_key, "shop@3.1.0", bundle)

    assert commit([waiting])[0].status == 200
    top = top_frame(Event.objects.filter(project_id=dsn_key.project_id).order_by("-id")[0])
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)
