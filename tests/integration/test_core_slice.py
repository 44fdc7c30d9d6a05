"""PostgreSQL and Vault, end to end through the real CLI, on a fresh Debian 12 host with no
network, from a real bundle: install, rerun (changed=0, secrets byte-identical), loopback
only, secrets CLI, reboot (Vault unseals itself), kill -9 (systemd restarts), uninstall
(data kept), an install interrupted half-way then converged, purge (the host as it was
before, checked by snapshot), and a second purge that is a clean no-op.

AIWS_TEST_BUNDLE=FILE uses a bundle built beforehand instead of building one (cached
downloads make a build ~15 s). The sandbox is a release-version minimal Debian, older than
the bundle's point release: the install upgrades perl-base, which a purge leaves upgraded
(see docs/components/postgresql.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aiws.sandbox import host, system
from aiws.sandbox.state import SandboxState
from aiws.summary import DeploySummary
from tests.helpers import snapshot
from tests.helpers.bundles import build
from tests.helpers.cli import aiws

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SELECTION = ["--mode", "core", "--only", "postgresql,vault"]
SECRETS = "/var/lib/aiws/secrets"
UNITS = ("aiws-postgresql.service", "aiws-vault.service")
HEALTHY_WITHIN = 90.0

KV_READ = r"""
import json, sys, urllib.request
token = open("/var/lib/aiws/secrets/vault-root-token").read().strip()
request = urllib.request.Request(
    "http://127.0.0.1:8200/v1/kv/data/aiws/" + sys.argv[1], headers={"X-Vault-Token": token}
)
value = json.load(urllib.request.urlopen(request))["data"]["data"]["value"]
print(value == open("/var/lib/aiws/secrets/" + sys.argv[1]).read())
"""


def inside(sandbox: SandboxState, *command: str, timeout: float = 60) -> str:
    done = host.run_in(sandbox, list(command), timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AIWS_TEST_BUNDLE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("bundle")
    return build("debian-12-amd64", ["postgresql", "vault"], out).package


def install(sandbox: SandboxState, bundle: Path) -> tuple[DeploySummary, float]:
    started = time.monotonic()
    done = aiws(
        "install", *SELECTION, "--bundle", str(bundle), "-i", str(sandbox.inventory), "--json"
    )
    took = round(time.monotonic() - started, 1)
    assert done.stdout.strip(), done.stderr
    summary = DeploySummary.model_validate_json(done.stdout)
    assert done.returncode == 0 and summary.run.ok, (summary.run.failures, done.stderr[-2000:])
    return summary, took


def upgraded_files(
    sandbox: SandboxState, before: snapshot.Snapshot, after: snapshot.Snapshot
) -> frozenset[str]:
    """Files of the base packages the bundle upgraded (see snapshot.upgraded)."""
    names = sorted(snapshot.upgraded(before, after))
    assert set(names) <= {"perl-base"}, f"unexpected upgrades of host packages: {names}"
    return frozenset(inside(sandbox, "dpkg", "-L", *names).splitlines()) if names else frozenset()


def rows(summary: DeploySummary) -> dict[str, Any]:
    return {row.name: row for row in summary.components}


def status(sandbox: SandboxState) -> dict[str, Any]:
    done = aiws("status", "-i", str(sandbox.inventory), "--json", "--all")
    report: dict[str, Any] = json.loads(done.stdout)
    (host_report,) = report["hosts"]
    report["by_name"] = {c["name"]: c for c in host_report["components"]}
    return report


def healthy_within(sandbox: SandboxState, seconds: float = HEALTHY_WITHIN) -> float:
    """Seconds until `aiws status` says healthy, with nothing done but waiting."""
    started = time.monotonic()
    while True:
        report = status(sandbox)
        installed = [c for c in report["by_name"].values() if c["installed"]]
        if report["healthy"] and {c["name"] for c in installed} == {"postgresql", "vault"}:
            return round(time.monotonic() - started, 1)
        assert time.monotonic() - started < seconds, json.dumps(report["by_name"], indent=1)
        time.sleep(1)


def secret_hashes(sandbox: SandboxState) -> dict[str, str]:
    out = inside(sandbox, "sh", "-c", f"cd {SECRETS} && sha256sum *")
    return {name: digest for digest, name in (line.split() for line in out.splitlines())}


def main_pids(sandbox: SandboxState) -> dict[str, int]:
    return {
        unit: int(inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit))
        for unit in UNITS
    }


def listeners(sandbox: SandboxState) -> list[str]:
    out = inside(sandbox, "ss", "-Hltn")
    return sorted(line.split()[3] for line in out.splitlines())


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (ansible-runner puts ansible-playbook
    in a session of its own: killing aiws's process group alone would not stop the run)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += system.children(current)
    for victim in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def interrupted_install(sandbox: SandboxState, bundle: Path) -> None:
    """Start an install and kill it as soon as PostgreSQL is back, mid-way through Vault."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiws", "install", *SELECTION, "--bundle", str(bundle),
         "-i", str(sandbox.inventory), "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    try:
        while host.run_in(sandbox, ["systemctl", "is-active", "-q", UNITS[0]]).returncode:
            assert process.poll() is None, "the install ended before it could be interrupted"
            assert time.monotonic() < deadline, "PostgreSQL never came back"
            time.sleep(0.2)
    finally:
        kill_tree(process.pid)
        process.wait(timeout=30)


def test_postgresql_and_vault_whole_life(sandbox: SandboxState, bundle_file: Path) -> None:
    timings: dict[str, float] = {}
    before = snapshot.take(sandbox)

    first, timings["install"] = install(sandbox, bundle_file)
    components = rows(first)
    assert (components["postgresql"].health, components["vault"].health) == ("healthy",) * 2
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]
    assert inside(sandbox, "python3", "-c", KV_READ, "postgresql-aiws_vault") == "True"
    assert set(secret_hashes(sandbox)) == {
        "postgresql-aiws_vault",
        "vault-root-token",
        "vault-unseal-key",
    }
    for name in secret_hashes(sandbox):
        assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/{name}") == "600 root"
    hashes = secret_hashes(sandbox)

    rerun, timings["rerun"] = install(sandbox, bundle_file)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert secret_hashes(sandbox) == hashes

    # Every listener on the host is on loopback.
    assert all(a.startswith(("127.0.0.1:", "[::1]:")) for a in listeners(sandbox)), listeners(
        sandbox
    )
    assert {"127.0.0.1:5432", "127.0.0.1:8200"} <= set(listeners(sandbox))

    listed = json.loads(aiws("secrets", "list", "-i", str(sandbox.inventory), "--json").stdout)
    assert {s["name"] for s in listed} == set(hashes) and all(s["exists"] for s in listed)
    shown = aiws("secrets", "show", "postgresql-aiws_vault", "-i", str(sandbox.inventory))
    assert shown.stdout.strip() == inside(sandbox, "cat", f"{SECRETS}/postgresql-aiws_vault")

    started = time.monotonic()
    host.reboot(sandbox)
    timings["reboot_to_healthy"] = round(time.monotonic() - started + healthy_within(sandbox), 1)
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]

    old = main_pids(sandbox)
    for pid in old.values():
        inside(sandbox, "sh", "-c", f"kill -9 {pid}")  # minbase has no kill(1): sh's builtin
    timings["kill9_to_healthy"] = healthy_within(sandbox)
    assert all(main_pids(sandbox)[unit] not in (0, old[unit]) for unit in UNITS)

    kept = aiws("uninstall", "-i", str(sandbox.inventory), "--json")
    assert kept.returncode == 0, kept.stderr
    assert not status(sandbox)["by_name"]["vault"]["installed"]
    for path in ("/var/lib/aiws/postgresql", "/etc/aiws/vault/vault.hcl", SECRETS):
        inside(sandbox, "test", "-e", path)
    assert secret_hashes(sandbox) == hashes

    interrupted_install(sandbox, bundle_file)
    resumed, timings["resumed_install"] = install(sandbox, bundle_file)
    assert rows(resumed)["vault"].health == "healthy"
    converged, _ = install(sandbox, bundle_file)
    assert converged.run.changed_total == 0, [(r.name, r.changed) for r in converged.components]
    assert secret_hashes(sandbox) == hashes  # same data, same secrets, same root token
    assert inside(sandbox, "python3", "-c", KV_READ, "postgresql-aiws_vault") == "True"

    print("\ntimings (s):", json.dumps(timings), flush=True)
    purge = aiws("uninstall", "--purge", "--yes", "-i", str(sandbox.inventory), "--json")
    purged = json.loads(purge.stdout)
    assert purge.returncode == 0, purge.stderr
    removed = {p["path"] for p in purged["paths"] if p["status"] == "removed"}
    assert {"/var/lib/aiws/postgresql", "/etc/aiws/vault", "/var/lib/aiws"} <= removed
    after = snapshot.take(sandbox)
    left = snapshot.differences(before, after, upgraded_files(sandbox, before, after))
    assert left == [], "\n".join(left)

    again = aiws("uninstall", "--purge", "--yes", "-i", str(sandbox.inventory), "--json")
    second = json.loads(again.stdout)
    assert again.returncode == 0 and second["components"] == [] and second["changed"] == 0
    after = snapshot.take(sandbox)
    left = snapshot.differences(before, after, upgraded_files(sandbox, before, after))
    assert left == [], "\n".join(left)
