"""Gather the facts the guard needs from every host of a target (changes nothing)."""

from __future__ import annotations

from aiws.catalog import Catalog
from aiws.guard import HostFacts
from aiws.hostcall import call_module
from aiws.target import Target


def gather(target: Target, catalog: Catalog) -> dict[str, HostFacts]:
    params = {
        "paths": [catalog.paths.runtime, catalog.paths.state],
        "ledger": catalog.paths.ledger,
    }
    results = call_module(target, "aiws_host_facts", params)
    return {
        host: HostFacts.model_validate(result["ansible_facts"]["aiws_host"])
        for host, result in results.items()
    }
