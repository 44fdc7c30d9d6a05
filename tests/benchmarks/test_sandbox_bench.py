"""Sandbox timings: cold base image build, warm create-to-running and destroy.

Run with `make bench` (`-m benchmark`; the normal run deselects them); each test appends
one JSON line to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiws.sandbox import host, image
from aiws.sandbox.state import unique_name
from tests.benchmarks.recording import record, spread

pytestmark = pytest.mark.benchmark

CYCLES = 5


def test_cold_image_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """debootstrap, pack and unpack into an empty cache (the real cache stays warm)."""
    monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path))
    started = time.monotonic()
    lower = image.ensure_image("debian-12")
    seconds = time.monotonic() - started
    tarball = lower.with_name(f"{lower.name}.tar.gz")
    record(
        "sandbox.image_build_cold",
        distro="debian-12",
        seconds=round(seconds, 3),
        tarball_mb=round(tarball.stat().st_size / 2**20, 1),
    )


@pytest.mark.parametrize("distro", image.distros())
def test_warm_create_and_destroy(distro: str) -> None:
    image.ensure_image(distro)
    creates, destroys = [], []
    for _ in range(CYCLES):
        started = time.monotonic()
        with host.sandboxed(unique_name("b"), distro) as sandbox:
            booted = time.monotonic()
            assert host.system_state(sandbox) in host.BOOTED_STATES
            host.destroy(sandbox)
            destroyed = time.monotonic()
        creates.append(booted - started)
        destroys.append(destroyed - booted)
    record(
        "sandbox.warm_cycle",
        distro=distro,
        cycles=CYCLES,
        create_to_running_s=spread(creates),
        destroy_s=spread(destroys),
    )
