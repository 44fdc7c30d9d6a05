"""OpenClaw: its gateway on loopback only; the configuration it runs with is its own copy,
private to its account, and holds its LiteLLM key filled in (no placeholder left)."""

from __future__ import annotations

from aiws.model.resolve import resolve_layout
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG, SECRETS, listens_on_loopback_only
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    listens_on_loopback_only(sandbox, "openclaw")
    layout = resolve_layout(CATALOG, CATALOG.component("openclaw"))
    assert inside(sandbox, "stat", "-c", "%a %U", layout["config"]) == "600 aiws-openclaw"
    running = inside(sandbox, "cat", layout["config"])
    assert inside(sandbox, "cat", f"{SECRETS}/litellm-key-openclaw") in running
    assert "AIWS_SECRET" not in running
