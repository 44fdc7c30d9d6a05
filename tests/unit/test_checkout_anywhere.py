"""The suite does not depend on where it is cloned: the tests that look at the ownership and
permissions of the checkout's own paths pass from a checkout under /root (root's 0700 home:
no other user can reach it) and under /tmp (a root-owned directory in a sticky, world-
writable parent), as they do from /srv.

Each place is a view of this very checkout, bound at a new directory there inside a private
mount namespace (nothing is copied, nothing outside the namespace sees it), and the tests
run from that path with the checkout's venv, as a clone there would run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
# The tests whose outcome depends on the checkout's place on disk.
PLACE_SENSITIVE = [
    "tests/unit/test_not_root.py",
    "tests/unit/test_ansible_env.py",
    "tests/unit/test_private_dir.py",
    "tests/unit/test_bundle_read_once.py",
]
RUN_THERE = 'mount --bind "$0" "$1" && cd "$1" && shift && exec "$@"'


@pytest.mark.parametrize(("parent", "mode"), [("/root", 0o755), ("/tmp", 0o755)])
def test_the_place_sensitive_tests_pass_from_a_checkout_there(parent: str, mode: int) -> None:
    if os.geteuid() != 0:
        pytest.fail("binding a checkout elsewhere needs root (as the suite runs in CI)")
    python = Path(sys.executable)
    if not python.is_relative_to(CHECKOUT):
        pytest.skip(f"the venv ({python}) is not the checkout's own")
    there = Path(tempfile.mkdtemp(prefix="aiws-checkout-", dir=parent))
    try:
        there.chmod(mode)
        env = {**os.environ, "PYTHONPATH": f"{there}/src:{there}/bridge/src"}
        argv = [str(there / python.relative_to(CHECKOUT)), "-m", "pytest", "-q",
                "-p", "no:cacheprovider", *PLACE_SENSITIVE]  # fmt: skip
        bind = ["unshare", "--mount", "--propagation", "private", "sh", "-c", RUN_THERE]
        done = subprocess.run(
            [*bind, str(CHECKOUT), str(there), *argv],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    finally:
        there.rmdir()  # the bind mount went with its namespace: the directory is empty
    summary = done.stdout.strip().splitlines()[-1:] or [done.stderr[-500:]]
    print(f"\nfrom {there}: {summary[0]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in summary[0] and "skipped" not in summary[0], summary
