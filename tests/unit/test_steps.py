"""The ordered steps of one host scenario (marked `steps`): a failed step skips the later
ones, naming it (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.bundles import PROJECT

SCENARIO = """
import pytest

@pytest.mark.steps
def test_install(): pass

@pytest.mark.steps
def test_rerun(): assert False, "changed=1"

@pytest.mark.steps
def test_purge(): pass

def test_unrelated(): pass
"""


def test_a_failed_step_skips_the_later_ones_naming_it(tmp_path: Path) -> None:
    (tmp_path / "test_scenario.py").write_text(SCENARIO)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.conftest", "-p",
         "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_scenario.py")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "1 failed, 2 passed, 1 skipped" in done.stdout, done.stdout[-2000:]
    assert "an earlier step of this scenario failed: test_rerun" in done.stdout
