"""Source maps by debug id: `sentry-cli sourcemaps inject` writes a debug id into each terser
build and its map, the real sentry-cli uploads them without a release, and the real @sentry/node
(which reads the id the injected snippet registers) reports errors thrown in two builds: both are
symbolicated by debug id and group as one issue. Another project's upload of the same id is never
used; an id without upload falls back to release + file name."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import uuid
import zipfile
from pathlib import Path

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.audit import Actor
from apps.errors.debug_ids import BundledFile, debug_id_files_store
from apps.errors.dsn import dsn_key_create, dsn_of
from apps.errors.models import ArtifactBundle, DebugIdFile, Event, Issue, ReleaseFile
from apps.errors.sourcemaps import release_file_upload
from apps.projects.services import api_key_create
from tests.errors.conftest import wait_until
from tests.errors.test_envelopes import envelope, request
from tests.errors.test_sentry_cli import SENTRY_CLI, sentry_cli
from tests.errors.test_sentry_sdk import events_grouped
from tests.errors.test_sourcemaps import CART, EXPORT, EXTRA, build, report

DEBUG_ID = re.compile(r"^//# debugId=([0-9a-f-]{36})$", re.MULTILINE)


def inject(bundle: Path) -> uuid.UUID:
    """`sentry-cli sourcemaps inject` on the build's directory; the debug id it wrote."""
    command = [str(SENTRY_CLI), "sourcemaps", "inject", str(bundle.parent)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    found = DEBUG_ID.search(bundle.read_text())
    assert found, bundle.read_text()
    assert found.group(1) in bundle.with_name(bundle.name + ".map").read_text()
    return uuid.UUID(found.group(1))


def upload_without_release(server: str, token: str, tenant, bundle: Path) -> None:
    done = sentry_cli(
        server,
        token,
        "sourcemaps",
        "upload",
        "--org",
        str(tenant.organization.pk),
        "--project",
        str(tenant.project.pk),
        str(bundle.parent),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def top_frame(event: Event) -> dict:
    return event.data["exception"]["values"][-1]["stacktrace"]["frames"][-1]


@pytest.mark.django_db(transaction=True)
def test_injected_builds_uploaded_without_a_release_are_symbolicated_by_debug_id_and_group(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    first = build(tmp_path / "a", CART + EXPORT, "3f2a1b9c")
    second = build(tmp_path / "b", EXTRA + CART + EXPORT, "77e0d4aa")
    ids = {bundle: inject(bundle) for bundle in (first, second)}
    for bundle in (first, second):
        upload_without_release(vigil_server.url, manage_key, org_a, bundle)

    assert ArtifactBundle.objects.filter(project=org_a.project, release="").count() == 2
    assert set(DebugIdFile.objects.values_list("debug_id", "file_type")) == {
        (debug_id, kind) for debug_id in ids.values() for kind in ("minified_source", "source_map")
    }
    assert not ReleaseFile.objects.exists()

    dsn = dsn_of(dsn_key, vigil_server.url)
    sent = [report(sentry_node, dsn, "", bundle) for bundle in (first, second)]

    assert " at t " in sent[0]["stack"] or " at n " in sent[0]["stack"]  # minified code ran
    wait_until(lambda: events_grouped(org_a.project) == 2)
    issue = Issue.objects.get(project=org_a.project)
    assert (issue.title, issue.event_count) == ("RangeError: cannot check out an empty cart", 2)
    for event in Event.objects.filter(issue=issue):
        assert event.release == ""
        images = event.data["debug_meta"]["images"]  # as @sentry/node sent them
        assert [(i["type"], uuid.UUID(i["debug_id"])) for i in images] in (
            [("sourcemap", ids[first])],
            [("sourcemap", ids[second])],
        )
        top = top_frame(event)
        bundle = first if uuid.UUID(images[0]["debug_id"]) == ids[first] else second
        assert images[0]["code_file"] == top["data"]["minified"]["filename"] == str(bundle)
        assert (top["filename"], top["function"]) == ("src/cart.js", "checkout")
        assert top["lineno"] == (7 if bundle == first else 13)
        assert top["context_line"].strip() == 'throw new RangeError("cannot check out an empty cart");'
        assert top["data"]["resolved_with"] == "debug_id"
        assert top["data"]["debug_id"] == str(ids[bundle])


@pytest.mark.django_db(transaction=True)
def test_another_projects_upload_of_the_same_debug_id_is_never_used(
    sentry_node, vigil_server, dsn_key, org_a, org_b, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "0badf00d")
    inject(bundle)
    _, other_key = api_key_create(org_b.project, "manage", "sentry-cli", by=Actor(user=org_b.owner))
    upload_without_release(vigil_server.url, other_key, org_b, bundle)
    assert DebugIdFile.objects.filter(project=org_b.project).count() == 2

    report(sentry_node, dsn_of(dsn_key, vigil_server.url), "", bundle)
    wait_until(lambda: events_grouped(org_a.project) == 1)
    top = top_frame(Event.objects.get(project=org_a.project))
    assert top["filename"] == str(bundle) and top["function"] != "checkout"
    assert "symbolicated" not in (top.get("data") or {})

    # Once org A uploads its own build, its events are symbolicated.
    upload_without_release(vigil_server.url, manage_key, org_a, bundle)
    report(sentry_node, dsn_of(dsn_key, vigil_server.url), "", bundle)
    wait_until(lambda: events_grouped(org_a.project) == 2)
    latest = Event.objects.filter(project=org_a.project).order_by("-id").first()
    assert latest is not None and top_frame(latest)["filename"] == "src/cart.js"
    other_dsn = dsn_key_create(org_b.project, "b", created_by=org_b.owner)
    report(sentry_node, dsn_of(other_dsn, vigil_server.url), "", bundle)
    wait_until(lambda: events_grouped(org_b.project) == 1)
    assert top_frame(Event.objects.get(project=org_b.project))["filename"] == "src/cart.js"


# --- Byte-level: the exact debug_meta a browser SDK sends -------------------------------------


def browser_event(url: str, line: int, column: int, debug_id: str, **extra) -> bytes:
    frame = {"filename": url, "abs_path": url, "function": "t", "lineno": line, "colno": column}
    frame["in_app"] = True
    exception = {"type": "RangeError", "value": "empty cart", "stacktrace": {"frames": [frame]}}
    return orjson.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "platform": "javascript",
            "level": "error",
            "exception": {"values": [exception]},
            "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": debug_id}]},
            **extra,
        }
    )


def throw_position(bundle: Path) -> tuple[int, int]:
    """Line and column (1-based) of `new RangeError` in the minified file, where V8 points."""
    for number, text in enumerate(bundle.read_text().splitlines(), start=1):
        if (column := text.find("new RangeError")) >= 0:
            return number, column + 1
    raise AssertionError("no throw in the build")


def send(dsn_key, payload: bytes) -> Event:
    reply = request(
        dsn_key.project_id,
        envelope(({"type": "event"}, payload)),
        query=f"sentry_key={dsn_key.public_key}",
    )
    assert reply.status == 200, reply.body
    return Event.objects.filter(project_id=dsn_key.project_id).order_by("-id")[0]


def bundled(bundle: Path, debug_id: uuid.UUID) -> list[BundledFile]:
    source_map = bundle.with_name(bundle.name + ".map")
    headers = {"debug-id": str(debug_id)}
    return [
        BundledFile(f"~/static/{bundle.name}", bundle.read_bytes(), headers, "minified_source"),
        BundledFile(f"~/static/{source_map.name}", source_map.read_bytes(), headers, "source_map"),
    ]


@pytest.mark.django_db
def test_a_browser_event_is_symbolicated_by_debug_id_in_any_case_and_without_release(
    sentry_node, dsn_key, org_a, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    debug_id = inject(bundle)
    debug_id_files_store([org_a.project], "bundle-1", "", "", bundled(bundle, debug_id))
    line, column = throw_position(bundle)
    url = f"https://shop.test/static/{bundle.name}"

    event = send(dsn_key, browser_event(url, line, column, str(debug_id).upper()))

    top = top_frame(event)
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)
    assert top["abs_path"] == "https://shop.test/static/src/cart.js"  # relative to the map's URL
    assert top["data"]["minified"] | {"function": None} == {
        "abs_path": url, "filename": url, "lineno": line, "colno": column, "function": None, "module": None
    }  # fmt: skip


@pytest.mark.django_db
def test_a_debug_id_without_upload_falls_back_to_the_release_files(sentry_node, dsn_key, org_a, tmp_path):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    for path in (bundle, bundle.with_name(bundle.name + ".map")):
        release_file_upload(org_a.project, "shop@3.0.0", f"~/static/{path.name}", path.read_bytes())
    line, column = throw_position(bundle)
    url = f"https://shop.test/static/{bundle.name}"

    event = send(dsn_key, browser_event(url, line, column, str(uuid.uuid4()), release="shop@3.0.0"))

    top = top_frame(event)
    assert (top["filename"], top["lineno"], top["data"]["resolved_with"]) == ("src/cart.js", 7, "release")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "debug_meta",
    [
        {"images": [{"type": "sourcemap", "code_file": "x", "debug_id": "not-a-uuid"}]},
        {"images": [{"type": "sourcemap", "code_file": None, "debug_id": None}, "junk", 3]},
        {"images": {"type": "sourcemap"}},
        "junk",
        {"images": [{"type": "sourcemap", "code_file": "x", "debug_id": "\x00" * 40}]},
    ],
)
def test_odd_debug_meta_is_ignored_and_the_event_kept(dsn_key, debug_meta):
    payload = orjson.loads(browser_event("x", 1, 5, str(uuid.uuid4())))
    payload["debug_meta"] = debug_meta

    event = send(dsn_key, orjson.dumps(payload))

    assert top_frame(event)["filename"] == "x"


@pytest.mark.django_db
def test_a_bundle_with_neither_release_nor_debug_ids_is_refused_with_the_way_out(org_a, manage_key):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("files/_/_/main.js", "var a=1;\n")
        manifest = {"files": {"files/_/_/main.js": {"type": "minified_source", "url": "~/main.js"}}}
        bundle.writestr("manifest.json", orjson.dumps(manifest))
    data = archive.getvalue()
    checksum = hashlib.sha1(data).hexdigest()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {manage_key}"}
    base = f"/api/0/organizations/{org_a.organization.pk}"
    client = Client()
    chunk = SimpleUploadedFile(checksum, data)
    assert client.post(f"{base}/chunk-upload/", {"file": chunk}, **auth).status_code == 200

    body = {"checksum": checksum, "chunks": [checksum], "projects": [str(org_a.project.pk)]}
    answer = client.post(f"{base}/artifactbundle/assemble/", body, content_type="application/json", **auth)

    assert answer.status_code == 200
    assert answer.json()["state"] == "error"
    assert "sentry-cli sourcemaps inject" in answer.json()["detail"]
    assert not ArtifactBundle.objects.exists() and not ReleaseFile.objects.exists()


@pytest.mark.django_db
def test_the_issue_page_and_api_say_where_a_frame_was_source_mapped_from(
    sentry_node, dsn_key, org_a, bob_client, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    debug_id = inject(bundle)
    debug_id_files_store([org_a.project], "bundle-1", "", "", bundled(bundle, debug_id))
    line, column = throw_position(bundle)
    url = f"https://shop.test/static/{bundle.name}"
    event = send(dsn_key, browser_event(url, line, column, str(debug_id)))
    base = f"/projects/{org_a.project.pk}/issues/{event.issue_id}/"

    page = bob_client.get(base).content.decode()
    events = bob_client.get(f"/api/v1/projects/{org_a.project.pk}/issues/{event.issue_id}/events").json()

    assert "<code>src/cart.js</code> in <code>checkout</code> at line 7" in page
    assert f"Source-mapped from <code>{url}:{line}:{column}</code>" in page
    assert f"by debug id <code>{debug_id}</code>" in page
    top = events[0]["data"]["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert (top["filename"], top["lineno"]) == ("src/cart.js", 7)
    assert top["data"]["minified"]["abs_path"] == url and top["data"]["minified"]["lineno"] == line
    assert top["data"]["resolved_with"] == "debug_id"


@pytest.mark.django_db(transaction=True)
def test_an_injected_build_uploaded_with_a_release_is_found_both_ways(
    sentry_node, vigil_server, dsn_key, org_a, manage_key, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    debug_id = inject(bundle)
    done = sentry_cli(
        vigil_server.url,
        manage_key,
        *("sourcemaps", "upload", "--org", str(org_a.organization.pk), "--project", str(org_a.project.pk)),
        *("--release", "shop@4.0", "--url-prefix", "~/static", str(bundle.parent)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ArtifactBundle.objects.get(project=org_a.project).release == "shop@4.0"
    assert ReleaseFile.objects.filter(project=org_a.project, release="shop@4.0").count() == 2
    line, column = throw_position(bundle)
    url = f"https://shop.test/static/{bundle.name}"

    modern = top_frame(send(dsn_key, browser_event(url, line, column, str(debug_id), release="shop@4.0")))
    old_sdk = orjson.loads(browser_event(url, line, column, str(debug_id), release="shop@4.0"))
    del old_sdk["debug_meta"]
    legacy = top_frame(send(dsn_key, orjson.dumps(old_sdk)))

    for top, way in ((modern, "debug_id"), (legacy, "release")):
        assert (top["filename"], top["lineno"], top["data"]["resolved_with"]) == ("src/cart.js", 7, way)


@pytest.mark.django_db
def test_the_source_mapping_url_before_an_injected_debug_id_comment_is_still_read(
    sentry_node, dsn_key, org_a, tmp_path
):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    inject(bundle)
    minified = bundle.read_bytes().replace(b"sourceMappingURL=", b"sourceMappingURL=maps/")
    source_map = bundle.with_name(bundle.name + ".map").read_bytes()
    release_file_upload(org_a.project, "shop@5.0", f"~/static/{bundle.name}", minified)
    release_file_upload(org_a.project, "shop@5.0", f"~/static/maps/{bundle.name}.map", source_map)
    line, column = throw_position(bundle)
    event = browser_event(f"https://shop.test/static/{bundle.name}", line, column, "", release="shop@5.0")

    top = top_frame(send(dsn_key, event))

    assert (top["filename"], top["lineno"]) == ("src/cart.js", 7)
    assert top["data"]["sourcemap"] == f"https://shop.test/static/maps/{bundle.name}.map"
