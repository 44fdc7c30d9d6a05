"""A package's SHA256 is remembered only while its file is unchanged."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from aiws.bundle import hashcache


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path / "cache"))


def counting() -> tuple[list[str], Callable[[BinaryIO], str]]:
    calls: list[str] = []

    def compute(stream: BinaryIO) -> str:
        calls.append(stream.name)
        stream.seek(0)
        return hashlib.sha256(stream.read()).hexdigest()

    return calls, compute


def digest(package: Path, compute: Callable[[BinaryIO], str]) -> str:
    with package.open("rb") as stream:
        return hashcache.digest(stream, compute)


def test_an_unchanged_package_is_hashed_once(tmp_path: Path) -> None:
    package = tmp_path / "bundle.tar"
    package.write_bytes(b"a" * 1000)
    calls, compute = counting()
    first = digest(package, compute)
    assert digest(package, compute) == first
    assert len(calls) == 1


def test_any_change_to_the_content_is_hashed_again_even_with_the_old_mtime(
    tmp_path: Path,
) -> None:
    package = tmp_path / "bundle.tar"
    package.write_bytes(b"a" * 1000)
    calls, compute = counting()
    first = digest(package, compute)
    stat = package.stat()
    package.write_bytes(b"b" * 1000)  # same size
    os.utime(package, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back: ctime moves
    second = digest(package, compute)
    assert second != first and second == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(calls) == 2


def test_a_package_replaced_by_another_file_is_hashed_again(tmp_path: Path) -> None:
    package = tmp_path / "bundle.tar"
    package.write_bytes(b"a")
    calls, compute = counting()
    digest(package, compute)
    other = tmp_path / "other.tar"
    other.write_bytes(b"c")
    other.replace(package)
    assert digest(package, compute) == hashlib.sha256(b"c").hexdigest()
    assert len(calls) == 2


def test_the_records_are_private(tmp_path: Path) -> None:
    package = tmp_path / "bundle.tar"
    package.write_bytes(b"a")
    digest(package, lambda stream: "x" * 64)
    (record,) = (tmp_path / "cache" / "hashes").iterdir()
    assert record.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cache" / "hashes").stat().st_mode & 0o777 == 0o700
