"""`aiws uninstall [--purge] [--dry-run]`: remove what the ledger says aiws created.

Without --purge, units and runtime trees go and data, config, secrets and the ledger stay,
so a later install finds them. With --purge everything aiws created goes, ledger last.
--dry-run runs the same playbook in check mode: the printed plan is the real run's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiws import __version__, resources
from aiws.ansible import driver
from aiws.ansible.driver import PathReport, RunResult
from aiws.ansible.ledger import record_run, run_record
from aiws.commands import hostfacts
from aiws.commands.install import controller_paths
from aiws.errors import AiwsError
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog


@dataclass
class UninstallOutcome:
    run: RunResult
    components: list[str]
    purge: bool
    dry_run: bool

    @property
    def paths(self) -> list[PathReport]:
        return self.run.paths

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.run.ok,
            "purge": self.purge,
            "dry_run": self.dry_run,
            "components": self.components,
            "paths": [vars(p) for p in self.paths],
            "changed": self.run.totals().changed,
            "failures": [f.line for f in self.run.failures],
            "seconds": self.run.duration,
        }


def recorded(target: Hosts, catalog: Catalog) -> tuple[list[str], bool, str | None]:
    """Components recorded on any host in reverse install order, whether any ledger exists,
    and the hosts' platform (e.g. debian-12) when they share one."""
    installed: set[str] = set()
    facts = hostfacts.gather(target, catalog)
    for host_facts in facts.values():
        installed |= set(host_facts.installed)
    components = [name for name in installed if name in catalog.components]
    platforms = {f.platform for f in facts.values()}
    platform = platforms.pop() if len(platforms) == 1 else None
    return list(reversed(catalog.in_install_order(components))), bool(installed), platform


def uninstall(
    target: Hosts, catalog: Catalog, *, purge: bool, dry_run: bool, progress: Any = None
) -> UninstallOutcome:
    components, has_ledger, platform = recorded(target, catalog)
    missing = [c for c in components if not resources.has_role(c)]
    if missing:
        raise AiwsError(
            f"no role in aiws {__version__} can remove: {', '.join(missing)}",
            "uninstall with the aiws version that installed them",
        )
    extravars = {
        "aiws_catalog": resolved_catalog(catalog, platform),
        "aiws_run": {
            "components": components,
            "purge": purge,
            "keep_paths": controller_paths(target, catalog.paths.runtime),
            "aiws_version": __version__,
        },
    }
    run = driver.run_playbook(
        resources.playbook("uninstall"), target, extravars, check=dry_run, progress=progress
    )
    if run.ok and has_ledger and not dry_run and not purge:
        record = run_record("uninstall", run.run_id, run.started_at, components=components,
                            phases=run.phases, outcome=run)  # fmt: skip
        record_run(target, catalog, record)
    return UninstallOutcome(run=run, components=components, purge=purge, dry_run=dry_run)
