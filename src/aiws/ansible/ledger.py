"""The state ledger: what aiws created on a host, and the history of its runs.

It lives on the target (catalog `paths.ledger`) and is written only by the aiws_ledger
module, so status, upgrade and purge know exactly what is theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class UpgradeEvent(BaseModel):
    """One upgrade attempt or rollback (aiws_generations): from, to and how it ended."""

    model_config = ConfigDict(populate_by_name=True)

    component: str
    from_version: str = Field("", alias="from")
    to: str = ""
    outcome: str = ""
    run: str = ""
    reason: str = ""


class Ledger(BaseModel):
    schema_version: int = Field(1, alias="schema")
    aiws_version: str = ""
    components: dict[str, ComponentRecord] = Field(default_factory=dict)
    runs: list[RunRecord] = Field(default_factory=list)
    upgrades: list[UpgradeEvent] = Field(default_factory=list)

    def asked_versions(self) -> dict[str, tuple[str, str]]:
        """Components whose last install asked for a version they do not run: component ->
        (the version asked for, why not: how its upgrade ended)."""
        last: dict[str, UpgradeEvent] = {}
        for event in self.upgrades:
            last[event.component] = event
        asked = {}
        for name, event in last.items():
            wanted = event.from_version if event.outcome.endswith("by the operator") else event.to
            record = self.components.get(name)
            if event.outcome != "upgraded" and record is not None and record.version != wanted:
                asked[name] = (wanted, event.outcome)
        return asked

    def installs(self) -> list[RunRecord]:
        return [run for run in self.runs if run.verb == "install" and run.ok]


def parse_ledger(raw: dict[str, Any] | None) -> Ledger:
    return Ledger.model_validate(raw or {})


def run_record(
    verb: str,
    run_id: str,
    started_at: datetime,
    *,
    mode: str | None = None,
    components: Sequence[str] = (),
    phases: Sequence[PhaseTime] = (),
    outcome: RunResult | None = None,
    config: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
) -> RunRecord:
    """The one record of a run (an install or an uninstall), whichever way it reaches the
    hosts' history: given to the install's last task before the run (which completes its
    outcome, changes, phases and time with what it counted: aiws_finish), or written by
    record_run once the run is over (`outcome` given)."""
    return RunRecord(
        id=run_id,
        verb=verb,
        mode=mode,
        components=list(components),
        started_at=started_at,
        seconds=outcome.duration if outcome else 0.0,
        ok=outcome.ok if outcome else False,
        changed=outcome.changed_by_role() if outcome else {},
        phases=list(phases),
        config=config,
        request=request,
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
