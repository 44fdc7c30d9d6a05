"""A bundle package opened once: hashed, read and unpacked through one descriptor.

Opening the package by its path to hash it, again to read its manifest and a third time to
extract it would let whoever can replace the file between those reads choose what root
unpacks: the hash would vouch for one file and the extraction read another. So the package
is opened once (never through a symlink, a regular file only) and every read goes through
that descriptor, which a rename or a new file at the same path does not change. A package
that someone other than this user could rewrite in place (another owner, or group or other
write permission) is first copied, while it is hashed, into an unnamed file in aiws's
private cache that only this process holds: the hash then vouches for the very bytes read
after it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from aiws.bundle import hashcache
from aiws.bundle.private import private_cache
from aiws.bundle.tarball import CHUNK, sha256_stream
from aiws.errors import AiwsError

GIVE_A_BUNDLE = "give the path of a built bundle"


class Package:
    """The package file the operator named, open for reading (aiws.bundle.verify's
    CheckedPackage holds it and closes it)."""

    def __init__(self, path: Path, stream: BinaryIO, copied: bool, digest: str | None):
        self.path = path  # as named: for messages and the ledger, never reopened
        self.stream = stream
        self.copied = copied  # the reads go to a private copy made while hashing
        self._digest = digest

    @property
    def name(self) -> str:
        return self.path.name

    def sha256(self) -> str:
        """The SHA256 of what this descriptor reads (remembered for an unchanged file)."""
        if self._digest is None:
            self._digest = hashcache.digest(self.stream, _hash_from_start)
        return self._digest

    def rewind(self) -> BinaryIO:
        self.stream.seek(0)
        return self.stream

    def close(self) -> None:
        self.stream.close()


def open_once(path: Path) -> Package:
    """Open the package once; copy it first (hashing it) when others could rewrite it."""
    if not path.name:
        raise AiwsError(f"{path}: no such bundle file", GIVE_A_BUNDLE)
    stream = _open_regular(path)
    info = os.fstat(stream.fileno())
    if not others_could_write(info):
        return Package(path, stream, copied=False, digest=None)
    with stream:
        copy, digest = _private_copy(stream)
    return Package(path, copy, copied=True, digest=digest)


def others_could_write(info: os.stat_result) -> bool:
    """Whether anyone but this user (or root) could rewrite the file in place."""
    owner_ok = info.st_uid in {0, os.geteuid()}
    return not owner_ok or bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _open_regular(path: Path) -> BinaryIO:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise AiwsError(f"{path}: no such bundle file", GIVE_A_BUNDLE) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AiwsError(
                f"{path}: is a symlink; aiws opens a bundle only by its own name",
                "give the path of the package file itself",
            ) from None
        raise AiwsError(f"{path}: cannot open the bundle ({exc.strerror})", GIVE_A_BUNDLE) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AiwsError(f"{path}: no such bundle file (not a regular file)", GIVE_A_BUNDLE)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _private_copy(source: BinaryIO) -> tuple[BinaryIO, str]:
    """An unnamed copy in aiws's private cache and the SHA256 of exactly what it holds."""
    copy = tempfile.TemporaryFile(dir=private_cache("packages"))  # noqa: SIM115 (returned)
    digest = hashlib.sha256()
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            copy.write(chunk)
        copy.flush()
    except OSError as exc:
        copy.close()
        raise AiwsError(
            f"cannot copy the bundle into aiws's cache ({exc.strerror})",
            "free space in the cache's file system (the package is copied there once)",
        ) from None
    copy.seek(0)
    return copy, digest.hexdigest()


def _hash_from_start(stream: BinaryIO) -> str:
    stream.seek(0)
    return sha256_stream(stream)
