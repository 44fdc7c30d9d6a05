"""A backup's passphrase: from a file, from stdin, or asked on the terminal; never argv (a
command line is readable by every local user through /proc)."""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path

from aiws.errors import UsageError

MIN_NEW = 12  # a new backup's passphrase: it guards every secret of the site
MAX_BYTES = 4096
HOW = "give --passphrase-file FILE or --passphrase-stdin, or run it on a terminal"


def read_passphrase(file: Path | None, from_stdin: bool, *, new: bool) -> bytes:
    """The passphrase, without its line end; `new`: a backup's, asked twice on a terminal
    and at least MIN_NEW characters."""
    if file is not None and from_stdin:
        raise UsageError("--passphrase-file and --passphrase-stdin both given", "give one")
    if file is not None:
        value = _from_file(file)
    elif from_stdin:
        value = _strip(sys.stdin.buffer.read(MAX_BYTES + 1))
    else:
        value = _from_terminal(new)
    if len(value) > MAX_BYTES:
        raise UsageError(f"the passphrase is longer than {MAX_BYTES} bytes", "use a shorter one")
    if not value:
        raise UsageError("the passphrase is empty", HOW)
    if new and len(value.decode(errors="replace")) < MIN_NEW:
        raise UsageError(
            f"the passphrase is shorter than {MIN_NEW} characters",
            "a backup holds every secret of the site: choose a longer one",
        )
    return value


def _strip(raw: bytes) -> bytes:
    return raw[:-1] if raw.endswith(b"\n") else raw


def _from_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read the passphrase file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        seen = os.fstat(handle.fileno())
        if not stat.S_ISREG(seen.st_mode):
            raise UsageError(f"the passphrase file {path} is not a regular file")
        if seen.st_mode & 0o077:
            raise UsageError(
                f"the passphrase file {path} is readable or writable by others",
                f"chmod 600 {path}",
            )
        return _strip(handle.read(MAX_BYTES + 1))


def _from_terminal(new: bool) -> bytes:
    if not sys.stdin.isatty():
        raise UsageError("no passphrase given and no terminal to ask on", HOW)
    try:
        value = getpass.getpass("Backup passphrase: ")
        if new and getpass.getpass("Again: ") != value:
            raise UsageError("the two passphrases differ", "run it again")
    except (EOFError, KeyboardInterrupt):
        raise UsageError("no passphrase given", HOW) from None
    return value.encode()
