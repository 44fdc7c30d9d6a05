"""A backup archive: the site's files as a tar stream, compressed and sealed, ending in a
manifest that names every member with its SHA256.

`seal` takes the plain tar the host's backup step made and writes the archive (0600, under
a temporary name, renamed into place only when complete); `unseal` reads an archive back
into a plain tar for the restore step, and raises before the caller has anything to act on
when a member differs from the manifest, one is missing or added, or the archive is damaged.
Members are regular files, directories and symbolic links with relative names: anything
else (a device, a hard link, an absolute name, `..`) is refused on both ways.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, cast

from aiws.backup.sealed import SealedError, SealingWriter, UnsealingReader
from aiws.errors import AiwsError

Json = dict[str, Any]

MANIFEST = "MANIFEST.json"
FORMAT = 1
_BLOCK = 1 << 20
CUT = AiwsError("the host's backup ended in the middle of a file", "run `aiws backup` again")
SHORT = SealedError("damaged aiws backup: a file in it ends early")
_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
}


def member_problem(member: tarfile.TarInfo) -> str:
    """Why a member may not be in a backup ("" when it may)."""
    name = PurePosixPath(member.name)
    if member.type not in _KINDS:
        return "only files, directories and symbolic links are kept"
    if name.is_absolute() or ".." in name.parts or not name.parts or name.name == MANIFEST:
        return "not a relative name inside the backup"
    return ""


def describe(member: tarfile.TarInfo, sha256: str = "") -> Json:
    """The manifest's entry for one member."""
    entry = {
        "name": member.name,
        "type": _KINDS[member.type],
        "mode": member.mode,
        "uname": member.uname,
        "gname": member.gname,
    }
    if member.issym():
        entry["link"] = member.linkname
    if member.isfile():
        entry.update(size=member.size, sha256=sha256)
    return entry


def _copy_hashed(
    source: IO[bytes] | None, size: int, error: AiwsError
) -> tuple[io.BufferedIOBase, str]:
    """A member's bytes, read once: (a file object over them, their SHA256)."""
    digest = hashlib.sha256()
    spool = _spool()
    left = size
    while left and source is not None:
        block = source.read(min(_BLOCK, left))
        if not block:
            break
        digest.update(block)
        spool.write(block)
        left -= len(block)
    if left:
        raise error
    spool.seek(0)
    return spool, digest.hexdigest()


def _spool() -> io.BufferedIOBase:
    import tempfile  # noqa: PLC0415 (only the copy of a member needs it)

    return tempfile.SpooledTemporaryFile(max_size=8 * _BLOCK)  # type: ignore[return-value]


def _members(
    stream: tarfile.TarFile, refuse: type[AiwsError], where: str
) -> Iterator[tarfile.TarInfo]:
    try:
        for member in stream:
            problem = member_problem(member)
            if problem and member.name != MANIFEST:
                raise refuse(f"{where} holds {member.name!r}, refused: {problem}")
            yield member
    except tarfile.TarError as exc:
        raise refuse(f"{where} is not a readable tar stream ({exc})") from None


def seal(payload: IO[bytes], out: Path, passphrase: bytes, manifest: Json, **sealing: int) -> Json:
    """Write the archive for `payload` (a plain tar stream) at `out`; the manifest written,
    `manifest` plus every member's entry."""
    entries: list[Json] = []
    with _atomic(out) as raw:
        writer = SealingWriter(raw, passphrase, about={"format": FORMAT}, **sealing)
        with (
            gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=1, mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as sealed,
            tarfile.open(fileobj=payload, mode="r|") as plain,
        ):
            for member in _members(plain, AiwsError, "the host's backup"):
                if member.name == MANIFEST:
                    raise AiwsError("the host's backup holds a member named like the manifest")
                data, sha256 = (None, "")
                if member.isfile():
                    data, sha256 = _copy_hashed(plain.extractfile(member), member.size, CUT)
                sealed.addfile(member, data)
                entries.append(describe(member, sha256))
            written = {**manifest, "format": FORMAT, "members": entries}
            _add_bytes(sealed, MANIFEST, json.dumps(written, indent=1, sort_keys=True).encode())
        writer.close()
    return written


def _add_bytes(stream: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    stream.addfile(info, io.BytesIO(data))


@contextlib.contextmanager
def _atomic(out: Path) -> Iterator[BinaryIO]:
    """A new file at `out`, 0600, that appears only once complete and synced."""
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(partial, flags, 0o600)
    except OSError as exc:
        raise AiwsError(
            f"cannot write the backup beside {out}: {exc.strerror}",
            "choose a directory root can write with --out",
        ) from None
    try:
        with os.fdopen(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise AiwsError(
                f"refusing to replace {out}: not a regular file", "choose another --out"
            )
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def unseal(archive: IO[bytes], passphrase: bytes, payload: IO[bytes]) -> Json:
    """Read `archive` into `payload` (a plain tar stream of every member but the manifest);
    the manifest, once every member has been checked against it."""
    reader = UnsealingReader(archive, passphrase)
    seen: list[Json] = []
    manifest: Json | None = None
    forward_only = cast("Any", reader)  # gzip reads it forward only: no seek needed
    with (
        gzip.GzipFile(fileobj=forward_only, mode="rb") as packed,
        tarfile.open(fileobj=packed, mode="r|") as sealed,
        tarfile.open(fileobj=payload, mode="w|", format=tarfile.PAX_FORMAT) as plain,
    ):
        try:
            for member in _members(sealed, SealedError, "the backup"):
                if manifest is not None:
                    raise SealedError("damaged aiws backup: members after its manifest")
                if member.name == MANIFEST:
                    manifest = _read_manifest(sealed.extractfile(member))
                    continue
                data, sha256 = (None, "")
                if member.isfile():
                    data, sha256 = _copy_hashed(sealed.extractfile(member), member.size, SHORT)
                plain.addfile(member, data)
                seen.append(describe(member, sha256))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SealedError(f"damaged aiws backup ({exc})") from None
    if manifest is None:
        raise SealedError("damaged aiws backup: it has no manifest")
    if manifest.get("members") != seen:
        raise SealedError("damaged or altered aiws backup: its members differ from its manifest")
    return manifest


def _read_manifest(source: IO[bytes] | None) -> Json:
    try:
        manifest = json.loads(source.read() if source else b"")
        ok = isinstance(manifest, dict) and manifest.get("format") == FORMAT
    except ValueError:
        ok = False
    if not ok:
        raise SealedError("aiws backup with a manifest this aiws does not read")
    return manifest  # type: ignore[no-any-return]
