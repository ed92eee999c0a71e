"""The README's Sentry SDK example, run as written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apps.errors.dsn import dsn_of
from apps.errors.models import Issue
from tests.errors.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_sentry_example_makes_an_issue(vigil_server, dsn_key, org_a):
    text = (ROOT / "README.md").read_text()
    (program,) = [
        b for b in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL) if "sentry_sdk.init" in b
    ]
    env = {**os.environ, "SENTRY_DSN": dsn_of(dsn_key, vigil_server.url)}

    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    issue = wait_until(lambda: Issue.objects.filter(project=org_a.project).first())
    assert (issue.title, issue.releases) == ("ZeroDivisionError: division by zero", ["checkout@1.4.0"])
