"""`aiws rollback [COMPONENT...] [--with-data] [--dry-run]`: components back to the
generation their last upgrade saved (docs/upgrade.md).

The controller reads each host's ledger to know what is installed where; each host then
rolls back, dependants first, what it has a saved generation of. A named component that no
host has installed is refused before any change; one a host has no generation of fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiws import __version__, resources
from aiws.ansible import driver
from aiws.ansible.driver import RunResult
from aiws.ansible.ledger import record_run, run_record
from aiws.commands import hostfacts
from aiws.errors import UsageError
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog


@dataclass
class RollbackOutcome:
    run: RunResult
    rolled_back: dict[str, list[dict[str, Any]]]  # host -> [{component, from, to, with_data}]
    dry_run: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.run.ok,
            "dry_run": self.dry_run,
            "hosts": self.rolled_back,
            "failures": [f.line for f in self.run.failures],
            "seconds": self.run.duration,
        }


def plan(target: Hosts, catalog: Catalog, named: list[str]) -> tuple[dict[str, list[str]], str]:
    """Per host, the components to try, dependants first; and the hosts' shared platform."""
    unknown = [name for name in named if name not in catalog.components]
    if unknown:
        raise UsageError(
            f"unknown component: {', '.join(unknown)}",
            f"name installed components ({', '.join(catalog.components)})",
        )
    facts = hostfacts.gather(target, catalog)
    per_host: dict[str, list[str]] = {}
    for host, host_facts in facts.items():
        wanted = [n for n in host_facts.installed if n in catalog.components]
        if named:
            wanted = [n for n in wanted if n in named]
        per_host[host] = list(reversed(catalog.in_install_order(wanted)))
    nowhere = [n for n in named if not any(n in chosen for chosen in per_host.values())]
    if nowhere:
        raise UsageError(
            f"not installed on any host: {', '.join(nowhere)}",
            "`aiws status` lists what is installed",
        )
    platforms = {f.platform for f in facts.values()}
    return per_host, platforms.pop() if len(platforms) == 1 else ""


def rollback(
    target: Hosts,
    catalog: Catalog,
    named: list[str],
    *,
    with_data: bool,
    dry_run: bool,
) -> RollbackOutcome:
    per_host, platform = plan(target, catalog, named)
    run_id = driver.new_run_id()
    extravars = {
        "aiws_catalog": resolved_catalog(catalog, platform or None),
        "aiws_run": {
            "id": run_id,
            "components": per_host,
            "named": named,
            "with_data": with_data,
            "aiws_version": __version__,
        },
    }
    run = driver.run_playbook(
        resources.playbook("rollback"), target, extravars, check=dry_run, run_id=run_id
    )
    rolled_back = {
        host: list((run.facts.get(host) or {}).get("aiws_rollbacks") or []) for host in per_host
    }
    done = sorted({p["component"] for plans in rolled_back.values() for p in plans})
    if done and not dry_run:
        record = run_record("rollback", run.run_id, run.started_at, components=done,
                            phases=run.phases, outcome=run)  # fmt: skip
        record_run(target, catalog, record)
    return RollbackOutcome(run=run, rolled_back=rolled_back, dry_run=dry_run)
