"""What a runtime tarball may hold, judged member by member: one rule set for the
controller's `aiws bundle verify` and the target's `aiws_unpack`.

Allowed: regular files, directories and symlinks that stay inside the tree, under a
relative path without `..` or empty components, with no setuid/setgid bit, and nothing
world-writable (a directory only with the sticky bit, as /tmp). Everything else (hardlinks,
devices, fifos, an absolute or escaping path or link) is refused by name. Names and
versions that become path components (/opt/aiws/<name>/<version>) must be one safe
component each. Stdlib only, Python 3.9 compatible (Debian 11 targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re
import stat
import tarfile
from typing import Dict, List, Optional

# One path component: no '/', not '.' or '..', not starting with '-' or '.'.
SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")
MAX_LINK_HOPS = 40  # as the kernel's limit on symlinks followed in one lookup


def safe_component(value: object) -> bool:
    """Whether `value` is a single safe path component (artifact name, version, file)."""
    return isinstance(value, str) and bool(SAFE_COMPONENT.match(value))


def member_problem(member: tarfile.TarInfo) -> Optional[str]:
    """Why `member` may not be unpacked, or None. Judged on the member alone."""
    name = member.name
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or ".." in parts or "" in parts:
        return "unsafe path"
    if member.issym():
        return "symlink leaving the tree" if link_leaves_tree(name, member.linkname) else None
    if not (member.isfile() or member.isdir()):
        return _KINDS.get(member.type, "not a file, directory or symlink")
    if member.mode & (stat.S_ISUID | stat.S_ISGID):
        return "setuid/setgid bit"
    if member.mode & stat.S_IWOTH and not (member.isdir() and member.mode & stat.S_ISVTX):
        return "world-writable" + (" without the sticky bit" if member.isdir() else "")
    return None


_KINDS = {
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "device",
    tarfile.BLKTYPE: "device",
    tarfile.FIFOTYPE: "fifo",
}


def link_leaves_tree(name: str, linkname: str) -> bool:
    """Whether a symlink `name` -> `linkname` points outside the tree, read on its own."""
    if linkname.startswith("/") or not linkname:
        return True
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name.rstrip("/")), linkname))
    return target == ".." or target.startswith("../")


def under_symlink(name: str, links: Dict[str, str]) -> bool:
    """Whether `name` lies under a symlink already seen: writing it would go through it."""
    parts = name.rstrip("/").split("/")
    return any("/".join(parts[:i]) in links for i in range(1, len(parts)))


def escaping_links(links: Dict[str, str]) -> List[str]:
    """The symlinks (name -> target) that leave the tree once other symlinks are followed
    (e.g. `x` -> `.`, `y` -> `x/..`), resolved in memory as the kernel would on disk."""
    return [name for name in sorted(links) if _resolve(name, links) is None]


def _resolve(name: str, links: Dict[str, str]) -> Optional[List[str]]:
    """The path `name` leads to inside the tree, or None if it leaves it (or loops)."""
    pending = name.rstrip("/").split("/")
    resolved: List[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS or target.startswith("/"):
            return None
        resolved.pop()
        pending = target.split("/") + pending
    return resolved
