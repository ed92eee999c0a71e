"""The real sentry-cli (npm @sentry/cli) uploads a terser build's bundle and source map to a live
Vigil server the way it does by default — chunk upload, then artifact bundle assemble — with a
manage key as its auth token; @sentry/node's error from that bundle is then symbolicated."""

from __future__ import annotations

import os
import subprocess

import pytest

from apps.errors.dsn import dsn_of
from apps.errors.models import Event, FileChunk, ReleaseFile
from tests.errors.conftest import CLIENT_DIR
from tests.errors.test_sourcemaps import CART, EXPORT, build, report

pytestmark = pytest.mark.django_db(transaction=True)
SENTRY_CLI = CLIENT_DIR / "node_modules" / ".bin" / "sentry-cli"


def sentry_cli(server: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTRY_URL": server, "SENTRY_AUTH_TOKEN": token, "SENTRY_LOG_LEVEL": "info"}
    return subprocess.run([str(SENTRY_CLI), *args], capture_output=True, text=True, timeout=120, env=env)


def test_sentry_cli_sourcemaps_upload_then_frames_are_symbolicated(
    sentry_node,
    vigil_server,
    dsn_key,
    org_a,
    manage_key,
    tmp_path,
):
    bundle = build(tmp_path, CART + EXPORT, "5e6f7a8b")
    done = sentry_cli(
        vigil_server.url,
        manage_key,
        "sourcemaps",
        "upload",
        "--org",
        str(org_a.organization.pk),
        "--project",
        str(org_a.project.pk),
        "--release",
        "shop@2.0.0",
        "--url-prefix",
        f"~{bundle.parent}",
        str(bundle.parent),
    )
    assert done.returncode == 0, done.stdout + done.stderr

    names = set(
        ReleaseFile.objects.filter(project=org_a.project, release="shop@2.0.0").values_list("name", flat=True)
    )
    assert names == {f"~{bundle}", f"~{bundle}.map"}
    assert not FileChunk.objects.exists()  # assembled and cleaned up

    report(sentry_node, dsn_of(dsn_key, vigil_server.url), "shop@2.0.0", bundle)
    top = Event.objects.get(project=org_a.project).data["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert (top["filename"], top["function"], top["lineno"]) == ("src/cart.js", "checkout", 7)


def test_sentry_cli_with_a_read_key_is_refused(vigil_server, org_a, tmp_path):
    (tmp_path / "a.js").write_text("var a=1;\n")
    done = sentry_cli(
        vigil_server.url,
        org_a.read_key,
        "sourcemaps",
        "upload",
        "--org",
        str(org_a.organization.pk),
        "--project",
        str(org_a.project.pk),
        "--release",
        "shop@2.0.0",
        str(tmp_path),
    )
    assert done.returncode != 0
    assert not ReleaseFile.objects.exists()
