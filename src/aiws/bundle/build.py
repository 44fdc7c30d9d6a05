"""`aiws bundle build`: registries -> runtime tarballs -> one verified package file."""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aiws import __version__
from aiws.bundle.cache import DownloadCache
from aiws.bundle.manifest import (
    BUNDLE_MANIFEST,
    COMPONENT_MANIFEST,
    SUMS,
    ArtifactEntry,
    ArtifactManifest,
    BundleManifest,
    Resolved,
    TargetInfo,
    dump,
)
from aiws.bundle.recipes import APT, Artifact, Builder, BundlePlan, plan
from aiws.bundle.signing import signature_path, write_signature
from aiws.bundle.sources import UnavailableOnTarget
from aiws.bundle.sources.apt import snapshot_id, upstream_version
from aiws.bundle.tarball import (
    add_bytes,
    add_file,
    bytes_entry,
    scan_tree,
    sha256_file,
    sha256sums,
    write_tarball,
)
from aiws.bundle.target import BundleTarget
from aiws.concurrency import run_bounded
from aiws.errors import AiwsError
from aiws.model.catalog import Catalog

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    catalog: Catalog  # with the run's --set overrides applied
    target: BundleTarget
    selection: list[str]  # catalog components and/or "controller"
    explicit: bool  # the user chose the selection (then unsupported ones are an error)
    out_dir: Path
    cache_dir: Path
    project_dir: Path
    sign_key: Ed25519PrivateKey | None = None  # also write <package>.sig


@dataclass
class BuildResult:
    package: Path
    checksum: Path
    sha256: str
    manifest: BundleManifest
    seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)
    cache_hits: list[str] = field(default_factory=list)
    cache_misses: list[str] = field(default_factory=list)
    signature: Path | None = None


def project_dir() -> Path:
    """The source tree aiws runs from: the bridge and controller wheels are built from it."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise AiwsError(
            f"aiws {__version__} is not running from a source checkout, so it cannot build "
            "a bundle",
            "run it from the aiws repository's venv, or pass a built bundle with --bundle",
        )
    return root


def package_name(target: BundleTarget) -> str:
    return f"aiws-bundle-{target.name}-{__version__}.tar"


def build_bundle(request: BuildRequest, progress: Progress = lambda _: None) -> BuildResult:
    started = time.monotonic()
    target = request.target
    the_plan = plan(request.catalog, target, request.selection, request.explicit)
    cache = DownloadCache(request.cache_dir)
    staging = request.out_dir / f".staging-{target.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        node = request.catalog.component("node").version
        builder = Builder(target, cache, request.project_dir, staging / "work", node)
        entries, phases = _build_artifacts(builder, the_plan, staging, request, progress)
        manifest = BundleManifest(
            aiws_version=__version__,
            built_at=built_at(),
            target=target_info(target),
            tested=target.tested,
            versions={c: v for e in entries for c, v in e.components.items()},
            artifacts=entries,
            skipped=the_plan.skipped,
        )
        progress("writing the package")
        package = request.out_dir / package_name(target)
        signature_path(package).unlink(missing_ok=True)  # a previous build's: never stale
        write_package(package, staging / "tarballs", manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    checksum, digest = write_checksum(package)
    signature = write_signature(package, digest, request.sign_key) if request.sign_key else None
    return BuildResult(
        package,
        checksum,
        digest,
        manifest,
        round(time.monotonic() - started, 2),
        phases,
        cache.hits,
        cache.misses,
        signature,
    )


def _build_artifacts(
    builder: Builder, the_plan: BundlePlan, staging: Path, request: BuildRequest, progress: Progress
) -> tuple[list[ArtifactEntry], dict[str, float]]:
    """Every runtime tarball, and how many seconds each took (download to gzip).

    Artifacts build side by side (bounded by the load, aiws.concurrency): one waits on a
    registry while another compresses. Entries keep the plan's order, so the manifest does
    not depend on which finished first.

    A component the registries have no build of for the target (its Python, its cpu) is
    skipped, and recorded in the plan, unless the user asked for it by name.
    """

    def build_one(artifact: Artifact) -> tuple[ArtifactEntry | UnavailableOnTarget, float]:
        progress(f"{artifact.name}: {', '.join(artifact.sources)}")
        started = time.monotonic()
        try:
            built: ArtifactEntry | UnavailableOnTarget = _build_artifact(
                builder, artifact, staging / "tarballs"
            )
        except UnavailableOnTarget as exc:
            if request.explicit:
                raise
            built = exc
        return built, round(time.monotonic() - started, 2)

    entries, phases = [], {}
    results = run_bounded(build_one, the_plan.artifacts)
    for artifact, (built, seconds) in zip(the_plan.artifacts, results, strict=True):
        if isinstance(built, UnavailableOnTarget):
            the_plan.skipped[artifact.name] = built.problem
        else:
            entries.append(built)
        phases[artifact.name] = seconds
    return entries, phases


def _build_artifact(builder: Builder, artifact: Artifact, tarballs: Path) -> ArtifactEntry:
    payload = builder.payload(artifact)
    resolved = builder.resolved(artifact, payload)
    if artifact.name == APT:
        _check_apt_versions(artifact, resolved_versions={r.name: r.version for r in resolved})
        artifact = replace(artifact, version=snapshot_id(resolved))
    return write_artifact(payload, artifact, resolved, builder.target, tarballs)


def write_artifact(
    payload: Path,
    artifact: Artifact,
    resolved: list[Resolved],
    target: BundleTarget,
    tarballs: Path,
) -> ArtifactEntry:
    """One runtime tarball: manifest.json and SHA256SUMS first, then the payload."""
    files = scan_tree(payload)
    manifest = ArtifactManifest(
        artifact=artifact.name,
        version=artifact.version,
        components=artifact.components,
        recipe=artifact.recipe,
        sources=artifact.sources,
        resolved=resolved,
        built_at=built_at(),
        aiws_version=__version__,
        target=target_info(target),
        tested=target.tested,
        entry_points=artifact.entry_points,
        pruned=artifact.prune,
        files=files,
    )
    manifest_bytes = dump(manifest)
    listed = sorted([*files, bytes_entry(COMPONENT_MANIFEST, manifest_bytes)], key=lambda e: e.path)
    name = f"{artifact.name}-runtime-{target.platform}-{artifact.version}-{target.arch}"
    tarball = tarballs / f"{name}.tar.gz"
    write_tarball(tarball, payload, {COMPONENT_MANIFEST: manifest_bytes, SUMS: sha256sums(listed)})
    return ArtifactEntry(
        name=artifact.name,
        version=artifact.version,
        components=artifact.components,
        tarball=tarball.name,
        size=tarball.stat().st_size,
        sha256=sha256_file(tarball),
    )


def _check_apt_versions(artifact: Artifact, resolved_versions: dict[str, str]) -> None:
    """The catalog's version of an apt component must match what the release ships."""
    for component, version in artifact.components.items():
        shipped = [resolved_versions[p] for p in artifact.sources if p in resolved_versions]
        if not any(upstream_version(v).startswith(version) for v in shipped):
            raise AiwsError(
                f"{component}: the catalog pins {version}, the target release ships "
                f"{', '.join(shipped) or 'nothing matching'}",
                f"set --set {component}.version=<what the release ships>",
            )


def write_package(package: Path, tarballs: Path, manifest: BundleManifest) -> None:
    """An uncompressed tar: bundle-manifest.json, SHA256SUMS, then the runtime tarballs."""
    manifest_bytes = dump(manifest)
    lines = [f"{a.sha256}  {a.tarball}\n" for a in manifest.artifacts]
    lines.append(f"{bytes_entry(BUNDLE_MANIFEST, manifest_bytes).sha256}  {BUNDLE_MANIFEST}\n")
    head = {BUNDLE_MANIFEST: manifest_bytes, SUMS: "".join(sorted(lines, key=_path_of)).encode()}
    package.parent.mkdir(parents=True, exist_ok=True)
    partial = package.with_name(package.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in head.items():
            add_bytes(tar, name, data)
        for artifact in manifest.artifacts:
            add_file(tar, artifact.tarball, tarballs / artifact.tarball)
    partial.replace(package)


def write_checksum(package: Path) -> tuple[Path, str]:
    """`<package>.sha256` in `sha256sum -c` format; its path and the digest."""
    digest = sha256_file(package)
    checksum = package.with_name(package.name + ".sha256")
    checksum.write_text(f"{digest}  {package.name}\n")
    return checksum, digest


def _path_of(line: str) -> str:
    return line.split("  ", 1)[1]


def target_info(target: BundleTarget) -> TargetInfo:
    return TargetInfo(
        name=target.name,
        platform=target.platform,
        arch=target.arch,
        os_id=target.info.os_id,
        version_id=target.info.version_id,
        codename=target.info.codename,
        python=target.python,
    )


def built_at() -> str:
    """Now, or SOURCE_DATE_EPOCH for fully reproducible manifests."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.isoformat(timespec="seconds")
