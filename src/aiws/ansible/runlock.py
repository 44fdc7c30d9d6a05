"""One install or uninstall at a time on a controller: an exclusive lock for the whole run.

Two runs at once would interleave their changes and their ledger writes. Every `aiws install`
and `aiws uninstall` (their plans too: `--check`, `--dry-run`) holds `flock(LOCK_EX)` on
`/run/aiws/run.lock` from before the guard reads the hosts until the run is recorded.
The lock file says who holds it (pid, command, start time), so a second run can name the
holder while it waits and when it gives up.

The kernel drops a flock when the last descriptor of the holder's open file goes, also when
the holder is killed: there is no stale lock to detect or break. The descriptor is
close-on-exec, so the Ansible processes a run starts never keep it after aiws itself dies.

`/run/aiws` and not the state dir `/var/lib/aiws`: a purge deletes that directory (a run
waiting on the deleted file and a third one creating a new file would both get "the" lock),
and a plan or a no-op uninstall on a clean host must not leave a directory behind. `/run` is
writable by root only and emptied at boot. `AIWS_RUN_DIR` moves it (the test suite does).
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from aiws.errors import AiwsError, ExitCode

DEFAULT_RUN_DIR = Path("/run/aiws")
LOCK_NAME = "run.lock"
DEFAULT_WAIT_SECONDS = 60
POLL_SECONDS = 0.2
_HOLDER_BYTES = 4096


def run_dir() -> Path:
    return Path(os.environ.get("AIWS_RUN_DIR", DEFAULT_RUN_DIR))


def lock_path() -> Path:
    return run_dir() / LOCK_NAME


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as its lock file says (empty while it is still writing it)."""

    pid: int | None = None
    command: str = ""
    started_at: datetime | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "another aiws run"
        parts = [self.command or "aiws"]
        if self.started_at is not None:
            local = self.started_at.astimezone()
            same_day = local.date() == datetime.now().astimezone().date()
            parts.append(
                "started " + local.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
            )
        return f"pid {self.pid} ({', '.join(parts)})"


class LockBusy(AiwsError):
    def __init__(self, path: Path, holder: Holder, waited: float):
        waited_text = f" after waiting {waited:.0f} s" if waited > 0 else ""
        super().__init__(
            f"the run lock {path} is held by {holder.describe()}{waited_text}",
            "let that run finish, or wait longer with --wait SECONDS",
            ExitCode.USAGE,
        )
        self.holder = holder


Notify = Callable[[Holder, float], None]


@contextmanager
def run_lock(command: str, wait: float, notify: Notify | None = None) -> Iterator[None]:
    """Hold the run lock for the `with` body; wait up to `wait` seconds for it.

    While waiting, `notify(holder, seconds_left)` is called at each poll. Still held after
    `wait` seconds (0: do not wait): LockBusy (exit 2) naming the holder. A lock path that
    is a symlink, not a regular file or not root's is refused, never followed or used.
    """
    path = lock_path()
    fd = _open(path)
    try:
        started = time.monotonic()
        while not _try_lock(fd):
            left = wait - (time.monotonic() - started)
            if left <= 0:
                raise LockBusy(path, read_holder(fd), wait)
            if notify is not None:
                notify(read_holder(fd), left)
            time.sleep(min(POLL_SECONDS, left))
        _write_holder(fd, command)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a later waiter must not name this finished run
    finally:
        os.close(fd)  # releases the lock


def _open(path: Path) -> int:
    private_run_dir(path.parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(path, "is a symlink") from None
        raise _unusable(path, exc) from None
    problem = _file_problem(os.fstat(fd))
    if problem:
        os.close(fd)
        raise _refused(path, problem)
    return fd


def _file_problem(info: os.stat_result) -> str:
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != 0:
        return f"belongs to uid {info.st_uid}, not root"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    return ""


def private_run_dir(directory: Path | None = None) -> Path:
    """aiws's run directory (the lock, each run's private Ansible files): made 0700 by root
    when missing; a symlink, another owner or a directory others may write to is refused
    (they could swap what is in it)."""
    directory = directory or run_dir()
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _unusable(directory, exc) from None
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode):
        raise _refused(directory, "is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise _refused(directory, "is not a directory")
    if info.st_uid != 0:
        raise _refused(directory, f"belongs to uid {info.st_uid}, not root")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _refused(directory, "is writable by others than root")
    return directory


def _refused(path: Path, problem: str) -> AiwsError:
    return AiwsError(
        f"refusing the run lock: {path} {problem}",
        f"remove it (root's own 0700 directory {run_dir()} holds a 0600 file {LOCK_NAME})",
        ExitCode.USAGE,
    )


def _unusable(path: Path, exc: OSError) -> AiwsError:
    if isinstance(exc, PermissionError):
        return AiwsError(
            f"cannot create the run lock {path}: permission denied",
            "aiws install and uninstall need root; rerun as root",
            ExitCode.USAGE,
        )
    return AiwsError(f"cannot create the run lock {path}: {exc.strerror or exc}")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int, command: str) -> None:
    record = {"pid": os.getpid(), "command": command, "started_at": datetime.now(UTC).isoformat()}
    data = (json.dumps(record) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def read_holder(fd: int) -> Holder:
    try:
        record = json.loads(os.pread(fd, _HOLDER_BYTES, 0) or b"{}")
        pid = record.get("pid")
        started = record.get("started_at")
        return Holder(
            pid=pid if isinstance(pid, int) else None,
            command=str(record.get("command") or ""),
            started_at=datetime.fromisoformat(started) if isinstance(started, str) else None,
        )
    except (OSError, ValueError, AttributeError):
        return Holder()


class Countdown:
    """The wait, shown on stderr: one line redrawn each second on a terminal; elsewhere
    (logs, CI) a line when the wait starts and then every ten seconds."""

    EVERY = 10

    def __init__(self, console: Console):
        self.console = console
        self.shown: int | None = None

    def __call__(self, holder: Holder, left: float) -> None:
        seconds = math.ceil(left)
        if seconds == self.shown:
            return
        first = self.shown is None
        self.shown = seconds
        line = f"waiting for the run lock held by {holder.describe()} … {seconds} s"
        if self.console.is_terminal:
            self.console.file.write("\r\033[K" + line)
            self.console.file.flush()
        elif first or seconds % self.EVERY == 0:
            self.console.print(escape(line))

    def close(self) -> None:
        if self.shown is not None and self.console.is_terminal:
            self.console.file.write("\n")
            self.console.file.flush()


@contextmanager
def held(command: str, wait: float, console: Console) -> Iterator[None]:
    """run_lock for a CLI command, with the countdown on `console` (stderr)."""
    countdown = Countdown(console)
    with ExitStack() as stack:
        try:
            stack.enter_context(run_lock(command, wait, countdown))
        finally:
            countdown.close()  # the error or the run's own output starts on a line of its own
        yield
