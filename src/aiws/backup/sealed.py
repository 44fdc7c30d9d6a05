"""A sealed stream: what `aiws backup` writes, encrypted and authenticated chunk by chunk.

Layout of a sealed file:

    MAGIC | header length (4 bytes, big-endian) | header (JSON) | chunk...
    chunk = ciphertext length (4 bytes, big-endian) | AES-256-GCM ciphertext and tag

The key comes from the passphrase through scrypt (its salt and cost in the header); a second
key derived with it is kept in the header only as a hash, so a wrong passphrase is told
apart from a damaged file before anything is decrypted. Each chunk's nonce is the header's
random prefix, the chunk's number and a last-chunk flag, and the magic and header are the
associated data of every chunk: a changed header, a chunk changed, moved, dropped or added,
and a file cut short (no chunk marked last) all fail authentication. Nothing read is handed
on before its chunk has been authenticated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from aiws.errors import AiwsError, ExitCode

Json = dict[str, Any]

MAGIC = b"AIWS-SEALED\x00v1\n\x00\x00"
CHUNK = 1 << 20
SCRYPT_N = 1 << 17  # 128 MiB and about half a second on the 2-core machine
SCRYPT_R = 8
MIN_SCRYPT_N = 1 << 14
MAX_SCRYPT_N = 1 << 20  # a forged header must not make a reader spend gigabytes
MAX_HEADER = 64 * 1024
PREFIX_BYTES = 7
TAG_BYTES = 16
_LENGTH = struct.Struct(">I")
_CHECK_LABEL = b"aiws sealed key check"


class SealedError(AiwsError):
    """A sealed file that cannot be opened: exit 2, nothing was changed by reading it."""

    def __init__(self, problem: str, fix: str = ""):
        super().__init__(problem, fix, ExitCode.USAGE)


def _keys(passphrase: bytes, salt: bytes, n: int) -> tuple[bytes, bytes]:
    derived = Scrypt(salt=salt, length=64, n=n, r=SCRYPT_R, p=1).derive(passphrase)
    return derived[:32], hashlib.sha256(_CHECK_LABEL + derived[32:]).digest()


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class SealingWriter:
    """A write-only file object that seals what is written into `raw`; `close()` writes the
    last chunk (and must be called: a sealed file without it reads as cut short)."""

    def __init__(
        self,
        raw: IO[bytes],
        passphrase: bytes,
        *,
        about: Json | None = None,
        scrypt_n: int = SCRYPT_N,
    ):
        if not passphrase:
            raise SealedError("an empty passphrase cannot seal a backup", "give a passphrase")
        salt, self._prefix = os.urandom(16), os.urandom(PREFIX_BYTES)
        key, check = _keys(passphrase, salt, scrypt_n)
        header = {
            "format": 1,
            "cipher": "AES-256-GCM",
            "kdf": {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": 1, "salt": _b64(salt)},
            "key_check": _b64(check),
            "nonce_prefix": _b64(self._prefix),
            "chunk": CHUNK,
            "about": about or {},
        }
        encoded = json.dumps(header, sort_keys=True).encode()
        self._aad = MAGIC + _LENGTH.pack(len(encoded)) + encoded
        self._raw, self._aead = raw, AESGCM(key)
        self._buffer = bytearray()
        self._number = 0
        self._closed = False
        raw.write(self._aad)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed sealing writer")
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep one chunk back: the last one is marked
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True
            self._raw.flush()

    def _seal(self, plain: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._number, last), plain, self._aad)
        self._raw.write(_LENGTH.pack(len(sealed)) + sealed)
        self._number += 1


def read_header(raw: IO[bytes]) -> tuple[Json, bytes]:
    """The header of a sealed file, and the bytes every chunk authenticates."""
    magic = raw.read(len(MAGIC))
    if magic != MAGIC:
        raise SealedError("not an aiws backup (its first bytes are not an aiws sealed file)")
    length = _read_length(raw, "header")
    if length > MAX_HEADER:
        raise SealedError("damaged aiws backup: its header is too long")
    encoded = _read_exactly(raw, length, "header")
    try:
        header = json.loads(encoded)
        kdf = header["kdf"]
        ok = (
            header["format"] == 1
            and kdf["name"] == "scrypt"
            and kdf["r"] == SCRYPT_R
            and kdf["p"] == 1
            and MIN_SCRYPT_N <= kdf["n"] <= MAX_SCRYPT_N
            and header["chunk"] == CHUNK
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise SealedError(
            "damaged aiws backup, or one made by another aiws: its header is "
            "not one this aiws reads"
        )
    return header, MAGIC + _LENGTH.pack(length) + encoded


class UnsealingReader:
    """A read-only file object over a sealed file: plaintext, each chunk authenticated first."""

    def __init__(self, raw: IO[bytes], passphrase: bytes):
        header, self._aad = read_header(raw)
        self.about: Json = header.get("about") or {}
        try:
            kdf = header["kdf"]
            salt = base64.b64decode(kdf["salt"], validate=True)
            prefix = base64.b64decode(header["nonce_prefix"], validate=True)
            expected = base64.b64decode(header["key_check"], validate=True)
        except (ValueError, KeyError, TypeError):
            raise SealedError("damaged aiws backup: its header is not readable") from None
        if len(prefix) != PREFIX_BYTES:
            raise SealedError("damaged aiws backup: its header is not readable")
        key, check = _keys(passphrase, salt, kdf["n"])
        if not hmac.compare_digest(check, expected):
            raise SealedError(
                "wrong passphrase for this backup", "give the passphrase the backup was made with"
            )
        self._raw, self._aead, self._prefix = raw, AESGCM(key), prefix
        self._plain = b""
        self._number = 0
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._plain) < size):
            self._plain += self._next_chunk()
        if size < 0:
            size = len(self._plain)
        out, self._plain = self._plain[:size], self._plain[size:]
        return out

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        length = _read_length(self._raw, "data")
        if not TAG_BYTES <= length <= CHUNK + TAG_BYTES:
            raise SealedError(DAMAGED)
        sealed = _read_exactly(self._raw, length, "data")
        for last in (False, True):
            try:
                plain = self._aead.decrypt(
                    _nonce(self._prefix, self._number, last), sealed, self._aad
                )
            except InvalidTag:
                continue
            self._number += 1
            if last:
                self._done = True
                if self._raw.read(1):
                    raise SealedError(DAMAGED + " (bytes after its end)")
            return plain
        raise SealedError(DAMAGED)


DAMAGED = "damaged or altered aiws backup: a part of it fails authentication"


def _read_length(raw: IO[bytes], what: str) -> int:
    value: int = _LENGTH.unpack(_read_exactly(raw, _LENGTH.size, what))[0]
    return value


def _read_exactly(raw: IO[bytes], size: int, what: str) -> bytes:
    data = raw.read(size)
    if len(data) != size:
        raise SealedError(
            f"aiws backup cut short (its {what} ends early)", "copy the whole file again"
        )
    return data
