"""The SHA256 of a package hashed before, remembered by the identity of its file.

A rerun with the same bundle should not read a gigabyte again to learn what it learnt a
minute ago. A record is keyed by device and inode and holds the size, mtime and ctime the
file had while it was hashed. The kernel moves ctime forward on every write, truncation,
chmod or rename onto the file, and only root can set the clock back, so a package whose
content changed since it was hashed never matches its record and is hashed again. The
identity is the open file's (fstat), the one every later read goes through
(aiws.bundle.package). Records live in aiws's private cache (aiws.bundle.private: as root,
a directory only root could have written; files 0600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from aiws.bundle.private import private_cache


def _identity(package: BinaryIO) -> dict[str, int]:
    info = os.fstat(package.fileno())
    return {
        "dev": info.st_dev,
        "ino": info.st_ino,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
    }


def _record_path(identity: dict[str, int]) -> Path:
    return private_cache("hashes") / f"{identity['dev']}-{identity['ino']}.json"


def digest(package: BinaryIO, compute: Callable[[BinaryIO], str]) -> str:
    """The package's SHA256: remembered when its file did not change, else computed (and
    remembered when the file did not change while it was read)."""
    before = _identity(package)
    record = _record_path(before)
    try:
        known = json.loads(record.read_text())
        if known.get("identity") == before and isinstance(known.get("sha256"), str):
            return str(known["sha256"])
    except (OSError, ValueError):
        pass
    value = compute(package)
    if _identity(package) == before:
        _remember(record, {"identity": before, "sha256": value})
    return value


def _remember(record: Path, data: dict[str, object]) -> None:
    try:
        record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = record.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        tmp.replace(record)
    except OSError:
        pass  # only a cache: the next run hashes again
