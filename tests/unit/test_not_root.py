"""Run by a user other than root, the commands that read aiws's root-only files on this host
say that root is needed (exit 2), instead of reporting nothing installed and no secrets."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.checkout import CHECKOUT, checkout_view

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    """This interpreter run as the unprivileged user `nobody` (a real process, real rights).

    A checkout nobody cannot reach (e.g. under root's 0700 home) is shown to that process
    at a private path of its own mount namespace, bound read-only: the rights tested are
    still nobody's own on every file aiws looks at."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.fail("these tests drop to nobody with setpriv (util-linux): run them as root")
    env = {**os.environ, "COLUMNS": "200", "HOME": "/nonexistent"}
    with contextlib.ExitStack() as stack:
        prefix, python = [], sys.executable
        if not reachable_by_others(CHECKOUT / "src" / "aiws" / "__init__.py"):
            view = stack.enter_context(checkout_view(read_only=True))
            prefix, python = view.prefix, view.python
            env["PYTHONPATH"] = view.pythonpath
        return subprocess.run(
            [*prefix, *AS_NOBODY, python, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd="/",
            stdin=subprocess.DEVNULL,
            env=env,
        )


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owners can read `path` (every directory above it
    searchable by others, the file readable by others)."""
    if not path.stat().st_mode & stat.S_IROTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["status"], "aiws status"),
        (["status", "--all", "--json"], "aiws status"),
        (["secrets", "list"], "aiws secrets list"),
        (["secrets", "list", "--json"], "aiws secrets list"),
        (["secrets", "show", "vault-root-token"], "aiws secrets show"),
    ],
)
def test_a_user_other_than_root_is_told_that_root_is_needed(args: list[str], command: str) -> None:
    result = as_nobody("-m", "aiws", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {command} needs root: aiws's ledger and secrets on this host are root's; "
        f"rerun as root, e.g. sudo {command}"
    ]


CHECK_SECRET = """
import sys
from aiws.module_utils.aiws_common import Failure
from aiws.module_utils.aiws_secrets import exists
try:
    print(exists(sys.argv[1]))
except Failure as exc:
    print("refused:", exc)
"""


def test_a_secret_it_may_not_look_at_is_not_reported_absent() -> None:
    """/root is root's own 0700 home: behind it nobody cannot tell a file from no file."""
    assert not stat.S_IMODE(Path("/root").stat().st_mode) & 0o001, "/root must be 0700"
    path = "/root/aiws-no-such-secret"
    result = as_nobody("-c", CHECK_SECRET, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"refused: cannot check the secret {path}: permission denied (aiws runs as root)"
    )
