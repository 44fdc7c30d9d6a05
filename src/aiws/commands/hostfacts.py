"""Gather the facts the guard needs from every host of a target (changes nothing)."""

from __future__ import annotations

from typing import Any

from aiws import __version__
from aiws.ansible.hostcall import call_module
from aiws.guard.checks import HostFacts
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolve_layout


def gather(
    target: Hosts, catalog: Catalog, artifacts: list[dict[str, Any]] | None = None
) -> dict[str, HostFacts]:
    """Each host's facts; `artifacts` ({name, dest}) also reads their unpack markers."""
    params = {
        "paths": [catalog.paths.runtime, catalog.paths.state],
        "ledger": catalog.paths.ledger,
        "secrets_dir": catalog.paths.secrets,
        "artifacts": artifacts or [],
        "layout": catalog.layout(),
        "aiws_version": __version__,
        "bridge_tokens": bridge_tokens_file(catalog),
    }
    results = call_module(target, "aiws_host_facts", params)
    return {
        host: HostFacts.model_validate(result["ansible_facts"]["aiws_host"])
        for host, result in results.items()
    }


def bridge_tokens_file(catalog: Catalog) -> str:
    """The Bridge's tokens file, from the catalog ("" when it has no Bridge)."""
    bridge = catalog.components.get("bridge")
    return resolve_layout(catalog, bridge).get("tokens", "") if bridge is not None else ""
