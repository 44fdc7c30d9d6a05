"""`aiws status`: every component's unit, address, health and version, probed in parallel."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from aiws.catalog import Catalog, Component
from aiws.hostcall import call_module
from aiws.ledger import Ledger, parse_ledger
from aiws.target import Target


class ComponentStatus(BaseModel):
    name: str
    kind: str
    installed: bool
    version: str
    unit: str
    unit_state: str
    address: str
    public: bool
    listening: bool | None
    healthy: bool | None
    detail: str
    seconds: float

    @property
    def state(self) -> str:
        if not self.installed:
            return "not installed"
        return self.unit_state if self.unit else "installed"

    @property
    def health(self) -> str:
        if self.healthy is None:
            return "-"
        return "healthy" if self.healthy else "unhealthy"


class HostStatus(BaseModel):
    host: str
    components: list[ComponentStatus]
    ledger: Ledger

    @property
    def installed(self) -> list[ComponentStatus]:
        return [c for c in self.components if c.installed]


class StatusReport(BaseModel):
    hosts: list[HostStatus]
    seconds: float

    @property
    def healthy(self) -> bool:
        """True when every installed component on every host is healthy."""
        return all(c.healthy for h in self.hosts for c in h.installed)


def probe_spec(component: Component) -> dict[str, Any]:
    return {
        "name": component.name,
        "kind": component.kind,
        "unit": component.unit or "",
        "listen": component.listen.model_dump() if component.listen else None,
        "health": component.health.model_dump() if component.health else None,
    }


def probe(target: Target, catalog: Catalog, timeout: float = 3.0) -> StatusReport:
    started = time.monotonic()
    specs = [probe_spec(c) for c in catalog.components.values()]
    params = {"ledger": catalog.paths.ledger, "components": specs, "timeout": timeout}
    results = call_module(target, "aiws_status", params)
    hosts = []
    for host, result in sorted(results.items()):
        report = result["ansible_facts"]["aiws_status"]
        rows = [
            ComponentStatus(
                kind=catalog.components[r["name"]].kind,
                public=catalog.components[r["name"]].public,
                **{k: v for k, v in r.items() if k not in {"kind", "public"}},
            )
            for r in report["components"]
        ]
        hosts.append(HostStatus(host=host, components=rows, ledger=parse_ledger(report["ledger"])))
    return StatusReport(hosts=hosts, seconds=round(time.monotonic() - started, 3))
