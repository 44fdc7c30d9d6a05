"""The whole CLI path on a fresh systemd host with no network: preflight, install, rerun,
status, a failing run, uninstall --dry-run, purge, and purge again.

The component is the Bridge stand-in from tests/fixtures (a real unit, user and ledger
record, following the role pattern) until the real Bridge role exists.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from aiws.summary import DeploySummary
from tests.helpers.cli import aiws

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ["--mode", "local", "--only", "bridge"]


def inside(sandbox: SandboxState, *command: str) -> subprocess.CompletedProcess[str]:
    return host.run_in(sandbox, list(command), timeout=60)


def install(sandbox: SandboxState, *extra: str) -> tuple[int, DeploySummary | None, str]:
    done = aiws("install", *SELECTION, "-i", str(sandbox.inventory), "--json", *extra)
    summary = DeploySummary.model_validate_json(done.stdout) if done.stdout.strip() else None
    return done.returncode, summary, done.stderr


def rows(summary: DeploySummary) -> dict[str, Any]:
    return {row.name: row for row in summary.components}


def test_install_rerun_status_fail_uninstall_purge(sandbox: SandboxState) -> None:
    inventory = str(sandbox.inventory)
    preflight = aiws("preflight", *SELECTION, "-i", inventory, "--json")
    assert preflight.returncode == 0, preflight.stdout + preflight.stderr

    rc, first, err = install(sandbox)
    assert rc == 0 and first is not None, err
    assert err == ""  # --json: no progress lines, nothing but the document
    assert first.run.ok and first.run.hosts == [sandbox.name]
    bridge = rows(first)["bridge"]
    assert (bridge.state, bridge.health, bridge.version) == ("active", "healthy", "0.1.0")
    assert bridge.changed > 0 and first.run.changed_total > 0
    assert [p.name for p in first.phases][:3] == ["guard", "preflight", "base"]

    rc, rerun, err = install(sandbox)
    assert rc == 0 and rerun is not None, err
    assert rerun.run.changed_total == 0, [r for r in rerun.components if r.changed]
    assert rows(rerun)["bridge"].health == "healthy"

    status = aiws("status", "-i", inventory, "--json")
    report = json.loads(status.stdout)
    assert status.returncode == 0 and report["healthy"] is True
    (host_report,) = report["hosts"]
    assert [c["name"] for c in host_report["components"]] == ["bridge"]

    ledger = json.loads(inside(sandbox, "cat", "/var/lib/aiws/state.json").stdout)
    assert set(ledger["components"]) == {"base", "bridge"}
    assert [run["changed"].get("bridge", 0) > 0 for run in ledger["runs"]] == [True, False]
    assert inside(sandbox, "stat", "-c", "%a", "/var/lib/aiws/state.json").stdout.strip() == "600"

    rc, failed, err = install(sandbox, "--set", "bridge_fail=true")
    assert rc == 1 and failed is not None
    assert failed.run.failures == [
        f"task 'bridge: Fail when asked to (tests of failure reporting)' failed on "
        f"{sandbox.name}: the stand-in bridge was asked to fail"
    ]

    plan = aiws("uninstall", "--purge", "--dry-run", "-i", inventory, "--json")
    planned = json.loads(plan.stdout)
    assert plan.returncode == 0 and planned["dry_run"] and planned["components"] == ["bridge"]
    plan_by_path = {p["path"]: p["status"] for p in planned["paths"]}
    assert "removed" not in plan_by_path.values()
    assert plan_by_path["/var/lib/aiws"] == plan_by_path["/opt/aiws"] == "would remove"
    assert plan_by_path["/var/cache/aiws"] == "absent"  # no bundle was shipped
    assert aiws("status", "-i", inventory).returncode == 0  # the dry run changed nothing

    purge = aiws("uninstall", "--purge", "--yes", "-i", inventory, "--json")
    purged = json.loads(purge.stdout)
    assert purge.returncode == 0, purge.stderr
    removed = {p["path"] for p in purged["paths"] if p["status"] == "removed"}
    assert {
        "/etc/systemd/system/aiws-bridge.service",
        "/opt/aiws",
        "/var/lib/aiws",
        "/etc/aiws",
    } <= removed
    for path in ("/opt/aiws", "/etc/aiws", "/var/lib/aiws", "/var/log/aiws"):
        assert inside(sandbox, "test", "-e", path).returncode == 1, path
    assert inside(sandbox, "id", "aiws-bridge").returncode != 0
    assert inside(sandbox, "systemctl", "is-active", "aiws-bridge.service").stdout.strip() in {
        "inactive",
        "unknown",
    }

    again = aiws("uninstall", "--purge", "--yes", "-i", inventory, "--json")
    second = json.loads(again.stdout)
    assert again.returncode == 0 and second["components"] == [] and second["changed"] == 0
    assert {p["status"] for p in second["paths"]} == {"absent"}
    assert inside(sandbox, "test", "-e", "/var/lib/aiws").returncode == 1
