"""Each component's own check that it really works on an installed host, beyond its health
probe: one module per catalog component, named after it, with `check(sandbox)`. The
all-in-one tests run the check of every component they install (Debian 12 and 13); a new
component adds its module here (docs/adding-a-component.md), and the registry refuses a
catalog without one."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection

from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState

CATALOG = load_catalog()
Check = Callable[[SandboxState], None]
CHECKS: dict[str, Check] = {
    name: importlib.import_module(f"tests.components.{name}").check for name in CATALOG.components
}


def check_components(sandbox: SandboxState, installed: Collection[str]) -> list[str]:
    """Run the check of every installed component, in catalog order; returns their names."""
    checked = [name for name in CHECKS if name in installed]
    for name in checked:
        CHECKS[name](sandbox)
    return checked
