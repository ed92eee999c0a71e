"""Source maps end to end: terser minifies a module (two builds with different hashes and
mangled names), the bundles and maps are uploaded through Sentry's release files API with a
manage key, the real @sentry/node reports an error thrown inside each bundle to a live Vigil
server — and the stored frames are the original ones, so both builds group into one issue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from django.test import Client

from apps.errors.dsn import dsn_of
from apps.errors.models import Event, Issue, ReleaseFile
from tests.conftest import client_for
from tests.errors.conftest import CLIENT_DIR, wait_until
from tests.errors.test_sentry_sdk import events_grouped

pytestmark = pytest.mark.django_db(transaction=True)

CART = """function totalOf(cart) {
  return cart.items.reduce((sum, item) => sum + item.price, 0);
}

function checkout(cart) {
  if (!cart.items.length) {
    throw new RangeError("cannot check out an empty cart");
  }
  return totalOf(cart);
}
"""
EXPORT = "module.exports = { run: (cart) => checkout({ items: cart.items ? [] : [] }) };\n"
# The second build has more code before: other positions and other mangled names.
EXTRA = 'function banner() {\n  return "shop";\n}\nfunction greet(name) {\n  return banner() + name;\n}\n'


def build(directory: Path, source: str, bundle_hash: str) -> Path:
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "dist").mkdir(exist_ok=True)
    (directory / "src" / "cart.js").write_text(source)
    bundle = f"main.{bundle_hash}.min.js"
    terser = CLIENT_DIR / "node_modules" / "terser" / "bin" / "terser"
    done = subprocess.run(
        ["node", str(terser), "src/cart.js", "--mangle", "--toplevel", "--source-map",
         f"url='{bundle}.map',includeSources", "-o", f"dist/{bundle}"],
        cwd=directory, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return directory / "dist" / bundle


def upload(
    server: str, org_a, secret: str, release: str, path: Path, name: str | None = None
) -> httpx.Response:
    url = f"{server}/api/0/projects/{org_a.organization.pk}/{org_a.project.pk}/releases/{release}/files/"
    return httpx.post(
        url,
        headers={"authorization": f"Bearer {secret}"},
        data={"name": name or str(path)},
        files={"file": (path.name, path.read_bytes())},
        timeout=30,
    )


def report(sentry_node: Path, dsn: str, release: str, bundle: Path) -> dict:
    done = subprocess.run(
        ["node", str(sentry_node.parent / "run_bundle.cjs"), dsn, release, str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_minified_stacks_of_two_builds_group_by_their_original_frames(
    sentry_node,
    vigil_server,
    dsn_key,
    org_a,
    manage_key,
    tmp_path,
):
    first = build(tmp_path / "a", CART + EXPORT, "3f2a1b9c")
    second = build(tmp_path / "b", EXTRA + CART + EXPORT, "77e0d4aa")
    for release, bundle in (("shop@1.0.0", first), ("shop@1.1.0", second)):
        for path in (bundle, bundle.with_name(bundle.name + ".map")):
            answer = upload(vigil_server.url, org_a, manage_key, release, path)
            assert answer.status_code == 201, answer.text
            assert answer.json()["name"] == str(path)

    dsn = dsn_of(dsn_key, vigil_server.url)
    sent = [
        report(sentry_node, dsn, release, bundle)
        for release, bundle in (("shop@1.0.0", first), ("shop@1.1.0", second))
    ]

    assert " at t " in sent[0]["stack"] or " at n " in sent[0]["stack"]  # it really ran minified code
    wait_until(lambda: events_grouped(org_a.project) == 2)
    issues = list(Issue.objects.filter(project=org_a.project))
    assert len(issues) == 1, [i.grouping_basis for i in issues]
    issue = issues[0]
    assert (issue.title, issue.event_count) == ("RangeError: cannot check out an empty cart", 2)
    assert any("checkout" in part and "throw new RangeError" in part for part in issue.grouping_basis)
    for event in Event.objects.filter(issue=issue):
        top = event.data["exception"]["values"][-1]["stacktrace"]["frames"][-1]
        assert (top["filename"], top["function"]) == ("src/cart.js", "checkout")
        assert top["context_line"].strip() == 'throw new RangeError("cannot check out an empty cart");'
        assert top["lineno"] == 7 + (6 if event.release == "shop@1.1.0" else 0)
        assert top["data"]["minified"]["filename"].endswith(".min.js")
        assert top["data"]["minified"]["lineno"] == 1


def test_frames_of_a_release_without_uploads_stay_minified(
    sentry_node,
    vigil_server,
    dsn_key,
    org_a,
    tmp_path,
):
    bundle = build(tmp_path, CART + EXPORT, "0badf00d")
    report(sentry_node, dsn_of(dsn_key, vigil_server.url), "shop@9.9.9", bundle)
    wait_until(lambda: events_grouped(org_a.project) == 1)

    top = Event.objects.get(project=org_a.project).data["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert top["filename"].endswith("main.0badf00d.min.js") and top["lineno"] == 1
    assert "symbolicated" not in (top.get("data") or {})


def test_the_release_files_api_refuses_clearly(org_a, org_b, manage_key, alice, bob, tmp_path, settings):
    base = f"/api/0/projects/{org_a.organization.pk}/{org_a.project.pk}/releases/shop@1.0.0/files/"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {manage_key}"}
    client = Client()

    def post(url: str, content: bytes = b"x", name: str = "~/main.js", **extra):
        (tmp_path / "f.js").write_bytes(content)
        with (tmp_path / "f.js").open("rb") as handle:
            return client.post(url, {"file": handle, "name": name}, **extra)

    assert post(base, **auth).status_code == 201
    again = post(base, **auth)
    assert again.status_code == 409 and again.json()["error"]["message"]
    assert client.post(base, {"name": "~/x.js"}, **auth).status_code == 400
    other_org = base.replace(f"projects/{org_a.organization.pk}/", f"projects/{org_b.organization.pk}/")
    assert post(other_org, name="~/y.js", **auth).status_code == 404
    assert post(base, name="~/z.js", HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}").status_code == 403
    assert client_for(bob).get(base).status_code == 403  # viewers do not manage releases
    settings.SOURCEMAP_MAX_BYTES = 10
    assert post(base, b"x" * 11, name="~/big.js", **auth).status_code == 413
    listed = client_for(alice).get(base)
    assert [f["name"] for f in listed.json()] == ["~/main.js"]
    assert ReleaseFile.objects.count() == 1


def test_a_nul_in_a_release_or_a_bad_assemble_body_is_a_400_not_a_500(org_a, manage_key):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {manage_key}"}
    client = Client(raise_request_exception=False)
    files = f"/api/0/projects/{org_a.organization.pk}/{org_a.project.pk}/releases/%00/files/"
    assert client.get(files, **auth).status_code == 400
    assemble = f"/api/0/organizations/{org_a.organization.pk}/artifactbundle/assemble/"
    for body in (
        {"checksum": "x\x00", "chunks": [], "projects": [str(org_a.project.pk)]},
        {"checksum": "a" * 40, "chunks": ["\x00"], "projects": [str(org_a.project.pk)]},
        {"checksum": "a" * 40, "chunks": ["a" * 40]},
    ):
        response = client.post(assemble, body, content_type="application/json", **auth)
        assert response.status_code == 400, (body, response.content)
    missing = client.post(
        assemble,
        {"checksum": "a" * 40, "chunks": ["b" * 40], "projects": [str(org_a.project.pk)], "version": "1.0"},
        content_type="application/json",
        **auth,
    )
    assert missing.json() == {"state": "not_found", "missingChunks": ["b" * 40], "detail": None}
