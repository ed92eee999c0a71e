"""Front-end libraries, installed by the setup step (`make run`, `make test`) from the npm registry.

Vigil serves every script itself (no CDN at run time, the CSP allows only 'self'), and keeps
third-party code out of git: each library is fetched once as its published npm tarball, checked
against the registry's sha512 integrity string pinned here, and unpacked into static/vendor/.

    python -m config.assets          # install what is missing (idempotent, offline once done)
    python -m config.assets --check  # exit 1 if something is missing

Needs Python only (no node/npm): a tarball is a gzip'd tar, the integrity string is base64(sha512).
NPM_REGISTRY overrides the registry (a company mirror).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # "sha512-<base64>", as in package-lock.json / `npm view NAME@VERSION dist.integrity`
    files: dict[str, str]  # path inside the tarball -> path under static/vendor/

    def tarball_url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name}-{self.version}.tgz"


PACKAGES = [
    Package(
        name="uplot",
        version="1.6.32",
        integrity="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        files={
            "package/dist/uPlot.iife.min.js": "uplot/uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uplot/uPlot.min.css",
            "package/LICENSE": "uplot/LICENSE",
        },
    ),
]


def missing() -> list[Package]:
    return [pkg for pkg in PACKAGES if not all((VENDOR / dest).is_file() for dest in pkg.files.values())]


def verify(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ValueError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise ValueError(f"integrity mismatch: expected sha512-{expected}, got sha512-{actual}")


def install(pkg: Package, registry: str) -> None:
    url = pkg.tarball_url(registry)
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https registry URL)
        data = response.read()
    verify(data, pkg.integrity)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for inner, dest in pkg.files.items():
            member = archive.extractfile(inner)
            if member is None:
                raise ValueError(f"{pkg.name}: {inner} is not a file in the tarball")
            target = VENDOR / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(member.read())
            tmp.replace(target)


def main(argv: list[str]) -> int:
    todo = missing()
    if "--check" in argv:
        for pkg in todo:
            print(f"[vigil] missing front-end asset: {pkg.name}@{pkg.version}", file=sys.stderr)
        return 1 if todo else 0
    registry = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org")
    for pkg in todo:
        print(f"[vigil] installing {pkg.name}@{pkg.version} from {registry}", file=sys.stderr)
        try:
            install(pkg, registry)
        except (OSError, ValueError) as error:
            print(f"[vigil] could not install {pkg.name}@{pkg.version}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
