"""`aiws install` without --bundle: the controller makes the bundle, the host gets only it.

A connected controller builds (or reuses from its cache) the bundle for the hosts' platform
with the same builder as `aiws bundle build`, and the install then verifies and installs it
like any other bundle: one code path, and the hosts still receive nothing but verified,
prebuilt artifacts (they never reach a registry). The bundle always carries the controller
too, so the cached one is also what an air-gapped host of that platform bootstraps from.
The cache entry is keyed by everything the bundle is made from: aiws's version, the target,
the selection with its versions, and the source tree the Bridge and controller wheels are
built from.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from aiws import __version__
from aiws.bundle.build import (
    BuildRequest,
    BuildResult,
    build_bundle,
    package_name,
    project_dir,
)
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.target import BundleTarget, parse_target
from aiws.errors import UsageError
from aiws.guard.checks import HostFacts
from aiws.model.catalog import Catalog
from aiws.resources import cache_root

# Cached bundles kept per target (each a few GB).
KEEP_BUNDLES = 3
# What the project's wheels (the Bridge, the controller) and recipes are made from.
SOURCE_TREES = ("src", "bridge/src", "pyproject.toml", "bridge/pyproject.toml")


def bundle_for(
    catalog: Catalog,
    selection: list[str],
    facts: Mapping[str, HostFacts],
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """The package for the hosts' one platform: the cached one, or one built now."""
    platforms = sorted({f"{f.platform}-{f.arch}" for f in facts.values()})
    if len(platforms) != 1:
        raise UsageError(
            f"the hosts run different platforms ({', '.join(platforms)}): one bundle cannot "
            "serve them",
            "install each platform's hosts with its own --bundle (aiws bundle build --target)",
        )
    target = parse_target(platforms[0], catalog)
    selection = with_controller(selection)
    source = project_dir()
    package = cached_package(catalog, target, selection, source)
    if package.is_file() and package.with_name(package.name + ".sha256").is_file():
        progress(f"bundle for {platforms[0]}: reusing {package} (verified before use)")
        return package
    progress(f"bundle for {platforms[0]}: building {', '.join(selection)} (no --bundle given)")
    result = build_into_cache(catalog, target, selection, source, progress)
    progress(f"bundle built in {result.seconds:.0f} s: {result.package}")
    return result.package


def build_into_cache(
    catalog: Catalog,
    target: BundleTarget,
    selection: list[str],
    source: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Build `selection` where `cached_package` looks for it, then drop the target's older
    cached bundles."""
    out_dir = cached_package(catalog, target, selection, source).parent
    request = BuildRequest(
        catalog=catalog,
        target=target,
        selection=selection,
        explicit=True,
        out_dir=out_dir,
        cache_dir=cache_root(),
        project_dir=source,
    )
    result = build_bundle(request, progress=lambda step: progress(f"  {step}"))
    for stale in older_bundles(out_dir):
        progress(f"removing an older cached bundle: {stale}")
        shutil.rmtree(stale, ignore_errors=True)
    return result


def with_controller(selection: list[str]) -> list[str]:
    """The components, then the controller (what `aiws bundle build` puts in by default)."""
    return [*[name for name in selection if name != CONTROLLER], CONTROLLER]


def cached_package(
    catalog: Catalog, target: BundleTarget, selection: list[str], source: Path
) -> Path:
    """Where the connected install keeps (and looks for) the bundle of `selection`."""
    key = cache_key(catalog, target.name, selection, source)
    return cache_root() / "bundles" / f"{target.name}-{key[:16]}" / package_name(target)


def older_bundles(current: Path, keep: int = KEEP_BUNDLES) -> list[Path]:
    """The cached bundles for the same target beyond the `keep` newest (current included):
    each is a few GB, and every change of aiws or of a selection makes another."""
    target = current.name.rpartition("-")[0]
    siblings = [
        path
        for path in current.parent.glob(f"{target}-*")
        if path.is_dir() and path.name.rpartition("-")[0] == target and path != current
    ]
    siblings.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return siblings[keep - 1 :]


def cache_key(catalog: Catalog, target: str, selection: list[str], source: Path) -> str:
    inputs = {
        "aiws": __version__,
        "target": target,
        "components": {name: _version(catalog, name) for name in sorted(selection)},
        "source": tree_digest(source),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _version(catalog: Catalog, name: str) -> str:
    return __version__ if name == CONTROLLER else catalog.component(name).version


def _generated(part: str) -> bool:
    return part == "__pycache__" or part.endswith((".pyc", ".egg-info"))


def tree_digest(root: Path) -> str:
    """SHA-256 over the names and contents of the source files the bundle is built from."""
    digest = hashlib.sha256()
    for top in SOURCE_TREES:
        base = root / top
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in files:
            if not path.is_file() or any(_generated(part) for part in path.parts):
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
