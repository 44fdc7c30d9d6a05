"""Deterministic tarballs and file hashing.

The same tree always gives the same bytes: entries sorted, mtime/uid/gid/owner fixed,
modes normalised to 0644/0755, gzip header without name or time. So the same pins give
the same per-file hashes, and usually the same tarball hash.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from aiws.bundle.manifest import FileEntry
from aiws.concurrency import AdaptiveLimiter, run_bounded

FIXED_MTIME = 946684800  # 2000-01-01: some tools treat 0 as "no time"
CHUNK = 1 << 20
GZIP_LEVEL = 6  # level 9 costs ~2x the CPU for ~2 % smaller runtime tarballs


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return sha256_stream(stream)


def normal_mode(mode: int) -> int:
    """0755 for directories and anything executable, else 0644."""
    return 0o755 if stat.S_ISDIR(mode) or mode & 0o111 else 0o644


def walk_sorted(root: Path) -> list[Path]:
    """Every directory, file and symlink under root (not root itself), sorted by path
    components, so that a directory comes right before its contents."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        found += [base / name for name in dirnames + filenames]
    return sorted(found, key=lambda path: path.relative_to(root).parts)


def scan_tree(root: Path, limiter: AdaptiveLimiter | None = None) -> list[FileEntry]:
    """A manifest entry (size, mode, SHA256 or link) for every file and symlink under root."""
    paths = [p for p in walk_sorted(root) if p.is_symlink() or p.is_file()]
    return run_bounded(lambda path: _entry(root, path), paths, limiter)


def _entry(root: Path, path: Path) -> FileEntry:
    rel = path.relative_to(root).as_posix()
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return FileEntry(path=rel, size=0, mode="0777", link=str(path.readlink()))
    mode = f"{normal_mode(info.st_mode):04o}"
    return FileEntry(path=rel, size=info.st_size, mode=mode, sha256=sha256_file(path))


def sha256sums(entries: list[FileEntry]) -> bytes:
    """`sha256sum -c` compatible lines for every regular file."""
    lines = [f"{e.sha256}  {e.path}\n" for e in entries if e.sha256 is not None]
    return "".join(lines).encode()


def write_tarball(dest: Path, root: Path, head: dict[str, bytes]) -> None:
    """A deterministic .tar.gz of `head` (small generated files, first) then the tree."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name, data in head.items():
            add_bytes(tar, name, data)
        for path in walk_sorted(root):
            _add(tar, root, path)
    partial.replace(dest)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tarinfo(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))


def add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    """A regular file under `name`, with the fixed metadata."""
    with path.open("rb") as stream:
        tar.addfile(_tarinfo(name, tarfile.REGTYPE, 0o644, path.stat().st_size), stream)


def bytes_entry(name: str, data: bytes) -> FileEntry:
    return FileEntry(
        path=name, size=len(data), mode="0644", sha256=hashlib.sha256(data).hexdigest()
    )


def _add(tar: tarfile.TarFile, root: Path, path: Path) -> None:
    name = path.relative_to(root).as_posix()
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        member = _tarinfo(name, tarfile.SYMTYPE, 0o777, 0)
        member.linkname = str(path.readlink())
        tar.addfile(member)
    elif stat.S_ISDIR(info.st_mode):
        tar.addfile(_tarinfo(name, tarfile.DIRTYPE, 0o755, 0))
    elif stat.S_ISREG(info.st_mode):
        member = _tarinfo(name, tarfile.REGTYPE, normal_mode(info.st_mode), info.st_size)
        with path.open("rb") as stream:
            tar.addfile(member, stream)


def _tarinfo(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = mode
    member.size = size
    member.mtime = FIXED_MTIME
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    return member
