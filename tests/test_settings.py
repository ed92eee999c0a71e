"""Configuration comes only from the environment; production-like values pass Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p9#2vL!qz8R@x4Tn7^Wm1&bC6yHs0eK3uJd5gFa$oXi-rQ_tZwNlVcPkMjEhGbYf",
    "ALLOWED_HOSTS": "vigil.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER_ENABLED": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args, env):
    env = {k: v for k, v in env.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # set by the browser tests
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_passes_with_production_like_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**os.environ, **PRODUCTION})

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_local_default_secret_key_is_flagged_by_the_deploy_check():
    env = {k: v for k, v in {**os.environ, **PRODUCTION}.items() if k != "SECRET_KEY"}

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_a_bad_value_fails_loudly_at_start_up():
    result = manage("check", env={**os.environ, "DEBUG": "maybe-later"})

    assert result.returncode != 0
    assert "DEBUG" in result.stderr or "maybe-later" in result.stderr


def test_production_cookies_are_host_prefixed_secure_and_http_only(client, db):
    from django.conf import settings

    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_NAME.startswith("__Host-") and settings.SESSION_COOKIE_SECURE
    assert settings.CSRF_COOKIE_NAME.startswith("__Host-") and settings.CSRF_COOKIE_SECURE
    assert settings.SESSION_COOKIE_HTTPONLY


def test_every_page_carries_a_csp_without_inline_script_and_hsts(client, db):
    response = client.get("/login/", secure=True)

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "max-age=" in response["Strict-Transport-Security"]
    assert response["X-Frame-Options"] == "DENY"
