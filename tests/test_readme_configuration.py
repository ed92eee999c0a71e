"""README's configuration table names every variable settings read (a setting nobody can find is
one nobody sets right)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_variable_the_settings_read_is_in_the_readme_table():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r"env(?:\.\w+|_flag)\(\s*\"([A-Z][A-Z0-9_]+)\"", source))

    assert len(read) > 30
    assert read - table_variables() == set()
