"""What the operator pins a bundle to (`--trust-key`, `--sha256`): part of the request, read
and checked before anything else. The signature itself is aiws.bundle.signing's."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aiws.errors import UsageError

PUBLIC_KEY = "aiws-bundle-signing.pub"
HEX64 = re.compile(r"^[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class Trust:
    """What the operator pinned for this run; nothing pinned: the `.sha256` beside only."""

    key_file: Path | None = None
    key: Ed25519PublicKey | None = field(default=None, compare=False)
    sha256: str | None = None  # lowercase hex

    @property
    def pinned(self) -> bool:
        return self.key is not None or self.sha256 is not None


def fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:<hex>` of the raw 32-byte public key: compare it out of band."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_trust(key_file: Path | None, sha256: str | None) -> Trust:
    """The pins from `--trust-key` and `--sha256`; UsageError (exit 2) on a bad one."""
    pin = None
    if sha256 is not None:
        if not HEX64.match(sha256.strip()):
            raise UsageError(
                f"--sha256 {sha256!r} is not a SHA256 (64 hex digits)",
                "give the package's SHA256 exactly as its publisher sent it",
            )
        pin = sha256.strip().lower()
    key = load_public_key(key_file) if key_file is not None else None
    return Trust(key_file=key_file, key=key, sha256=pin)


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = read_key_file(path, "--trust-key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(
            f"--trust-key {path}: not an Ed25519 public key (PEM)",
            f"give the {PUBLIC_KEY} written by `aiws bundle keygen`",
        )
    return key


def read_key_file(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file", "give the path of the key") from None
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read it ({exc.strerror})") from None
