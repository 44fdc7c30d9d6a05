"""Real bundles for the tests: built from the registries through the download cache, and
tampered with consistently (every outer layer re-sealed) to prove the inner checks."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from aiws.bundle.build import BuildRequest, BuildResult, build_bundle, write_checksum, write_package
from aiws.bundle.manifest import BundleManifest
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.tarball import sha256_file, write_tarball
from aiws.bundle.target import parse_target
from aiws.catalog import load_catalog
from aiws.resources import cache_root

PROJECT = Path(__file__).resolve().parents[2]
# What the PostgreSQL + Vault scenarios install, and the controller to bootstrap aiws
# on a host from the bundle itself.
CORE_COMPONENTS = ["postgresql", "vault", CONTROLLER]


def build(target: str, components: list[str], out: Path, cache: Path | None = None) -> BuildResult:
    catalog = load_catalog()
    request = BuildRequest(
        catalog=catalog,
        target=parse_target(target, catalog),
        selection=components,
        explicit=True,
        out_dir=out,
        cache_dir=cache or cache_root(),
        project_dir=PROJECT,
    )
    return build_bundle(request)


def core_bundle(out: Path) -> Path:
    """The PostgreSQL + Vault (+ controller) bundle; AIWS_TEST_BUNDLE=FILE uses one built
    beforehand (it must carry those components)."""
    given = os.environ.get("AIWS_TEST_BUNDLE")
    if given:
        return Path(given)
    return build("debian-12-amd64", CORE_COMPONENTS, out).package


def repack(package: Path, tarball_name: str, edit: Callable[[Path], object]) -> None:
    """Tamper with one runtime tarball and re-seal every outer layer consistently, so
    only the per-file manifest can catch it."""
    work = package.parent / "tamper"
    with tarfile.open(package) as outer:
        outer.extractall(work, filter="data")
    inner_dir = work / "inner"
    with tarfile.open(work / tarball_name) as inner:
        inner.extractall(inner_dir, filter="fully_trusted")
    head = {n: (inner_dir / n).read_bytes() for n in ("manifest.json", "SHA256SUMS")}
    for name in head:
        (inner_dir / name).unlink()
    edit(inner_dir)
    write_tarball(work / tarball_name, inner_dir, head)
    manifest = json.loads((work / "bundle-manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        if artifact["tarball"] == tarball_name:
            artifact["sha256"] = sha256_file(work / tarball_name)
            artifact["size"] = (work / tarball_name).stat().st_size
    write_package(package, work, BundleManifest.model_validate(manifest))
    write_checksum(package)
