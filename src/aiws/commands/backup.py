"""`aiws backup`: the site sealed into one archive (docs/backup.md).

The host writes a plain tar of what the site keeps (aiws_backup: each database dumped by
pg_dump, configuration, state, secrets, the ledger) into aiws's private cache; it is sealed
from there into the archive (aiws.backup.archive) and deleted, whatever happens. The run is
recorded in the ledger (verb `backup`, with the archive's path, size and SHA256), which is
what `aiws backup --list` reads. aiws runs on the host it backs up.
"""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiws import __version__
from aiws.ansible import driver
from aiws.ansible.hostcall import call_module
from aiws.ansible.ledger import RunRecord, parse_ledger, record_run, run_record
from aiws.backup.archive import seal
from aiws.bundle.private import private_cache
from aiws.commands import hostfacts
from aiws.errors import UsageError
from aiws.guard.checks import HostFacts
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import fill, resolve_layout, template_values

ARCHIVE_SUFFIX = ".aiws-backup"
WORKSPACES_OWNER = "bridge"


@dataclass
class BackupOutcome:
    path: Path
    size: int
    sha256: str
    seconds: float
    manifest: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        members = self.manifest["members"]
        return {
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 2),
            "databases": self.manifest["databases"],
            "sqlite": self.manifest["sqlite"],
            "files": sum(1 for m in members if m["type"] == "file"),
            "not_kept": self.manifest["not_kept"],
        }


def default_out(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"aiws-{socket.gethostname()}-{stamp}{ARCHIVE_SUFFIX}"


def not_kept(catalog: Catalog, with_workspaces: bool) -> list[dict[str, str]]:
    """Every path the backup leaves out, filled in, with why."""
    items = []
    for component in catalog.components.values():
        if with_workspaces and component.name == WORKSPACES_OWNER:
            workspaces = resolve_layout(catalog, component).get("workspaces")
        else:
            workspaces = None
        values = template_values(catalog, component)
        for item in component.not_kept:
            path = fill(item.path, values, f"{component.name}.not_kept")
            if path != workspaces:
                items.append({"path": path, "why": item.why, "component": component.name})
    return items


def scrubs(catalog: Catalog) -> list[dict[str, Any]]:
    """The SQL each component's SQLite databases get in the backup's copy, filled in."""
    return [
        {"path": fill(item.path, template_values(catalog, c), f"{c.name}.scrub"), "sql": item.sql}
        for c in catalog.components.values()
        for item in c.scrub
    ]


def host_params(catalog: Catalog, out: Path, with_workspaces: bool) -> dict[str, Any]:
    postgresql = catalog.components["postgresql"]
    layout = resolve_layout(catalog, postgresql)
    return {
        "out": str(out),
        "roots": [catalog.paths.config, catalog.paths.state],
        "not_kept": [
            {"path": i["path"], "why": i["why"]} for i in not_kept(catalog, with_workspaces)
        ],
        "databases": sorted(d.name for c in catalog.components.values() for d in c.databases),
        "sqlite_scrub": scrubs(catalog),
        "pg_bin": layout["bin"],
        "socket_dir": layout["socket"],
        "port": postgresql.listen.port if postgresql.listen else 5432,
    }


def _facts(target: Hosts, catalog: Catalog) -> HostFacts:
    if not target.is_local:
        raise UsageError(
            "aiws backup runs on the host it backs up, not through an inventory",
            "run `aiws backup` on the host (docs/backup.md)",
        )
    facts = next(iter(hostfacts.gather(target, catalog).values()))
    if not facts.installed:
        raise UsageError("nothing to back up: aiws has installed nothing on this host")
    return facts


def manifest_base(catalog: Catalog, facts: HostFacts, with_workspaces: bool) -> dict[str, Any]:
    last = facts.last_install
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "aiws": __version__,
        "host": facts.hostname,
        "platform": facts.platform,
        "arch": facts.arch,
        "versions": {k: v for k, v in sorted(facts.versions.items()) if k in catalog.components},
        "last_install": last.model_dump(mode="json"),
        "with_workspaces": with_workspaces,
        "not_kept": not_kept(catalog, with_workspaces),
    }


def backup(
    target: Hosts, catalog: Catalog, out: Path, passphrase: bytes, *, with_workspaces: bool
) -> BackupOutcome:
    facts = _facts(target, catalog)
    catalog = catalog.for_platform(facts.platform)
    out = out.absolute()
    if out.is_dir():
        raise UsageError(f"{out} is a directory", "give --out the archive's file name")
    started, clock = datetime.now(UTC), time.monotonic()
    run_id = driver.new_run_id()
    staging = private_cache("backup") / f"{run_id}.tar"
    try:
        result = call_module(target, "aiws_backup", host_params(catalog, staging, with_workspaces))
        base = manifest_base(catalog, facts, with_workspaces)
        done = next(iter(result.values()))
        base["databases"] = done["databases"]
        base["sqlite"] = {"copied": done["sqlite"], "as_is": done["sqlite_as_is"]}
        with staging.open("rb") as payload:
            manifest = seal(payload, out, passphrase, base)
    finally:
        staging.unlink(missing_ok=True)
    outcome = BackupOutcome(
        out, out.stat().st_size, _sha256(out), time.monotonic() - clock, manifest
    )
    _record(target, catalog, run_id, started, outcome, with_workspaces)
    return outcome


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(
    target: Hosts,
    catalog: Catalog,
    run_id: str,
    started: datetime,
    outcome: BackupOutcome,
    with_workspaces: bool,
) -> None:
    record = run_record("backup", run_id, started, components=sorted(outcome.manifest["versions"]))
    record.ok, record.seconds = True, round(outcome.seconds, 2)
    record.request = {
        "out": str(outcome.path),
        "size": outcome.size,
        "sha256": outcome.sha256,
        "with_workspaces": with_workspaces,
    }
    record_run(target, catalog, record)


def recorded_backups(target: Hosts, catalog: Catalog) -> list[RunRecord]:
    """The backups this host's ledger records, oldest first."""
    params = {"path": catalog.paths.ledger, "state": "query"}
    runs = next(iter(call_module(target, "aiws_ledger", params).values())).get("runs", [])
    return [run for run in parse_ledger({"runs": runs}).runs if run.verb == "backup"]
