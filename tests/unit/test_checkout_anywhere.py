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
from pathlib import Path

import pytest

from tests.helpers.checkout import CHECKOUT, checkout_view

# The tests whose outcome depends on the checkout's place on disk.
PLACE_SENSITIVE = [
    "tests/unit/test_not_root.py",
    "tests/unit/test_ansible_env.py",
    "tests/unit/test_private_dir.py",
    "tests/unit/test_bundle_read_once.py",
]


@pytest.mark.parametrize("parent", ["/root", "/tmp"])
def test_the_place_sensitive_tests_pass_from_a_checkout_there(parent: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("binding a checkout elsewhere needs root (as the suite runs in CI)")
    if not Path(sys.executable).is_relative_to(CHECKOUT):
        pytest.skip(f"the venv ({sys.executable}) is not the checkout's own")
    with checkout_view(parent, enter=True) as view:
        env = {**os.environ, "PYTHONPATH": view.pythonpath}
        argv = [view.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PLACE_SENSITIVE]
        done = subprocess.run(
            [*view.prefix, *argv],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    summary = done.stdout.strip().splitlines()[-1:] or [done.stderr[-500:]]
    print(f"\nfrom {view.where}: {summary[0]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in summary[0] and "skipped" not in summary[0], summary
