"""Who built a bundle: an Ed25519 signature checked against a key the operator pins, or a
SHA256 the operator obtained out of band (docs/bundle.md, "Trust").

The `.sha256` beside a package only catches a damaged copy: whoever can change the package
can rewrite it too. A pin cannot be rewritten that way: `--sha256 HEX` names one exact
package; `--trust-key PUB` accepts any package signed with the matching private key.

What is signed: the ASCII bytes `aiws-bundle-sha256 <64 lowercase hex digits>\\n`, the
SHA256 of the package file's bytes; the signature is stored base64-encoded on one line in
`<package>.sig`. Signing the digest (not the gigabyte itself) lets the check reuse the hash
the package check computes anyway; the prefix keeps a bundle signature from meaning
anything else. Keys are PEM: PKCS#8 private, SubjectPublicKeyInfo public.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)

from aiws.errors import AiwsError, UsageError
from aiws.model.trust import PUBLIC_KEY, Trust, fingerprint, read_key_file

STATEMENT_PREFIX = "aiws-bundle-sha256 "
PRIVATE_KEY = "aiws-bundle-signing.key"
SIGNATURE_SUFFIX = ".sig"
FIX_SIGNATURE = "use the bundle and its .sig exactly as the key holder published them"


def statement(digest: str) -> bytes:
    """The exact bytes a bundle signature covers."""
    return f"{STATEMENT_PREFIX}{digest.lower()}\n".encode("ascii")


def signature_path(package: Path) -> Path:
    return package.with_name(package.name + SIGNATURE_SUFFIX)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = read_key_file(path, "--sign-key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):  # TypeError: a passphrase-protected key
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(
            f"--sign-key {path}: not an unencrypted Ed25519 private key (PEM)",
            f"give the {PRIVATE_KEY} written by `aiws bundle keygen`",
        )
    return key


def keygen(out_dir: Path) -> tuple[Path, Path]:
    """A new key pair in `out_dir` (created 0700): the private key 0600, the public key
    0644. Refuses (UsageError) if either file exists: a key is never overwritten."""
    private, public = out_dir / PRIVATE_KEY, out_dir / PUBLIC_KEY
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists", "choose another --out directory")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(private, pem, 0o600)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(public, pub, 0o644)
    return private, public


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never an existing file or symlink) with exactly `mode`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise UsageError(f"{path} already exists", "choose another --out directory") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # whatever the umask
        handle.write(data)


def write_signature(package: Path, digest: str, key: Ed25519PrivateKey) -> Path:
    """`<package>.sig`: the signature of the package's SHA256 statement, base64, one line."""
    path = signature_path(package)
    signature = key.sign(statement(digest))
    path.write_text(base64.b64encode(signature).decode("ascii") + "\n")
    return path


def check_signature(package: Path, digest: str, trust: Trust) -> None:
    """AiwsError unless `<package>.sig` is the pinned key's signature of `digest` (the
    package's real SHA256, just computed or remembered for this very file)."""
    assert trust.key is not None and trust.key_file is not None
    path = signature_path(package)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise AiwsError(
            f"{path.name}: missing; --trust-key needs the bundle's signature beside it "
            "(nothing was unpacked)",
            "copy the .sig with the bundle, or sign it with `aiws bundle build --sign-key`",
        ) from None
    try:
        signature = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64:
        raise AiwsError(
            f"{path.name}: not an aiws signature (one line of base64, 64 bytes)", FIX_SIGNATURE
        )
    try:
        trust.key.verify(signature, statement(digest))
    except InvalidSignature:
        raise AiwsError(
            f"{package.name}: {path.name} does not verify with {trust.key_file.name} "
            f"({fingerprint(trust.key)[:23]}...): not signed by that key, or changed since; "
            "nothing was unpacked",
            FIX_SIGNATURE,
        ) from None
