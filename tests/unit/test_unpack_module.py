"""aiws_unpack over real runtime tarballs built here: what it unpacks, what it refuses."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aiws.modules import aiws_unpack

MARKER = ".aiws-bundle-sha256"


@dataclass
class Member:
    """One tar member: a regular file when `data` is given, else the `kind` named."""

    name: str
    data: bytes | None = None
    kind: bytes = tarfile.DIRTYPE
    mode: int = 0o644
    linkname: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sums_of(files: dict[str, bytes]) -> bytes:
    return "".join(f"{sha256(data)}  {name}\n" for name, data in sorted(files.items())).encode()


def _add(tar: tarfile.TarFile, member: Member) -> None:
    info = tarfile.TarInfo(member.name)
    info.mode = member.mode
    if member.data is not None:
        info.type = tarfile.REGTYPE
        info.size = len(member.data)
        tar.addfile(info, io.BytesIO(member.data))
        return
    info.type = member.kind
    info.linkname = member.linkname
    for key, value in member.extra.items():
        setattr(info, key, value)
    tar.addfile(info)


def make_tarball(
    path: Path,
    members: list[Member],
    sums: bytes | None = None,
    with_sums: bool = True,
) -> str:
    """A runtime tarball: manifest.json, SHA256SUMS (covering manifest.json and every regular
    file unless `sums` says otherwise), then `members`. Returns its SHA256."""
    manifest = json.dumps({"name": "tool", "version": "1.0"}).encode()
    files = {"manifest.json": manifest}
    files.update({m.name: m.data for m in members if m.data is not None})
    head = [Member("manifest.json", manifest)]
    if with_sums:
        head.append(Member("SHA256SUMS", sums if sums is not None else sums_of(files)))
    with tarfile.open(path, "w:gz") as tar:
        for member in head + members:
            _add(tar, member)
    return sha256(path.read_bytes())


GOOD = [
    Member("bin", mode=0o755),
    Member("bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755),
    Member("bin/alias", kind=tarfile.SYMTYPE, linkname="tool"),
    Member("lib/data/table.txt", b"rows\n"),
    Member("current", kind=tarfile.SYMTYPE, linkname="lib/data"),
]


def artifact(tmp_path: Path, src: Path, sha: str, **changes: str) -> dict[str, str]:
    return {
        "name": "tool",
        "version": "1.0",
        "src": str(src),
        "sha256": sha,
        "dest": str(tmp_path / "opt" / "aiws" / "tool" / "1.0"),
        **changes,
    }


def partial_of(item: dict[str, str]) -> Path:
    return Path(item["dest"] + ".partial")


def test_a_good_tarball_unpacks_with_its_marker_and_a_rerun_changes_nothing(
    tmp_path: Path,
) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result == {"changed": True, "unpacked": ["tool"]}
    dest = Path(item["dest"])
    assert (dest / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho tool\n"
    assert stat.S_IMODE((dest / "bin" / "tool").stat().st_mode) == 0o755
    assert (dest / "bin" / "alias").readlink() == Path("tool")
    assert (dest / "current" / "table.txt").read_text() == "rows\n"
    assert (dest / "manifest.json").is_file() and (dest / "SHA256SUMS").is_file()
    assert (dest / MARKER).read_text().strip() == item["sha256"]
    assert not partial_of(item).exists()
    marker_mtime = (dest / MARKER).stat().st_mtime_ns

    again = aiws_unpack.run({"artifacts": [item]})
    assert again == {"changed": False, "unpacked": []}
    assert (dest / MARKER).stat().st_mtime_ns == marker_mtime  # not unpacked again


def test_a_new_tarball_replaces_the_tree(tmp_path: Path) -> None:
    first = tmp_path / "one.tar.gz"
    item = artifact(tmp_path, first, make_tarball(first, [Member("old.txt", b"old")]))
    assert aiws_unpack.run({"artifacts": [item]})["changed"]
    second = tmp_path / "two.tar.gz"
    newer = dict(item, src=str(second), sha256=make_tarball(second, [Member("new.txt", b"new")]))
    assert aiws_unpack.run({"artifacts": [newer]})["changed"]
    dest = Path(item["dest"])
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["new.txt", "manifest.json", "SHA256SUMS", MARKER]
    )
    assert (dest / MARKER).read_text().strip() == newer["sha256"]


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    result = aiws_unpack.run({"artifacts": [item], "remove_src": True}, check_mode=True)
    assert result == {"changed": True, "unpacked": ["tool"]}
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()
    assert src.exists()


def test_a_wrong_sha256_fails_and_leaves_neither_dest_nor_partial(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    make_tarball(src, GOOD)
    item = artifact(tmp_path, src, "0" * 64)
    result = aiws_unpack.run({"artifacts": [item], "remove_src": True})
    assert result["failed"] and result["unpacked"] == []
    assert "SHA256" in result["msg"] and "tool 1.0" in result["msg"]
    assert not Path(item["dest"]).exists()
    assert not partial_of(item).exists()
    assert src.exists()  # a failed tarball is kept for a look


def test_a_wrong_sha256_leaves_an_existing_tree_as_it_was(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    assert aiws_unpack.run({"artifacts": [item]})["changed"]
    other = tmp_path / "other.tar.gz"
    make_tarball(other, [Member("evil.txt", b"x")])
    # a new tarball whose bytes are not the ones the manifest names
    result = aiws_unpack.run({"artifacts": [dict(item, src=str(other), sha256="f" * 64)]})
    assert result["failed"]
    dest = Path(item["dest"])
    assert (dest / MARKER).read_text().strip() == item["sha256"]
    assert (dest / "bin" / "tool").is_file() and not (dest / "evil.txt").exists()
    assert not partial_of(item).exists()


def test_a_corrupt_tarball_fails_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    make_tarball(src, GOOD)
    src.write_bytes(src.read_bytes()[:60])  # truncated
    item = artifact(tmp_path, src, sha256(src.read_bytes()))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result["failed"] and "corrupt tarball" in result["msg"]
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()


CRAFTED: dict[str, tuple[list[Member], str]] = {
    "dot-dot path": ([Member("bin/../../escaped", b"x")], "bin/../../escaped"),
    "leading dot-dot": ([Member("../escaped", b"x")], "../escaped"),
    "empty path component": ([Member("bin//tool", b"x")], "bin//tool"),
    "symlink leaving the tree": (
        [Member("bin", mode=0o755), Member("bin/a", kind=tarfile.SYMTYPE, linkname="../../etc")],
        "bin/a",
    ),
    "symlink to the parent": ([Member("up", kind=tarfile.SYMTYPE, linkname="..")], "up"),
    "absolute symlink": ([Member("etc", kind=tarfile.SYMTYPE, linkname="/etc")], "etc"),
    "hardlink": ([Member("hard", kind=tarfile.LNKTYPE, linkname="manifest.json")], "hard"),
    "fifo": ([Member("pipe", kind=tarfile.FIFOTYPE)], "pipe"),
    "char device": (
        [Member("null", kind=tarfile.CHRTYPE, extra={"devmajor": 1, "devminor": 3})],
        "null",
    ),
    "block device": (
        [Member("disk", kind=tarfile.BLKTYPE, extra={"devmajor": 8, "devminor": 0})],
        "disk",
    ),
    "setuid file": ([Member("bin/su", b"#!/bin/sh\n", mode=0o4755)], "bin/su"),
    "setgid directory": ([Member("shared", mode=0o2775)], "shared"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_member_is_refused_by_name(tmp_path: Path, case: str) -> None:
    members, named = CRAFTED[case]
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, members))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result["failed"], case
    assert f"member {named}:" in result["msg"]
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()
    # nothing landed beside the tree either, not even the directory made for it
    assert sorted(p.name for p in (tmp_path / "opt" / "aiws").rglob("*")) == []


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_an_absolute_member_is_refused_and_nothing_is_written_there(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "outside" / "evil"
    member = Member(str(target), b"x") if kind == "file" else Member(str(target), mode=0o755)
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, [member]))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result["failed"] and f"member {target}: unsafe path" in result["msg"]
    assert not target.exists() and not target.parent.exists()
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()


def test_content_not_matching_sha256sums_is_refused_naming_the_file(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    honest = sums_of({"manifest.json": b"{}", "bin/tool": b"the real tool\n"})
    members = [Member("bin/tool", b"something else\n", mode=0o755)]
    manifest = json.dumps({"name": "tool", "version": "1.0"}).encode()
    sums = honest.replace(sha256(b"{}").encode(), sha256(manifest).encode())
    item = artifact(tmp_path, src, make_tarball(src, members, sums=sums))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result["failed"]
    assert "do not match SHA256SUMS" in result["msg"] and "bin/tool" in result["msg"]
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()


@pytest.mark.parametrize(
    "sums",
    [
        pytest.param(
            lambda files: sums_of({"manifest.json": files["manifest.json"]}), id="unlisted"
        ),
        pytest.param(
            lambda files: sums_of({**files, "bin/ghost": b"never shipped"}), id="listed-missing"
        ),
    ],
)
def test_sha256sums_must_cover_exactly_the_files(
    tmp_path: Path, sums: Callable[[dict[str, bytes]], bytes]
) -> None:
    manifest = json.dumps({"name": "tool", "version": "1.0"}).encode()
    files = {"manifest.json": manifest, "bin/tool": b"tool"}
    src = tmp_path / "tool.tar.gz"
    sha = make_tarball(src, [Member("bin/tool", b"tool")], sums=sums(files))
    result = aiws_unpack.run({"artifacts": [artifact(tmp_path, src, sha)]})
    assert result["failed"] and "do not match SHA256SUMS" in result["msg"]


def test_a_tarball_without_sha256sums_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD, with_sums=False))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result["failed"] and "no SHA256SUMS" in result["msg"]
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()


@pytest.mark.parametrize("key", ["name", "version"])
@pytest.mark.parametrize("value", ["..", ".", "", "a/b", "/abs", "-x"])
def test_an_unsafe_artifact_name_or_version_is_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD), **{key: value})
    result = aiws_unpack.run({"artifacts": [item], "remove_src": True})
    assert result["failed"] and f"unsafe artifact {key}" in result["msg"]
    assert not (tmp_path / "opt").exists()
    assert src.exists()


def test_remove_src_deletes_the_tarball_after_success_even_when_already_in_place(
    tmp_path: Path,
) -> None:
    src = tmp_path / "upload" / "tool.tar.gz"
    src.parent.mkdir()
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    shipped = src.read_bytes()
    assert aiws_unpack.run({"artifacts": [item], "remove_src": True})["changed"]
    assert not src.exists() and (Path(item["dest"]) / "bin" / "tool").is_file()
    src.write_bytes(shipped)  # shipped again by a rerun
    result = aiws_unpack.run({"artifacts": [item], "remove_src": True})
    assert result == {"changed": False, "unpacked": []} and not src.exists()


def test_without_remove_src_the_tarball_stays(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    assert aiws_unpack.run({"artifacts": [item]})["changed"]
    assert src.exists()


def test_a_symlink_chain_cannot_write_outside_the_tree(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    members = [
        Member("x", kind=tarfile.SYMTYPE, linkname="."),
        Member("y", kind=tarfile.SYMTYPE, linkname="x/.."),
        Member("z", kind=tarfile.SYMTYPE, linkname="y/.."),
        Member("z/escaped", b"written outside the tree\n"),
    ]
    item = artifact(tmp_path, src, make_tarball(src, members))
    result = aiws_unpack.run({"artifacts": [item]})
    escaped = tmp_path / "opt" / "aiws" / "escaped"  # two levels above <dest>.partial
    assert not escaped.exists()
    assert result.get("failed")


def test_sha256sums_is_not_written_through_a_symlink(tmp_path: Path) -> None:
    tool = b"#!/bin/sh\necho verified\n"
    manifest = json.dumps({"name": "tool", "version": "1.0"}).encode()
    sums = sums_of({"manifest.json": manifest, "bin/tool": tool})
    src = tmp_path / "tool.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        _add(tar, Member("manifest.json", manifest))
        _add(tar, Member("bin/tool", tool, mode=0o755))
        _add(tar, Member("SHA256SUMS", kind=tarfile.SYMTYPE, linkname="bin/tool"))
        _add(tar, Member("SHA256SUMS", sums))
    item = artifact(tmp_path, src, sha256(src.read_bytes()))
    result = aiws_unpack.run({"artifacts": [item]})
    dest = Path(item["dest"])
    # either refused, or the unpacked tool is the verified one
    assert result.get("failed") or (dest / "bin" / "tool").read_bytes() == tool


UNSAFE_MODES: dict[str, tuple[list[Member], str, str]] = {
    "world-writable file": ([Member("notes", b"x", mode=0o666)], "notes", "world-writable"),
    "world-writable directory": ([Member("spool", mode=0o777)], "spool", "world-writable"),
    "setuid directory 4777": ([Member("spool", mode=0o4777)], "spool", "setuid/setgid bit"),
    "absolute directory 4777": (
        [Member("/tmp/aiws-evil", mode=0o4777)],
        "/tmp/aiws-evil",
        "unsafe path",
    ),
    "the unpack marker": ([Member(MARKER, b"f" * 64)], MARKER, "reserved name"),
    "the unpack marker as a symlink": (
        [Member("bin/tool", b"x"), Member(MARKER, kind=tarfile.SYMTYPE, linkname="bin/tool")],
        MARKER,
        "reserved name",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_MODES))
def test_unpack_refuses_what_verify_refuses(tmp_path: Path, case: str) -> None:
    members, named, problem = UNSAFE_MODES[case]
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, members))
    result = aiws_unpack.run({"artifacts": [item]})
    assert result.get("failed"), case
    assert f"member {named}: {problem}" in result["msg"]
    assert not Path(item["dest"]).exists() and not partial_of(item).exists()


def test_a_sticky_shared_directory_is_accepted(tmp_path: Path) -> None:
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, [*GOOD, Member("spool", mode=0o1777)]))
    assert aiws_unpack.run({"artifacts": [item]})["changed"]


@pytest.mark.parametrize(
    "marker", [None, "f" * 64, ""], ids=["no marker", "another tarball", "empty marker"]
)
def test_a_tree_is_reused_only_when_its_marker_names_this_tarball(
    tmp_path: Path, marker: str | None
) -> None:
    """The marker holds the SHA256 of the tarball the tree came from (the one the verified
    bundle manifest names): any other tree in its place is replaced, never reused."""
    src = tmp_path / "tool.tar.gz"
    item = artifact(tmp_path, src, make_tarball(src, GOOD))
    dest = Path(item["dest"])
    dest.mkdir(parents=True)
    (dest / "planted").write_text("not from this tarball")
    if marker is not None:
        (dest / MARKER).write_text(marker + "\n")
    assert aiws_unpack.run({"artifacts": [item]}) == {"changed": True, "unpacked": ["tool"]}
    assert not (dest / "planted").exists()
    assert (dest / MARKER).read_text().strip() == item["sha256"]
    assert (dest / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho tool\n"


def test_the_unpack_module_and_the_manifest_agree_on_safe_names() -> None:
    from pydantic import ValidationError

    from aiws.bundle.manifest import ArtifactEntry

    for value in [
        "tool",
        "1.0",
        "2026.9.6",
        "1.0.0-beta+3",
        "a" * 128,
        "..",
        ".",
        "a/b",
        "",
        "-x",
        "x y",
        "a" * 129,
    ]:
        module_says = aiws_unpack.safe_component(value)
        try:
            ArtifactEntry(
                name=value, version="1", components={}, tarball="t.tar.gz", size=0, sha256="0" * 64
            )
            model_says = True
        except ValidationError:
            model_says = False
        assert module_says == model_says, value
