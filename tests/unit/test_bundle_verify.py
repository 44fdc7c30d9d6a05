"""Manifests, checksums and verification over small real bundles (no registry needed)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from aiws.bundle.build import write_checksum
from aiws.bundle.inspect import inspect_bundle
from aiws.bundle.manifest import ArtifactEntry
from aiws.bundle.target import BundleTarget, parse_target
from aiws.bundle.verify import read_target, verify_bundle
from aiws.cli.main import app
from aiws.errors import AiwsError, UsageError
from aiws.model.catalog import load_catalog
from aiws.model.request import request_from_cli
from tests.helpers.bundles import (
    crafted_bundle,
    package_members,
    repack,
    reseal_manifest,
    small_bundle,
    tar_member,
    write_raw_package,
)
from tests.helpers.cli import aiws


@pytest.fixture
def target() -> BundleTarget:
    return parse_target("debian-12-amd64", load_catalog())


def test_a_sound_bundle_verifies_and_names_its_tarballs(
    tmp_path: Path, target: BundleTarget
) -> None:
    bundle = verify_bundle(small_bundle(tmp_path, target), tmp_path / "unpacked")
    assert (bundle.platform, bundle.arch) == ("debian-12", "amd64")
    assert bundle.versions == {"node": "24.21.0", "vault": "2.7.2"}
    assert bundle.for_component("vault").tarball.is_file()
    assert (
        bundle.for_component("vault").tarball.name == "vault-runtime-debian-12-2.7.2-amd64.tar.gz"
    )


def test_inner_sha256sums_work_with_sha256sum(tmp_path: Path, target: BundleTarget) -> None:
    bundle = verify_bundle(small_bundle(tmp_path, target), tmp_path / "unpacked")
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


def test_one_flipped_byte_names_the_component_and_the_file(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)

    def flip(root: Path) -> None:
        data = bytearray((root / "bin" / "bao").read_bytes())
        data[1000] ^= 0x01
        (root / "bin" / "bao").write_bytes(bytes(data))

    repack(package, "vault-runtime-debian-12-2.7.2-amd64.tar.gz", flip)
    with pytest.raises(AiwsError) as failure:
        verify_bundle(package, tmp_path / "unpacked")
    assert "component 'vault'" in failure.value.problem
    assert "file bin/bao: SHA256" in failure.value.problem


def test_an_added_file_is_reported(tmp_path: Path, target: BundleTarget) -> None:
    package = small_bundle(tmp_path, target)
    repack(
        package,
        "node-runtime-debian-12-24.21.0-amd64.tar.gz",
        lambda root: (root / "bin" / "extra").write_text("surprise"),
    )
    with pytest.raises(AiwsError, match=r"component 'node'.*file bin/extra: not in manifest"):
        verify_bundle(package, tmp_path / "unpacked")


def test_a_lost_exec_bit_is_reported(tmp_path: Path, target: BundleTarget) -> None:
    package = small_bundle(tmp_path, target)
    repack(
        package,
        "node-runtime-debian-12-24.21.0-amd64.tar.gz",
        lambda root: (root / "bin" / "node").chmod(0o644),
    )
    with pytest.raises(AiwsError, match=r"file bin/node: mode 0644 != manifest 0755"):
        verify_bundle(package, tmp_path / "unpacked")


def test_a_truncated_package_fails_before_anything_is_unpacked(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    with package.open("r+b") as stream:
        stream.truncate(package.stat().st_size // 2)
    dest = tmp_path / "unpacked"
    with pytest.raises(
        AiwsError, match=r"aiws-bundle-debian-12-amd64-0.1.0.tar: SHA256 .* nothing was unpacked"
    ):
        verify_bundle(package, dest)
    assert not dest.exists()


def test_a_missing_checksum_file_is_an_error(tmp_path: Path, target: BundleTarget) -> None:
    package = small_bundle(tmp_path, target)
    package.with_name(package.name + ".sha256").unlink()
    with pytest.raises(AiwsError, match=r"\.sha256: missing"):
        verify_bundle(package, tmp_path / "unpacked")


def test_read_target_and_inspect_read_only_the_aggregate_manifest(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
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


def test_cli_verify_json_and_exit_codes(tmp_path: Path, target: BundleTarget) -> None:
    package = small_bundle(tmp_path, target)
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


# --- what a bundle may hold: every member checked, whatever its manifest says ---------------

SYM, LNK, CHR, BLK, FIFO = (
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
    tarfile.FIFOTYPE,
)
# Each case: the members (the manifests agree with them), the member named, the problem.
CRAFTED_MEMBERS: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes | None]], str, str]] = {
    "dot-dot file": ([tar_member("../escaped", b"x", mode=0o644)], "../escaped", "unsafe path"),
    "absolute directory 4777": (
        [tar_member("/tmp/aiws-evil", mode=0o4777)],
        "/tmp/aiws-evil",
        "unsafe path",
    ),
    "dot-dot directory": ([tar_member("a/../..", mode=0o755)], "a/../..", "unsafe path"),
    "setuid directory": ([tar_member("shared", mode=0o4755)], "shared", "setuid/setgid bit"),
    "setgid directory": ([tar_member("shared", mode=0o2775)], "shared", "setuid/setgid bit"),
    "world-writable directory": ([tar_member("tmp", mode=0o777)], "tmp", "world-writable"),
    "setuid file": (
        [tar_member("bin"), tar_member("bin/su", b"#!/bin/sh\n", mode=0o4755)],
        "bin/su",
        "setuid/setgid bit",
    ),
    "world-writable file": ([tar_member("notes", b"x", mode=0o666)], "notes", "world-writable"),
    "symlink leaving the tree": (
        [tar_member("etc", kind=SYM, linkname="../../etc")],
        "etc",
        "symlink leaving the tree",
    ),
    "absolute symlink": ([tar_member("etc", kind=SYM, linkname="/etc")], "etc", "symlink leaving"),
    "symlink chain": (
        [
            tar_member("x", kind=SYM, linkname="."),
            tar_member("y", kind=SYM, linkname="x/.."),
        ],
        "y",
        "symlink leaving the tree",
    ),
    "member under a symlink": (
        [
            tar_member("real"),
            tar_member("lib", kind=SYM, linkname="real"),
            tar_member("lib/f", b"x", mode=0o644),
        ],
        "lib/f",
        "lies under a symlink",
    ),
    "hardlink outside the tree": (
        [tar_member("shadow", kind=LNK, linkname="/etc/shadow")],
        "shadow",
        "hardlink",
    ),
    "hardlink inside the tree": (
        [tar_member("a", b"x", mode=0o644), tar_member("b", kind=LNK, linkname="a")],
        "b",
        "hardlink",
    ),
    "char device": ([tar_member("null", kind=CHR)], "null", "device"),
    "block device": ([tar_member("disk", kind=BLK)], "disk", "device"),
    "fifo": ([tar_member("pipe", kind=FIFO)], "pipe", "fifo"),
    "member twice": (
        [tar_member("f", b"x", mode=0o644), tar_member("f", b"x", mode=0o644)],
        "f",
        "appears twice",
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_MEMBERS))
def test_verify_refuses_a_crafted_member_its_manifest_agrees_with(
    tmp_path: Path, case: str
) -> None:
    members, named, problem = CRAFTED_MEMBERS[case]
    package = crafted_bundle(tmp_path / "out", members)
    with pytest.raises(AiwsError) as failure:
        verify_bundle(package, tmp_path / "unpacked")
    assert "component 'tool'" in failure.value.problem, case
    assert f"member {named}: {problem}" in failure.value.problem, case


def test_verify_accepts_in_tree_symlinks_and_a_sticky_shared_directory(tmp_path: Path) -> None:
    members = [
        tar_member("bin"),
        tar_member("bin/tool", b"#!/bin/sh\n", mode=0o755),
        tar_member("bin/alias", kind=SYM, linkname="tool"),
        tar_member("lib"),
        tar_member("lib/up", kind=SYM, linkname="../bin/tool"),
        tar_member("spool", mode=0o1777),
    ]
    bundle = verify_bundle(crafted_bundle(tmp_path / "out", members), tmp_path / "unpacked")
    assert [a.name for a in bundle.artifacts] == ["tool"]


@pytest.mark.parametrize("field", ["name", "version"])
@pytest.mark.parametrize("value", ["..", "../../..", ".", "a/b", "/abs", "-x", ""])
def test_verify_refuses_an_unsafe_artifact_name_or_version(
    tmp_path: Path, field: str, value: str
) -> None:
    """A role would turn /opt/aiws/<name>/<version> with '../../..' into '/'."""
    package = crafted_bundle(
        tmp_path / "out", [tar_member("f", b"x", mode=0o644)], **{field: value}
    )
    with pytest.raises(AiwsError) as failure:
        verify_bundle(package, tmp_path / "unpacked")
    assert package.name in failure.value.problem
    assert f"artifacts.0.{field}" in failure.value.problem
    assert "\n" not in str(failure.value)


@pytest.mark.parametrize(
    "unsafe",
    [
        {"name": ".."},
        {"version": "../../.."},
        {"tarball": "../tool.tar.gz"},
        {"components": {"../x": "1.0"}},
        {"components": {"x": ".."}},
    ],
    ids=str,
)
def test_the_manifest_model_takes_names_and_versions_as_one_path_component(
    unsafe: dict[str, object],
) -> None:
    fields: dict[str, object] = {
        "name": "tool",
        "version": "1.0",
        "components": {"tool": "1.0"},
        "tarball": "tool-runtime-debian-12-1.0-amd64.tar.gz",
        "size": 1,
        "sha256": "0" * 64,
    }
    ArtifactEntry.model_validate(fields)
    with pytest.raises(ValidationError, match="not a single safe path component"):
        ArtifactEntry.model_validate({**fields, **unsafe})


def test_bundle_versions_must_be_safe_path_components(tmp_path: Path, target: BundleTarget) -> None:
    package = reseal_manifest(
        small_bundle(tmp_path, target),
        lambda m: json.dumps({**m, "versions": {**m["versions"], "vault": "../.."}}).encode(),
    )
    with pytest.raises(AiwsError, match=r"versions\.vault.*not a single safe path component"):
        verify_bundle(package, tmp_path / "unpacked")


@pytest.mark.parametrize("value", ["..", "../../..", "a/b", ".hidden"])
def test_a_version_override_must_be_a_safe_path_component(value: str) -> None:
    """`--set <c>.version=X` names /opt/aiws/<c>/X for install and the build's tarballs."""
    with pytest.raises(UsageError, match="a version must be one safe path component"):
        request_from_cli(load_catalog(), mode="core", sets=[f"vault.version={value}"])


# --- a malformed bundle: one line naming the file and what is wrong, never a traceback --------


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path / "cache"))


def _not_utf8_checksum(package: Path) -> str:
    package.with_name(package.name + ".sha256").write_bytes(b"\xff\xfe\x00garbage  x\n")
    return ".sha256: not UTF-8 text"


def _malformed_checksum(package: Path) -> str:
    package.with_name(package.name + ".sha256").write_text("hello world\n")
    return ".sha256: malformed"


def _no_sums(package: Path) -> str:
    members = package_members(package)
    del members["SHA256SUMS"]
    write_raw_package(package, members.pop("bundle-manifest.json"), members, with_sums=False)
    return ": SHA256SUMS is missing"


def _unknown_field(package: Path) -> str:
    reseal_manifest(package, lambda m: json.dumps({**m, "colour": "blue"}).encode())
    return ": bundle-manifest.json: unknown field 'colour'"


def _not_json(package: Path) -> str:
    reseal_manifest(package, lambda m: b'{"schema": 1, "aiws_version": ')
    return ": bundle-manifest.json: not JSON"


def _newer_schema(package: Path) -> str:
    reseal_manifest(
        package, lambda m: json.dumps({**m, "schema": 2, "aiws_version": "9.0.0", "x": 1}).encode()
    )
    return (
        ": built by a newer aiws (9.0.0, manifest schema 2; this aiws reads schema 1); upgrade aiws"
    )


def _not_a_tar(package: Path) -> str:
    package.write_bytes(b"this is not a tar file\n" * 100)
    write_checksum(package)
    return ": not a tar file"


def _truncated(package: Path) -> str:
    with tarfile.open(package) as tar:
        last = tar.getmembers()[-1]
    with package.open("r+b") as stream:  # cut in the middle of the last tarball's bytes
        stream.truncate(last.offset_data + last.size // 2)
    write_checksum(package)  # re-sealed: the SHA256 of what is left matches
    return ": truncated or corrupt"


def _inner_newer_schema(package: Path) -> str:
    name = "vault-runtime-debian-12-2.7.2-amd64.tar.gz"
    members = package_members(package)
    raw = io.BytesIO(members[name])
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=raw, mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for member in src:
            stream = src.extractfile(member)
            data = stream.read() if stream else None
            if member.name == "manifest.json" and data is not None:
                data = json.dumps({**json.loads(data), "schema": 3}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    tarball = out.getvalue()
    members[name] = tarball

    def reseal(m: dict[str, object]) -> bytes:
        for artifact in m["artifacts"]:  # type: ignore[attr-defined]
            if artifact["tarball"] == name:
                artifact["sha256"] = hashlib.sha256(tarball).hexdigest()
                artifact["size"] = len(tarball)
        return json.dumps(m).encode()

    manifest = reseal(json.loads(members.pop("bundle-manifest.json")))
    members.pop("SHA256SUMS")
    write_raw_package(package, manifest, members)
    return f"component 'vault': {name}: manifest.json: built by a newer aiws"


MALFORMED = {
    "non-UTF-8 .sha256": _not_utf8_checksum,
    "malformed .sha256": _malformed_checksum,
    "no SHA256SUMS in the package": _no_sums,
    "unknown manifest field": _unknown_field,
    "manifest not JSON": _not_json,
    "newer manifest schema": _newer_schema,
    "not a tar file": _not_a_tar,
    "truncated tar": _truncated,
    "newer runtime tarball manifest": _inner_newer_schema,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.usefixtures("private_cache")
def test_a_malformed_bundle_is_one_line_naming_the_file(
    tmp_path: Path, target: BundleTarget, case: str
) -> None:
    package = small_bundle(tmp_path, target)
    expected = MALFORMED[case](package)
    result = aiws("bundle", "verify", str(package), "--dest", str(tmp_path / "unpacked"))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert package.name in lines[0] or "component '" in lines[0]


@pytest.mark.parametrize("case", ["manifest not JSON", "newer manifest schema", "not a tar file"])
@pytest.mark.usefixtures("private_cache")
def test_inspect_and_preflight_name_a_malformed_manifest_in_one_line(
    tmp_path: Path, target: BundleTarget, case: str
) -> None:
    package = small_bundle(tmp_path, target)
    expected = MALFORMED[case](package)
    for args in (
        ["bundle", "inspect", str(package)],
        ["preflight", "--mode", "local", "--bundle", str(package)],
    ):
        result = aiws(*args)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 1, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
