"""What the all-in-one benchmarks share: the full Debian 12 bundle (built once per run) and
a timed command of aiws on the host."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers.bundles import build
from tests.helpers.hosts import on_host

SELECTION = ["--mode", "all-in-one", "--domain", "bridge.aiws.test", "--internal-ca"]


@pytest.fixture(scope="session")
def full_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full Debian 12 bundle; AIWS_BENCH_BUNDLE=FILE uses one built beforehand."""
    given = os.environ.get("AIWS_BENCH_BUNDLE")
    if given:
        return Path(given)
    components = [*load_catalog().components, CONTROLLER]
    return build("debian-12-amd64", components, tmp_path_factory.mktemp("full")).package


def timed(sandbox: SandboxState, *args: str) -> tuple[float, str]:
    """aiws on the host: (seconds, stdout); it must succeed."""
    started = time.monotonic()
    rc, out, err = on_host(sandbox, *args)
    seconds = time.monotonic() - started
    assert rc == 0, err[-2000:]
    return seconds, out
