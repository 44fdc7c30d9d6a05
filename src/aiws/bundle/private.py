"""aiws's cache, where root keeps what it will trust from a bundle (remembered hashes, the
tarballs it unpacks, a private copy of a package others could rewrite).

The cache's place comes from the environment ($AIWS_CACHE_DIR, $XDG_CACHE_HOME), which
`sudo -E` or `su` without `-` hands root from another user. Whoever owns a directory on that
path could plant a remembered hash (a pinned digest counted as checked) or a symlink (an
extraction written elsewhere). So, as root, the cache must be a directory only root could
have made: root's, 0700, no symlink, and every directory above root's and not writable by
others (a root-owned sticky directory such as /tmp is fine above). aiws makes it so when it
makes it, tightens a root-owned one to 0700, and refuses any other in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiws.errors import AiwsError, ExitCode
from aiws.module_utils.aiws_common import private_dir_problem
from aiws.resources import cache_root


def private_cache(sub: str) -> Path:
    """`<cache>/<sub>`, made 0700 or checked, under a cache root checked the same way."""
    root = cache_root()
    for path in (root, root / sub):
        _make_private(path)
    return root / sub


def _make_private(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise AiwsError(f"cannot make aiws's cache {path}: {exc.strerror}", FIX) from None
    if os.geteuid() != 0:
        return  # another user's cache risks only that user
    _tighten(path)
    problem: str = private_dir_problem(str(path))  # type: ignore[no-untyped-call]
    if problem:
        raise AiwsError(f"refusing aiws's cache {path}: {problem}", FIX, ExitCode.USAGE)


def _tighten(path: Path) -> None:
    """A root-owned directory made before aiws kept its cache private: 0700 (through a
    descriptor of the directory itself, never a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return  # a symlink or not a directory: the check below names it
    try:
        info = os.fstat(fd)
        if info.st_uid == 0 and info.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


FIX = (
    "unset AIWS_CACHE_DIR and XDG_CACHE_HOME (or use `sudo -i`), or point them at a "
    "directory only root can write"
)
