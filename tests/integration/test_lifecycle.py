"""One lifecycle every component goes through, parametrised by component, on a fresh Debian
12 host with no network, from the real bundle, through the real CLI:

preflight -> a check-mode plan that changes nothing -> install -> the component's own
check -> rerun (changed=0, no file rewritten, no unit restarted) -> status -> a dry-run
purge that changes nothing -> uninstall (units and runtime trees go, data, config and
secrets stay) -> purge (the host exactly as before, by snapshot) -> a second purge that
finds nothing to do.

A new component joins with one SCENARIOS entry: what it needs installed with it and a
small check that it really works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiws.catalog import load_catalog
from aiws.config import LoadedConfig, OperatorConfig
from aiws.sandbox.state import SandboxState
from tests.helpers import snapshot
from tests.helpers.cli import aiws
from tests.helpers.hosts import (
    exists,
    fingerprint,
    inside,
    install,
    kv_matches_file,
    left_behind,
    status,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CATALOG = load_catalog()
SECRETS = CATALOG.paths.secrets


def check_postgresql(sandbox: SandboxState) -> None:
    pg = CATALOG.component("postgresql")
    psql = f"/usr/lib/postgresql/{pg.version}/bin/psql"
    query = ["-X", "-At", "-h", "/run/aiws-postgresql", "-U", "postgres", "-d", "postgres"]
    assert inside(sandbox, psql, *query, "-c", "select 6 * 7") == "42"
    # Its listener is loopback only.
    listeners = inside(sandbox, "ss", "-Hltn").splitlines()
    assert any(line.split()[3] == f"127.0.0.1:{pg.listen.port}" for line in listeners)


def check_vault(sandbox: SandboxState) -> None:
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]
    # Its storage password lives in KV and equals the file; its own keys are not in KV.
    assert kv_matches_file(sandbox, "postgresql-aiws_vault")
    for name in ("postgresql-aiws_vault", "vault-aiws-token", "vault-unseal-key"):
        assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/{name}") == "600 root"
    # Vault reaches PostgreSQL through its unix socket, not TCP.
    assert "host=/run/aiws-postgresql" in inside(sandbox, "cat", "/etc/aiws/vault/vault.hcl")


def check_postgresql_and_vault(sandbox: SandboxState) -> None:
    check_postgresql(sandbox)
    check_vault(sandbox)


@dataclass(frozen=True)
class Scenario:
    selection: list[str]  # the component and what it requires, in install order
    check: Callable[[SandboxState], None]


# PostgreSQL goes through the lifecycle with Vault, which needs it (its check runs too): a
# scenario of its own would install, rerun and purge it again for nothing new.
SCENARIOS = {"vault": Scenario(["postgresql", "vault"], check_postgresql_and_vault)}


def runtime_trees(sandbox: SandboxState) -> list[str]:
    return inside(sandbox, "sh", "-c", "ls /opt/aiws 2>/dev/null || true").split()


@pytest.mark.parametrize("component", sorted(SCENARIOS))
def test_lifecycle(component: str, sandbox: SandboxState, core_bundle_file: Path) -> None:
    scenario = SCENARIOS[component]
    selection = ["--mode", "core", "--only", ",".join(scenario.selection)]
    inventory = str(sandbox.inventory)
    before = snapshot.take(sandbox)

    preflight = aiws("preflight", *selection, "-i", inventory, "--json")
    assert preflight.returncode == 0, preflight.stdout + preflight.stderr

    # A plan on the fresh host: every component would change, nothing did.
    bundle = ["--bundle", str(core_bundle_file)]
    plan = aiws("install", *selection, *bundle, "-i", inventory, "--check", "--json")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    planned = {row["name"]: row for row in json.loads(plan.stdout)["components"]}
    assert all(planned[name]["changed"] > 0 for name in scenario.selection), planned
    assert left_behind(sandbox, before) == []

    first, _ = install(sandbox, core_bundle_file, *selection)
    rows = {row.name: row for row in first.components}
    assert set(rows) >= set(scenario.selection)
    assert all(rows[name].health == "healthy" for name in scenario.selection), rows
    assert rows[component].changed > 0
    scenario.check(sandbox)
    # The operator's configuration the run applied is in the ledger (none here: defaults).
    last_run = json.loads(inside(sandbox, "cat", "/var/lib/aiws/state.json"))["runs"][-1]
    # The defaults (no configuration file), recorded as the effective configuration.
    assert last_run["config"] == LoadedConfig(OperatorConfig(), None).effective()

    fingerprint_before = fingerprint(sandbox)
    rerun, _ = install(sandbox, core_bundle_file, *selection)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert fingerprint(sandbox) == fingerprint_before  # nothing rewritten, nothing restarted
    scenario.check(sandbox)
    assert status(sandbox)["healthy"] is True

    plan = aiws("uninstall", "--purge", "--dry-run", "-i", inventory, "--json")
    planned = json.loads(plan.stdout)
    assert plan.returncode == 0 and planned["dry_run"], plan.stderr
    assert set(planned["components"]) == set(scenario.selection)
    assert "removed" not in {p["status"] for p in planned["paths"]}
    assert fingerprint(sandbox) == fingerprint_before and status(sandbox)["healthy"] is True

    kept = aiws("uninstall", "-i", inventory, "--json")
    assert kept.returncode == 0, kept.stderr
    report = status(sandbox)["by_name"]
    for name in scenario.selection:
        unit = CATALOG.component(name).unit
        assert not exists(sandbox, f"/etc/systemd/system/{unit}"), unit
        assert not report[name]["installed"]
        for kept_path in (
            CATALOG.component_paths(name)["config"],
            CATALOG.component_paths(name)["state"],
        ):
            assert exists(sandbox, kept_path), kept_path
    assert runtime_trees(sandbox) in ([], ["controller"])  # every runtime tree went
    assert exists(sandbox, f"{SECRETS}/postgresql-aiws_vault") == (component == "vault")

    purge = aiws("uninstall", "--purge", "--yes", "-i", inventory, "--json")
    assert purge.returncode == 0, purge.stderr
    assert left_behind(sandbox, before) == []

    again = aiws("uninstall", "--purge", "--yes", "-i", inventory, "--json")
    second = json.loads(again.stdout)
    assert again.returncode == 0 and second["components"] == [] and second["changed"] == 0
    assert left_behind(sandbox, before) == []
