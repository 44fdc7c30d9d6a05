"""Install without --bundle: the bundle this controller builds or reuses (aiws.commands.connected).

The real build, verification and install from it run on a host in
tests/integration/test_cli_e2e.py; here, the choices around the builder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from aiws.bundle.build import BuildRequest, package_name, project_dir
from aiws.bundle.target import parse_target
from aiws.commands import connected
from aiws.errors import UsageError
from aiws.guard.checks import HostFacts
from aiws.model.catalog import load_catalog
from tests.helpers.facts import host_facts

CATALOG = load_catalog()
SELECTION = ["postgresql", "vault"]


def host(version: str = "12", arch: str = "amd64") -> HostFacts:
    return host_facts(os_version_id=version, arch=arch)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_hosts_of_two_platforms_need_a_bundle_each(cache: Path) -> None:
    with pytest.raises(UsageError, match="different platforms") as caught:
        connected.bundle_for(CATALOG, SELECTION, {"a": host("12"), "b": host("13")})
    assert "--bundle" in caught.value.fix


def test_the_cache_key_follows_every_input(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(project_dir() / "bridge" / "src", tree / "bridge" / "src")
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    key = connected.cache_key(CATALOG, "debian-12-amd64", SELECTION, tree)
    assert key == connected.cache_key(CATALOG, "debian-12-amd64", list(reversed(SELECTION)), tree)
    assert key != connected.cache_key(CATALOG, "debian-13-amd64", SELECTION, tree)
    assert key != connected.cache_key(CATALOG, "debian-12-amd64", ["postgresql"], tree)
    pinned = CATALOG.with_overrides({"vault": {"version": "9.9.9"}})
    assert key != connected.cache_key(pinned, "debian-12-amd64", SELECTION, tree)
    # Bytecode and build metadata do not count; a changed source file does.
    (tree / "bridge" / "src" / "__pycache__").mkdir(exist_ok=True)
    (tree / "bridge" / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert key == connected.cache_key(CATALOG, "debian-12-amd64", SELECTION, tree)
    source = next((tree / "bridge" / "src").rglob("*.py"))
    source.write_text(source.read_text() + "\n# changed\n")
    assert key != connected.cache_key(CATALOG, "debian-12-amd64", SELECTION, tree)


def fake_builder(calls: list[BuildRequest]) -> Any:
    def build(request: BuildRequest, progress: Any) -> Any:
        calls.append(request)
        progress("downloading")
        request.out_dir.mkdir(parents=True, exist_ok=True)
        package = request.out_dir / package_name(request.target)
        package.write_bytes(b"bundle")
        package.with_name(package.name + ".sha256").write_text("x  name\n")
        return type("Result", (), {"package": package, "seconds": 1.0})()

    return build


def test_a_bundle_is_built_once_for_the_hosts_platform_then_reused(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[BuildRequest] = []
    monkeypatch.setattr(connected, "build_bundle", fake_builder(calls))
    said: list[str] = []
    package = connected.bundle_for(CATALOG, SELECTION, {"a": host(), "b": host()}, said.append)
    (request,) = calls
    assert request.target == parse_target("debian-12-amd64", CATALOG)
    # The controller too: the cached bundle is also what an air-gapped host bootstraps from.
    assert (request.selection, request.explicit) == ([*SELECTION, "controller"], True)
    assert request.cache_dir == cache and package.parent.parent == cache / "bundles"
    assert package == connected.cached_package(
        CATALOG, request.target, [*SELECTION, "controller"], request.project_dir
    )
    assert said[0].startswith("bundle for debian-12-amd64: building postgresql, vault, controller")
    assert "  downloading" in said
    again = connected.bundle_for(CATALOG, SELECTION, {"a": host()}, said.append)
    assert again == package and len(calls) == 1
    assert said[-1].startswith("bundle for debian-12-amd64: reusing")
    # A package without its checksum beside it (an interrupted build) is built again.
    package.with_name(package.name + ".sha256").unlink()
    connected.bundle_for(CATALOG, SELECTION, {"a": host()})
    assert len(calls) == 2


def test_only_the_newest_cached_bundles_of_a_target_are_kept(tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    names = ["debian-12-amd64-a", "debian-12-amd64-b", "debian-12-amd64-c", "debian-12-amd64-d"]
    for age, name in enumerate(reversed(names)):  # "d" oldest ... "a" newest
        (bundles / name).mkdir(parents=True)
        os.utime(bundles / name, (1000 + age, 1000 + age))
    (bundles / "debian-13-amd64-x").mkdir()
    (bundles / "debian-12-arm64-y").mkdir()
    stale = connected.older_bundles(bundles / "debian-12-amd64-a", keep=3)
    assert sorted(p.name for p in stale) == ["debian-12-amd64-d"]
