"""`aiws status`: every component's unit, address, health and version, probed in parallel."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from aiws.ansible.hostcall import call_module
from aiws.ansible.ledger import Ledger, parse_ledger
from aiws.model.catalog import Catalog, Component
from aiws.model.config import served_models
from aiws.model.hosts import Hosts
from aiws.model.resolve import health_spec


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
    models: list[str] = Field(default_factory=list)  # LiteLLM: the model names it serves
    sessions: int | None = None  # the Bridge: sessions open now (None: not counted)
    # The version the last install asked for when it runs another (its upgrade was rolled
    # back, or the operator rolled it back), and how that upgrade ended.
    asked: str | None = None
    asked_outcome: str | None = None

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
        "socket": component.socket.model_dump() if component.socket else None,
        "health": health_spec(component),
        "sessions": component.sessions or "",
    }


def probe_specs(catalog: Catalog) -> list[dict[str, Any]]:
    return [probe_spec(c) for c in catalog.components.values()]


def probe(target: Hosts, catalog: Catalog, timeout: float = 3.0) -> StatusReport:
    started = time.monotonic()
    params = {
        "ledger": catalog.paths.ledger,
        "components": probe_specs(catalog),
        "timeout": timeout,
    }
    results = call_module(target, "aiws_status", params)
    reports = {host: result["ansible_facts"]["aiws_status"] for host, result in results.items()}
    return report_of(reports, catalog, time.monotonic() - started)


def report_of(reports: dict[str, dict[str, Any]], catalog: Catalog, seconds: float) -> StatusReport:
    """The StatusReport of each host's aiws_status result (ad hoc, or the install's last task)."""
    hosts = []
    for host, report in sorted(reports.items()):
        ledger = parse_ledger(report["ledger"])
        asked = ledger.asked_versions()
        rows = [
            ComponentStatus(
                kind=catalog.components[r["name"]].kind,
                public=catalog.components[r["name"]].public,
                models=_served_models(ledger) if r["name"] == "litellm" and r["installed"] else [],
                asked=asked.get(r["name"], (None, None))[0],
                asked_outcome=asked.get(r["name"], (None, None))[1],
                **{k: v for k, v in r.items() if k not in {"kind", "public"}},
            )
            for r in report["components"]
        ]
        hosts.append(HostStatus(host=host, components=rows, ledger=ledger))
    return StatusReport(hosts=hosts, seconds=round(seconds, 3))


def _served_models(ledger: Ledger) -> list[str]:
    """The models LiteLLM serves: the configuration of the last install that included it."""
    for run in reversed(ledger.installs()):
        if "litellm" in run.components and run.config is not None:
            return served_models(run.config)
    return []
