"""PostgreSQL and Vault through what a host lives through, beyond the lifecycle every
component goes through (test_lifecycle.py): the secrets CLI, an uninstall that keeps the
data, and an install killed half-way that the next run completes with the same data,
secrets and root token. From the bundle built once per test run, on a fresh Debian 12
host with no network. (A reboot, after which Vault unseals itself, and a kill -9 of every
service: the all-in-one test, test_agents.py.)
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

import pytest

from aiws.sandbox import host, system
from aiws.sandbox.state import SandboxState
from tests.helpers.cli import aiws
from tests.helpers.hosts import inside, install, kv_matches_file, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SELECTION = ["--mode", "core", "--only", "postgresql,vault"]
SECRETS = "/var/lib/aiws/secrets"
UNITS = ("aiws-postgresql.service", "aiws-vault.service")


def secret_hashes(sandbox: SandboxState) -> dict[str, str]:
    out = inside(sandbox, "sh", "-c", f"cd {SECRETS} && sha256sum *")
    return {name: digest for digest, name in (line.split() for line in out.splitlines())}


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


def test_postgresql_and_vault_through_reboot_kill_and_interruption(
    sandbox: SandboxState, core_bundle_file: Path
) -> None:
    bundle, inventory = core_bundle_file, str(sandbox.inventory)
    timings: dict[str, float] = {}
    first, timings["install"] = install(sandbox, bundle, *SELECTION)
    assert {row.name: row.health for row in first.components} == {
        "postgresql": "healthy",
        "vault": "healthy",
    }
    hashes = secret_hashes(sandbox)
    assert set(hashes) == {"postgresql-aiws_vault", "vault-aiws-token", "vault-unseal-key"}
    # Every listener on the host is on loopback.
    assert all(a.startswith(("127.0.0.1:", "[::1]:")) for a in listeners(sandbox))
    assert {"127.0.0.1:5432", "127.0.0.1:8200", "127.0.0.1:8201"} <= set(listeners(sandbox))

    listed = json.loads(aiws("secrets", "list", "-i", inventory, "--json").stdout)
    assert {s["name"] for s in listed} == set(hashes) and all(s["exists"] for s in listed)
    shown = aiws("secrets", "show", "postgresql-aiws_vault", "-i", inventory)
    assert shown.stdout.strip() == inside(sandbox, "cat", f"{SECRETS}/postgresql-aiws_vault")

    # A reboot and a kill -9 of every service, these two included: the all-in-one test
    # (test_agents.py) on its host.

    kept = aiws("uninstall", "-i", inventory, "--json")
    assert kept.returncode == 0, kept.stderr
    assert not status(sandbox)["by_name"]["vault"]["installed"]
    assert secret_hashes(sandbox) == hashes

    interrupted_install(sandbox, bundle)
    resumed, timings["resumed_install"] = install(sandbox, bundle, *SELECTION)
    assert {row.name: row.health for row in resumed.components}["vault"] == "healthy"
    converged, _ = install(sandbox, bundle, *SELECTION)
    assert converged.run.changed_total == 0, [(r.name, r.changed) for r in converged.components]
    assert secret_hashes(sandbox) == hashes  # same data, same secrets, same root token
    assert kv_matches_file(sandbox, "postgresql-aiws_vault")
    print("\ntimings (s):", json.dumps(timings), flush=True)
