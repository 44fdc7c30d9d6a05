"""The state ledger: what aiws created on a host, and the history of its runs.

It lives on the target (catalog `paths.ledger`) and is written only by the aiws_ledger
module, so status, upgrade and purge know exactly what is theirs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from aiws import __version__
from aiws.ansible.driver import RunResult
from aiws.ansible.hostcall import call_module
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.timing import PhaseTime


class ComponentRecord(BaseModel):
    version: str
    paths: list[str] = Field(default_factory=list)
    units: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    installed_at: datetime
    updated_at: datetime


class RunRecord(BaseModel):
    id: str
    verb: str
    mode: str | None = None
    components: list[str] = Field(default_factory=list)
    started_at: datetime
    seconds: float
    ok: bool
    changed: dict[str, int] = Field(default_factory=dict)  # per role
    phases: list[PhaseTime] = Field(default_factory=list)
    aiws_version: str = __version__
    config: dict[str, Any] | None = None  # the operator's configuration (installs)
    request: dict[str, Any] | None = None  # mode, only, domain, internal_ca (installs)


class Ledger(BaseModel):
    schema_version: int = Field(1, alias="schema")
    aiws_version: str = ""
    components: dict[str, ComponentRecord] = Field(default_factory=dict)
    runs: list[RunRecord] = Field(default_factory=list)

    def installs(self) -> list[RunRecord]:
        return [run for run in self.runs if run.verb == "install" and run.ok]


def parse_ledger(raw: dict[str, Any] | None) -> Ledger:
    return Ledger.model_validate(raw or {})


def run_record(
    run: RunResult,
    verb: str,
    mode: str | None,
    components: list[str],
    phases: list[PhaseTime],
) -> RunRecord:
    return RunRecord(
        id=run.run_id,
        verb=verb,
        mode=mode,
        components=components,
        started_at=run.started_at,
        seconds=run.duration,
        ok=run.ok,
        changed=run.changed_by_role(),
        phases=phases,
    )


def record_run(target: Hosts, catalog: Catalog, record: RunRecord) -> None:
    """Append a run to every host's history (bookkeeping, after the run itself)."""
    call_module(
        target,
        "aiws_ledger",
        {
            "path": catalog.paths.ledger,
            "run": record.model_dump(mode="json"),
            "aiws_version": __version__,
        },
    )
