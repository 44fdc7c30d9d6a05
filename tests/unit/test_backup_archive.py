"""The backup archive: what is sealed reads back exactly, and nothing else reads at all.

Every way an archive can go wrong on its way to a restore (wrong passphrase, a byte changed,
chunks moved or dropped, the file cut short or grown, a manifest that lies, a member that
would land outside the restore) is refused with an error before the caller gets a manifest.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
from pathlib import Path

import pytest

from aiws.backup import sealed as sealed_mod
from aiws.backup.archive import MANIFEST, seal, unseal
from aiws.backup.sealed import CHUNK, MAGIC, SealedError, SealingWriter, read_header
from aiws.errors import AiwsError, ExitCode

PASS = b"correct horse battery staple"
FAST = {"scrypt_n": sealed_mod.MIN_SCRYPT_N}
BIG = os.urandom(CHUNK * 2 + 12345)  # incompressible: the archive spans several chunks


def _plain_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **extra: object):
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def _site() -> io.BytesIO:
    secret = b"vault-unseal-key\n"
    return _plain_tar(
        [
            (_info("files/etc/aiws", tarfile.DIRTYPE, mode=0o700), None),
            (_info("files/etc/aiws/secret", size=len(secret), mode=0o600, uname="root"), secret),
            (
                _info(
                    "files/var/lib/aiws-openclaw/state.bin",
                    size=len(BIG),
                    uname="aiws-openclaw",
                    gname="aiws-openclaw",
                    mode=0o640,
                ),
                BIG,
            ),
            (
                _info("files/var/lib/aiws-openclaw/latest", tarfile.SYMTYPE, linkname="state.bin"),
                None,
            ),
            (_info("postgresql/litellm.dump", size=0), b""),
        ]
    )


def _members(payload: io.BytesIO) -> list[tuple[str, int, str, str, bytes]]:
    payload.seek(0)
    with tarfile.open(fileobj=payload, mode="r") as tar:
        return [
            (m.name, m.mode, m.uname, m.linkname, tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    out = tmp_path / "site.aiws-backup"
    seal(_site(), out, PASS, {"host": "box1"}, **FAST)
    return out


def _unseal(path: Path, passphrase: bytes = PASS) -> dict:
    with path.open("rb") as raw:
        return unseal(raw, passphrase, io.BytesIO())


def test_what_is_sealed_reads_back_exactly(archive: Path):
    payload = io.BytesIO()
    with archive.open("rb") as raw:
        manifest = unseal(raw, PASS, payload)
    assert _members(payload) == _members(_site())
    assert manifest["host"] == "box1"
    entries = {entry["name"]: entry for entry in manifest["members"]}
    state = entries["files/var/lib/aiws-openclaw/state.bin"]
    assert state["size"] == len(BIG) and state["uname"] == "aiws-openclaw"
    assert state["sha256"] == __import__("hashlib").sha256(BIG).hexdigest()
    assert entries["files/var/lib/aiws-openclaw/latest"]["link"] == "state.bin"
    assert len(archive.read_bytes()) < len(BIG) + 64 * 1024


def test_the_archive_is_root_only_and_written_whole(archive: Path, tmp_path: Path):
    assert archive.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]
    assert PASS not in archive.read_bytes() and b"vault-unseal-key" not in archive.read_bytes()


def test_a_failed_backup_leaves_no_file(tmp_path: Path):
    out = tmp_path / "site.aiws-backup"
    device = _info("files/dev/sda", tarfile.BLKTYPE)
    with pytest.raises(AiwsError, match="refused: only files, directories"):
        seal(_plain_tar([(device, None)]), out, PASS, {}, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_at_the_output_is_not_followed(tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_text("kept")
    (tmp_path / "out").symlink_to(target)
    with pytest.raises(AiwsError, match="not a regular file"):
        seal(_site(), tmp_path / "out", PASS, {}, **FAST)
    assert target.read_text() == "kept"


def test_the_default_cost_reads_back(tmp_path: Path):
    out = tmp_path / "a"
    seal(_plain_tar([]), out, PASS, {})
    header, _ = read_header(out.open("rb"))
    assert header["kdf"]["n"] == sealed_mod.SCRYPT_N
    assert _unseal(out)["members"] == []


def test_a_wrong_passphrase_is_named(archive: Path):
    with pytest.raises(SealedError, match="wrong passphrase") as caught:
        _unseal(archive, b"correct horse battery stapler")
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_empty_passphrase_seals_nothing(tmp_path: Path):
    with pytest.raises(SealedError, match="empty passphrase"):
        seal(_site(), tmp_path / "a", b"", {}, **FAST)
    assert list(tmp_path.iterdir()) == []


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """(magic and header, each chunk with its length)."""
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    offset = len(MAGIC) + 4 + length
    head, chunks = data[:offset], []
    while offset < len(data):
        (size,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append(data[offset : offset + 4 + size])
        offset += 4 + size
    return head, chunks


def _damaged(archive: Path, data: bytes, match: str) -> None:
    archive.write_bytes(data)
    with pytest.raises(SealedError, match=match):
        _unseal(archive)


def test_every_changed_byte_is_caught(archive: Path):
    data = archive.read_bytes()
    head, chunks = _chunks(data)
    assert len(chunks) >= 3
    for offset in (len(head) + 10, len(head) + len(chunks[0]) + 100, len(data) - 1):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        _damaged(archive, bytes(changed), "damaged or altered")


def test_a_changed_header_is_caught(archive: Path):
    data = archive.read_bytes()
    head, _ = _chunks(data)
    header = json.loads(head[len(MAGIC) + 4 :])
    header["about"] = {"format": 1, "note": "x"}
    encoded = json.dumps(header, sort_keys=True).encode()
    forged = MAGIC + struct.pack(">I", len(encoded)) + encoded + data[len(head) :]
    _damaged(archive, forged, "damaged or altered")
    header["kdf"]["n"] = 1 << 30
    encoded = json.dumps(header).encode()
    forged = MAGIC + struct.pack(">I", len(encoded)) + encoded + data[len(head) :]
    _damaged(archive, forged, "header is not one this aiws reads")


def test_moved_dropped_and_added_chunks_are_caught(archive: Path):
    head, chunks = _chunks(archive.read_bytes())
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    _damaged(archive, head + b"".join(swapped), "damaged or altered")
    _damaged(archive, head + b"".join([chunks[0], *chunks[2:]]), "damaged or altered")
    _damaged(archive, head + b"".join([*chunks, chunks[-1]]), "bytes after its end")
    _damaged(archive, head + b"".join([*chunks]) + b"\0", "bytes after its end")


@pytest.mark.parametrize("keep", [5, len(MAGIC) + 2, 300, -1, -17])
def test_a_file_cut_short_is_caught(archive: Path, keep: int):
    data = archive.read_bytes()
    _damaged(archive, data[:keep], "cut short|not an aiws backup|damaged")


def test_cut_at_a_chunk_boundary_is_caught(archive: Path):
    head, chunks = _chunks(archive.read_bytes())
    _damaged(archive, head + b"".join(chunks[:-1]), "cut short")


def test_something_else_is_not_a_backup(tmp_path: Path):
    other = tmp_path / "other"
    other.write_bytes(b"PK\x03\x04 not ours" * 10)
    with pytest.raises(SealedError, match="not an aiws backup"):
        _unseal(other)


def _forge(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """An archive sealed with the right passphrase whose content is made up by hand."""
    import gzip

    with path.open("wb") as raw:
        writer = SealingWriter(raw, PASS, **FAST)
        with gzip.GzipFile(fileobj=writer, mode="wb") as packed:  # type: ignore[call-overload]
            packed.write(_plain_tar(members).getvalue())
        writer.close()


def _manifest(members: list[dict]) -> tuple[tarfile.TarInfo, bytes]:
    data = json.dumps({"format": 1, "members": members}).encode()
    return _info(MANIFEST, size=len(data)), data


def test_a_manifest_that_lies_is_caught(tmp_path: Path):
    out = tmp_path / "a"
    member = _info("files/x", size=3, mode=0o644)
    entry = {
        "name": "files/x",
        "type": "file",
        "mode": 0o644,
        "uname": "",
        "gname": "",
        "size": 3,
        "sha256": "0" * 64,
    }
    _forge(out, [(member, b"abc"), _manifest([entry])])
    with pytest.raises(SealedError, match="members differ from its manifest"):
        _unseal(out)
    _forge(out, [(member, b"abc")])
    with pytest.raises(SealedError, match="has no manifest"):
        _unseal(out)
    _forge(out, [_manifest([]), (member, b"abc")])
    with pytest.raises(SealedError, match="members after its manifest"):
        _unseal(out)


@pytest.mark.parametrize(
    "member",
    [
        _info("/etc/passwd", size=1),
        _info("files/../../etc/passwd", size=1),
        _info("files/link", tarfile.LNKTYPE, linkname="/etc/shadow"),
        _info("files/dev", tarfile.CHRTYPE),
    ],
    ids=["absolute", "dotdot", "hardlink", "device"],
)
def test_members_that_could_land_elsewhere_are_refused(tmp_path: Path, member):
    out = tmp_path / "a"
    data = b"x" if member.size else None
    _forge(out, [(member, data), _manifest([])])
    with pytest.raises(SealedError, match="refused"):
        _unseal(out)
    with pytest.raises(AiwsError, match="refused"):
        seal(_plain_tar([(member, data)]), tmp_path / "b", PASS, {}, **FAST)
    assert not (tmp_path / "b").exists()
