"""QMD: its index timer armed; on loopback only."""

from __future__ import annotations

from aiws.sandbox.state import SandboxState
from tests.components.common import listens_on_loopback_only
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    assert inside(sandbox, "systemctl", "is-active", "aiws-qmd-index.timer") == "active"
    listens_on_loopback_only(sandbox, "qmd")
