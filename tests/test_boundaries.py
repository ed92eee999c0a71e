"""Boundaries between apps: each app lists its public modules in its `__init__.py` docstring
("Public surface"), and no app imports another app's other modules.

The import graph is read from the source (ast), every import counted: top level, inside
functions, under TYPE_CHECKING. Tests may import anything; this only looks at apps/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parent.parent / "apps"
_SURFACE_LINE = re.compile(r"^\s+(apps\.\w+(?:\.\w+)*)\b")


def app_names() -> list[str]:
    return sorted(path.name for path in APPS.iterdir() if (path / "__init__.py").is_file())


def public_modules(app: str) -> set[str]:
    """The modules listed under "Public surface" in the app's docstring; the package itself
    (apps.<app>) is always public."""
    docstring = ast.get_docstring(ast.parse((APPS / app / "__init__.py").read_text())) or ""
    _, found, surface = docstring.partition("Public surface")
    modules = {f"apps.{app}"}
    if found:
        for line in surface.splitlines():
            match = _SURFACE_LINE.match(line)
            if match:
                modules.add(match.group(1))
    return modules


def _is_module(dotted: str) -> bool:
    path = APPS.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str) -> set[str]:
    """Every apps.* module `source` imports (`from apps.x import y` counts y when it is a module)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                modules.add(candidate if _is_module(candidate) else node.module)
    return {module for module in modules if module.startswith("apps.")}


def owner(module: str) -> str:
    return module.split(".")[1]


def violations() -> list[str]:
    surfaces = {app: public_modules(app) for app in app_names()}
    found = []
    for path in sorted(APPS.rglob("*.py")):
        importer = path.relative_to(APPS).parts[0]
        for module in sorted(imported_modules(path.read_text())):
            app = owner(module)
            if app != importer and app in surfaces and module not in surfaces[app]:
                found.append(f"{path.relative_to(APPS.parent)} imports {module}, not public in apps/{app}")
    return found


def test_no_app_imports_another_apps_private_module():
    assert violations() == []


@pytest.mark.parametrize("app", app_names())
def test_every_app_names_its_public_surface(app):
    assert len(public_modules(app)) > 1 or app == "api", f"apps/{app}/__init__.py lists no public module"


def test_the_check_sees_a_private_import(tmp_path):
    """The test above can fail: a made-up import of a private module is caught."""
    source = "from apps.ingestion import writer\nfrom apps.logs.params import decode_cursor\n"
    private = [m for m in imported_modules(source) if m not in public_modules(owner(m))]
    assert sorted(private) == ["apps.ingestion.writer", "apps.logs.params"]
