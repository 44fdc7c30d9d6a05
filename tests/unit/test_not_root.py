"""Run by a user other than root, the commands that read aiws's root-only files on this host
say that root is needed (exit 2), instead of reporting nothing installed and no secrets."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    """This interpreter run as the unprivileged user `nobody` (a real process, real rights)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.fail("these tests drop to nobody with setpriv (util-linux): run them as root")
    return subprocess.run(
        [*AS_NOBODY, sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200", "HOME": "/nonexistent"},
    )


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
