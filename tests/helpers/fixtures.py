"""Fixtures shared by the integration tests and the benchmarks: fresh systemd hosts (real
systemd-nspawn sandboxes, docs/sandbox.md) and the bundle built once per test run.

Without root or the host packages these tests FAIL with the fix instead of skipping: a CI
run that silently skipped every host test would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from aiws.bundle.build import BuildResult
from aiws.sandbox import host
from aiws.sandbox.state import Network, SandboxState, unique_name
from tests.helpers.bundles import core_bundle, full_bundle

# Host tool -> the Debian package that provides it.
HOST_TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap"}
APT_TIMEOUT = 900

MakeSandbox = Callable[..., SandboxState]


def _install(packages: list[str]) -> str | None:
    """apt-get install `packages`; returns the error output on failure."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, check=False
            )
        except (subprocess.TimeoutExpired, FileNotFoundError) as exc:
            return str(exc)
        if done.returncode != 0:
            return done.stderr.strip()[-500:]
    return None


@pytest.fixture(scope="session")
def sandbox_ready() -> None:
    """This machine can boot sandboxes; installs missing host packages once per session."""
    if os.geteuid() != 0:
        pytest.fail("sandbox tests need root (mounts, cgroups, namespaces): run them as root")
    missing = [pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None]
    if missing:
        error = _install(missing)
        if error is not None:
            pytest.fail(f"cannot install {' '.join(missing)} ({error}); run `make setup` as root")


@contextmanager
def _sandboxes() -> Iterator[MakeSandbox]:
    """A factory of sandboxes; every one it made is destroyed on the way out, pass or fail."""
    with ExitStack() as stack:

        def make(distro: str = "debian-12", network: Network = "private") -> SandboxState:
            return stack.enter_context(host.sandboxed(unique_name(), distro, network))

        yield make


@pytest.fixture
def make_sandbox(sandbox_ready: None) -> Iterator[MakeSandbox]:
    """Sandboxes for one test."""
    with _sandboxes() as make:
        yield make


@pytest.fixture(scope="module")
def make_module_sandbox(sandbox_ready: None) -> Iterator[MakeSandbox]:
    """Sandboxes for a module whose tests are the ordered steps of one scenario on one host
    (marked `steps`): destroyed after the module's last test."""
    with _sandboxes() as make:
        yield make


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> SandboxState:
    """A fresh Debian 12 host with a private network (loopback only)."""
    return make_sandbox()


@pytest.fixture
def veth_sandbox(make_sandbox: MakeSandbox) -> SandboxState:
    """A fresh Debian 12 host on a veth link, reachable at `.address` from this machine."""
    return make_sandbox(network="veth")


@pytest.fixture(scope="session")
def core_bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PostgreSQL + Vault + controller bundle, built once per test run and shared by
    every scenario that installs from it."""
    return core_bundle(tmp_path_factory.mktemp("core-bundle"))


@pytest.fixture(scope="session")
def full_bundle_build() -> BuildResult:
    """Every component + the controller, built once per test run, where a connected
    all-in-one install for Debian 12 looks for its bundle (tests/helpers/bundles.py)."""
    return full_bundle()


@pytest.fixture(scope="session")
def trixie_bundle_file() -> Path:
    """The full bundle for debian-13-amd64 (what the Debian 13 all-in-one scenario installs);
    AIWS_TEST_TRIXIE_BUNDLE=FILE uses one built beforehand."""
    given = os.environ.get("AIWS_TEST_TRIXIE_BUNDLE")
    if given:
        return Path(given)
    return full_bundle("debian-13-amd64").package


@pytest.fixture(scope="session")
def models_bundle_file(full_bundle_build: BuildResult) -> Path:
    """What the LiteLLM, Node services, agent and Bridge scenarios install from: the full
    bundle (one build a run serves them and the full-bundle test)."""
    return full_bundle_build.package
