"""A refused form explains itself: above all a local stack opened over plain HTTP from another
machine, where browsers never send the Secure `__Host-` cookies, so sign-in can never pass the CSRF
check (issue 13). ALLOW_PLAIN_HTTP=true is the documented way out on a trusted network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
LAN_HOST = "192.168.1.20:8000"
SHOW_COOKIES = (
    "from django.conf import settings; "
    "print(settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lan(settings) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "192.168.1.20"]


def sign_in_without_cookies(host: str, path: str = "/login/", **extra: str):
    client = Client(enforce_csrf_checks=True)
    return client.post(path, {"username": "alice@acme.test", "password": "x"}, HTTP_HOST=host, **extra)


def test_sign_in_over_plain_http_from_the_lan_says_to_use_https_or_allow_plain_http(lan):
    response = sign_in_without_cookies(LAN_HOST)

    assert response.status_code == 403
    page = response.content.decode()
    assert "Signing in needs HTTPS here" in page
    assert "plain HTTP at 192.168.1.20:8000" in page
    assert "ALLOW_PLAIN_HTTP=true" in page


def test_a_refused_form_on_localhost_says_to_reload(settings):
    response = sign_in_without_cookies("127.0.0.1:8000")

    assert response.status_code == 403
    page = response.content.decode()
    assert "Reload the page and try again" in page
    assert "CSRF cookie not set" in page
    assert "ALLOW_PLAIN_HTTP" not in page


def test_a_script_asking_for_json_gets_the_explanation_as_a_json_error(lan):
    response = sign_in_without_cookies(LAN_HOST, HTTP_ACCEPT="application/json")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "csrf_failed" and "ALLOW_PLAIN_HTTP" in error["message"]


def cookie_settings(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **variables}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW_COOKIES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_allow_plain_http_drops_the_secure_cookie_names_and_flags():
    assert cookie_settings().stdout.split() == ["__Host-sessionid", "True", "True"]
    assert cookie_settings(ALLOW_PLAIN_HTTP="true").stdout.split() == ["sessionid", "False", "False"]
    refused = cookie_settings(ALLOW_PLAIN_HTTP="sure")
    assert refused.returncode != 0 and "ALLOW_PLAIN_HTTP='sure' is not a boolean" in refused.stderr
