"""Caddy: the public side on its port; its admin API a unix socket, no TCP listener."""

from __future__ import annotations

from aiws.model.resolve import resolve_layout
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("caddy").listen
    assert listen is not None
    ports = {line.split()[3].rpartition(":")[2] for line in
             inside(sandbox, "ss", "-Hltn").splitlines()}  # fmt: skip
    assert str(listen.port) in ports
    assert "2019" not in ports  # Caddy's default admin port: aiws's admin is a socket
    admin = resolve_layout(CATALOG, CATALOG.component("caddy"))["admin"]
    assert inside(sandbox, "stat", "-c", "%F %U", admin) == "socket aiws-caddy"
