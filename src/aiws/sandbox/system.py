"""Bounded host commands, host tool checks and process inspection through /proc."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from aiws.errors import AiwsError, UsageError

# The package that provides each host tool the sandbox needs.
TOOL_PACKAGES = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "tar": "tar",
}


def require_root() -> None:
    if os.geteuid() != 0:
        raise UsageError(
            "sandboxes need root (mounts, cgroups, namespaces)", "rerun as root, e.g. with sudo"
        )


def require_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            package = TOOL_PACKAGES[tool]
            raise UsageError(
                f"{tool} is not installed", f"apt-get install {package} (or run `make setup`)"
            )


def run(args: list[str], timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a host command with a time bound; a failure names the command and its stderr."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AiwsError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s") from None
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise AiwsError(f"`{' '.join(args)}` failed: {detail[-1] if detail else done.returncode}")
    return done


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (None if gone): tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def reap(pid: int) -> None:
    """Collect `pid` if it is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int, started: int | None = None) -> bool:
    reap(pid)
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def is_mounted(path: Path) -> bool:
    target = str(path)
    with Path("/proc/self/mountinfo").open() as mountinfo:
        return any(line.split()[4] == target for line in mountinfo)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` across processes (parallel tests, two shells)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
