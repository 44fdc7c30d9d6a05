"""Bundle timings: cold and warm builds, size per component, verify vs `sha256sum`.

Run with `make bench`; each test appends one JSON line to ~/.cache/aiws/bench.jsonl.
The full bundle uses the normal download cache (warm after the first run); the cold
build uses an empty cache of its own.
"""

from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from aiws.bundle.build import BuildResult
from aiws.bundle.manifest import ArtifactManifest
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.verify import verify_bundle
from aiws.concurrency import AdaptiveLimiter
from aiws.model.catalog import load_catalog
from tests.benchmarks.recording import record as shared_record
from tests.helpers.bundles import build

pytestmark = pytest.mark.benchmark

TARGET = "debian-12-amd64"
SUBSET = ["node", "vault", "codex"]
MB = 1e6


def record(name: str, **fields: Any) -> None:
    shared_record(name, target=TARGET, **fields)


@pytest.fixture(scope="module")
def full_bundle(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    components = [*load_catalog().components, CONTROLLER]
    return build(TARGET, components, tmp_path_factory.mktemp("full"))


def test_cold_and_warm_build_of_a_subset(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = build(TARGET, SUBSET, tmp_path / "cold", cache)
    warm = build(TARGET, SUBSET, tmp_path / "warm", cache)
    assert cold.cache_misses and warm.cache_misses == []  # cold may hit what it just fetched
    record(
        "bundle.build.subset",
        components=SUBSET,
        cold_s=cold.seconds,
        warm_s=warm.seconds,
        cold_phase_s=cold.phase_seconds,
        warm_phase_s=warm.phase_seconds,
        package_mb=round(cold.package.stat().st_size / MB, 1),
    )


def test_full_bundle_build_and_size_per_component(full_bundle: BuildResult) -> None:
    record(
        "bundle.build.full",
        seconds=full_bundle.seconds,
        cache="warm" if not full_bundle.cache_misses else "cold",
        cache_misses=full_bundle.cache_misses,
        phase_s=full_bundle.phase_seconds,
        package_mb=round(full_bundle.package.stat().st_size / MB, 1),
        tarball_mb={a.name: round(a.size / MB, 1) for a in full_bundle.manifest.artifacts},
    )


def test_verify_throughput_vs_sha256sum(full_bundle: BuildResult, tmp_path: Path) -> None:
    package = full_bundle.package
    started = time.monotonic()
    bundle = verify_bundle(package, tmp_path / "parallel")
    parallel_s = time.monotonic() - started
    started = time.monotonic()
    verify_bundle(package, tmp_path / "serial", AdaptiveLimiter(cpus=1, load=lambda: 0.0))
    one_cpu_s = time.monotonic() - started

    tarballs = [str(a.tarball) for a in bundle.artifacts]
    started = time.monotonic()
    subprocess.run(
        ["sha256sum", str(package), *tarballs], check=True, timeout=1800, capture_output=True
    )
    sha256sum_s = time.monotonic() - started

    hashed = package.stat().st_size + sum(a.size for a in bundle.manifest.artifacts)
    payload = _payload_bytes(bundle.artifacts[0].tarball.parent, bundle.manifest.artifacts)
    record(
        "bundle.verify",
        package_mb=round(package.stat().st_size / MB, 1),
        payload_mb=round(payload / MB, 1),
        verify_s=round(parallel_s, 2),
        verify_1cpu_limiter_s=round(one_cpu_s, 2),
        verify_mb_per_s=round(hashed / MB / parallel_s, 1),
        verify_payload_mb_per_s=round(payload / MB / parallel_s, 1),
        sha256sum_s=round(sha256sum_s, 2),
        sha256sum_mb_per_s=round(hashed / MB / sha256sum_s, 1),
    )


def _payload_bytes(directory: Path, artifacts: list[Any]) -> int:
    """Uncompressed bytes of every file the verifier hashed inside the tarballs."""
    total = 0
    for artifact in artifacts:
        with tarfile.open(directory / artifact.tarball) as tar:
            member = tar.next()
            assert member is not None
            stream = tar.extractfile(member)
            assert stream is not None
            total += sum(f.size for f in ArtifactManifest.model_validate_json(stream.read()).files)
    return total
