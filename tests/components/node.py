"""Node: the bundle's binary runs on the host and is the catalog's version."""

from __future__ import annotations

from aiws.model.resolve import resolve_layout
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    node = CATALOG.component("node")
    binary = resolve_layout(CATALOG, node)["binary"]
    assert inside(sandbox, binary, "--version") == f"v{node.version}"
    assert inside(sandbox, binary, "-e", "console.log(6 * 7)") == "42"
