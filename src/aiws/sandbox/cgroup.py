"""Per-sandbox cgroup dirs, so that every container's units live in a tree of their own.

Without them all containers share the launcher's cgroup and their units collide. The
host has no systemd, so aiws creates the dirs itself in every hierarchy systemd uses:
the named v1 `systemd` hierarchy and the v2 `unified` one (hybrid layout), or the one v2
tree (unified layout).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from pathlib import Path

from aiws.errors import AiwsError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "aiws-sandbox"
RMDIR_WAIT_SECONDS = 10


def hierarchies(root: Path = CGROUP_ROOT) -> list[Path]:
    """The hierarchies systemd needs on this host, per its cgroup layout."""
    if (root / "cgroup.controllers").is_file():
        return [root]
    hybrid = [root / "systemd", root / "unified"]
    if all((h / "cgroup.procs").is_file() for h in hybrid):
        return hybrid
    raise AiwsError(
        f"no systemd cgroup hierarchy under {root} (neither unified nor hybrid layout)",
        "mount cgroup2 on /sys/fs/cgroup, or cgroup2 on unified and name=systemd on systemd",
    )


def dirs_for(name: str) -> list[Path]:
    return [h / PARENT / name for h in hierarchies()]


def create(dirs: list[Path]) -> None:
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)


def enter_then_exec(dirs: list[Path], command: list[str]) -> list[str]:
    """`command`, wrapped so that it starts inside `dirs`: the shell moves itself, then execs.

    Moving the process only after it started would race with nspawn's first fork.
    """
    script = 'for procs in "$@"; do echo $$ > "$procs"; done; exec ' + shlex.join(command)
    return ["sh", "-c", script, "sh", *(str(path / "cgroup.procs") for path in dirs)]


def pids(dirs: list[Path]) -> set[int]:
    found: set[int] = set()
    for path in dirs:
        for procs in path.rglob("cgroup.procs") if path.is_dir() else []:
            try:
                found.update(int(pid) for pid in procs.read_text().split())
            except (FileNotFoundError, OSError):
                continue
    return found


def kill_all(dirs: list[Path]) -> None:
    for pid in pids(dirs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def remove(dirs: list[Path]) -> None:
    """rmdir every dir of the trees, deepest first; waits briefly for exiting processes."""
    deadline = time.monotonic() + RMDIR_WAIT_SECONDS
    for top in dirs:
        while top.is_dir():
            try:
                _rmdir_tree(top)
            except OSError:
                if time.monotonic() > deadline:
                    raise AiwsError(
                        f"cgroup {top} is still busy",
                        "find its processes in cgroup.procs and kill them",
                    ) from None
                time.sleep(0.1)
        _remove_if_empty(top.parent)


def _remove_if_empty(parent: Path) -> None:
    with contextlib.suppress(OSError):  # another sandbox still lives there
        parent.rmdir()


def _rmdir_tree(top: Path) -> None:
    subdirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts))
    for path in reversed(subdirs):
        path.rmdir()
    top.rmdir()
