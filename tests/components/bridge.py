"""The Bridge: its root open, everything else behind a token; every agent's socket
listening; on loopback only (Caddy is its public side)."""

from __future__ import annotations

from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG, get, listens_on_loopback_only
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("bridge").listen
    assert listen is not None
    assert get(sandbox, listen.url("/")) == (200, "xworkmate-bridge is running")
    assert get(sandbox, listen.url("/api/ping"))[0] == 401
    sockets = inside(sandbox, "systemctl", "list-unit-files", "aiws-acp-*.socket",
                     "--no-legend", "--plain").splitlines()  # fmt: skip
    assert sockets, "no agent socket"
    for line in sockets:
        unit = line.split()[0]
        assert inside(sandbox, "systemctl", "is-active", unit) == "active", unit
    listens_on_loopback_only(sandbox, "bridge")
