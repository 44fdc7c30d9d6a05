"""Upgrades with a way back, on a real Debian 12 host from real bundles: PostgreSQL and Vault
installed from the core bundle, then Vault upgraded by one-component bundles that carry the
core bundle's OpenBao as newer releases (another_release): one that starts, one whose
binary cannot start, and one more. In order:

- an upgrade that passes its health gate: generation 2.7.2 saved (a dump of Vault's
  database and the files it had), both trees kept, Vault's data there, a rerun changes
  nothing;
- a release that cannot become healthy: the run fails with one line naming it and the
  version it went back to; Vault runs the previous release, healthy, its data intact, the
  failed tree gone, the ledger records the attempt and the rollback;
- one more successful upgrade prunes the oldest tree and generation: one previous
  generation is kept, no more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aiws.errors import ExitCode
from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers.bundles import another_release
from tests.helpers.cli import aiws
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import exists, inside, install, kv_matches_file, status

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]
CATALOG = load_catalog()
VAULT = CATALOG.component("vault").version
SELECTION = ("--mode", "core", "--only", "postgresql,vault")
ONLY_VAULT = ("--mode", "core", "--only", "vault")
GENERATIONS = "/var/lib/aiws/generations/vault"
TREES = "/opt/aiws/vault"
# A secret Vault keeps in its KV (mirrored from its file): Vault's data, read through Vault.
KEPT_SECRET = "postgresql-aiws_vault"


def _next(version: str, step: int) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + step}"


@dataclass
class Site:
    sandbox: SandboxState
    core: Path
    out: Path
    releases: dict[str, Path] = field(default_factory=dict)

    def release(self, version: str, edit: Callable[[Path], object] | None = None) -> Path:
        """The one-component bundle of Vault `version` (built once: a rebuilt one is another
        tarball, which a host unpacks again)."""
        if version not in self.releases:
            self.releases[version] = another_release(self.core, "vault", version, self.out, edit)
        return self.releases[version]


@pytest.fixture(scope="module")
def site(
    make_module_sandbox: MakeSandbox,
    core_bundle_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Site:
    sandbox = make_module_sandbox()
    install(sandbox, core_bundle_file, *SELECTION)
    assert kv_matches_file(sandbox, KEPT_SECRET)
    return Site(sandbox, core_bundle_file, tmp_path_factory.mktemp("releases"))


def ledger(sandbox: SandboxState) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(inside(sandbox, "cat", "/var/lib/aiws/state.json"))
    return data


def listing(sandbox: SandboxState, path: str) -> set[str]:
    return set(inside(sandbox, "ls", "-A", path).split())


_HEALTH = """
import urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open("http://127.0.0.1:8200/v1/sys/health", timeout=5).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


def vault_health(sandbox: SandboxState) -> str:
    """Vault's health status: 200 when unsealed and active."""
    return inside(sandbox, "python3", "-c", _HEALTH)


def cannot_start(payload: Path) -> None:
    binary = payload / "bin" / "bao"
    binary.write_text("#!/bin/sh\necho 'this release cannot start' >&2\nexit 1\n")
    binary.chmod(0o755)


@pytest.mark.steps
def test_an_upgrade_that_passes_its_gate_keeps_the_previous_generation(site: Site) -> None:
    sandbox, newer = site.sandbox, _next(VAULT, 1)
    bundle = site.release(newer)
    summary, took = install(sandbox, bundle, *ONLY_VAULT)
    print(f"\nupgrade of vault {VAULT} -> {newer}: {took:.1f} s", flush=True)
    changes = {row.name: row.change for row in summary.components}
    assert changes["vault"] == f"upgrade {VAULT} -> {newer}", changes
    state = ledger(sandbox)
    assert state["components"]["vault"]["version"] == newer
    last = state["upgrades"][-1]
    assert (last["from"], last["to"], last["outcome"]) == (VAULT, newer, "upgraded"), last
    assert listing(sandbox, GENERATIONS) == {VAULT}
    assert listing(sandbox, f"{GENERATIONS}/{VAULT}") == {"generation.json", "vault.dump"}
    assert inside(sandbox, "stat", "-c", "%a", f"{GENERATIONS}/{VAULT}") == "700"
    assert {VAULT, newer} <= listing(sandbox, TREES)
    assert vault_health(sandbox) == "200" and kv_matches_file(sandbox, KEPT_SECRET)
    rerun, _ = install(sandbox, bundle, *ONLY_VAULT)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]


@pytest.mark.steps
def test_a_release_that_cannot_become_healthy_is_rolled_back(site: Site) -> None:
    sandbox, running, broken = site.sandbox, _next(VAULT, 1), _next(VAULT, 2)
    bundle = site.release(broken, edit=cannot_start)
    started = time.monotonic()
    done = aiws("install", *ONLY_VAULT, "--bundle", str(bundle), "-i",
                str(sandbox.inventory))  # fmt: skip
    print(f"\nfailed upgrade to {broken}, rolled back: {time.monotonic() - started:.1f} s")
    said = f"vault {broken} did not become healthy"
    assert done.returncode == ExitCode.FAILED, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = [ln for ln in (done.stdout + done.stderr).splitlines() if said in ln]
    assert f"rolled back to {running}, healthy again" in line, line
    print(line, flush=True)
    state = ledger(sandbox)
    assert state["components"]["vault"]["version"] == running
    last = state["upgrades"][-1]
    assert (last["from"], last["to"], last["outcome"]) == (running, broken, "rolled back"), last
    assert "vault" in last["reason"], last
    assert inside(sandbox, "systemctl", "is-active", "aiws-vault.service") == "active"
    unit = inside(sandbox, "systemctl", "cat", "aiws-vault.service")
    assert f"{TREES}/{running}/bin/bao" in unit and broken not in unit
    assert vault_health(sandbox) == "200" and kv_matches_file(sandbox, KEPT_SECRET)
    assert not exists(sandbox, f"{TREES}/{broken}")
    # The rollback target of the running release is still the one before it.
    assert listing(sandbox, GENERATIONS) == {VAULT}
    vault = status(sandbox)["by_name"]["vault"]
    assert (vault["version"], vault["asked"], vault["asked_outcome"]) == (
        running, broken, "rolled back"), vault  # fmt: skip
    shown = aiws("status", "-i", str(sandbox.inventory)).stdout
    assert f"runs {running}, the last install asked for {broken} (rolled back)" in shown, shown
    rerun, _ = install(sandbox, site.release(running), *ONLY_VAULT)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert status(sandbox)["by_name"]["vault"]["asked"] is None  # what runs was asked for


@pytest.mark.steps
def test_one_more_upgrade_prunes_the_oldest_generation(site: Site) -> None:
    sandbox, previous, newest = site.sandbox, _next(VAULT, 1), _next(VAULT, 3)
    install(sandbox, site.release(newest), *ONLY_VAULT)
    assert listing(sandbox, GENERATIONS) == {previous}
    trees = {e for e in listing(sandbox, TREES) if e[0].isdigit()}
    assert trees == {previous, newest}, trees
    assert vault_health(sandbox) == "200" and kv_matches_file(sandbox, KEPT_SECRET)


PSQL = "/usr/lib/postgresql/15/bin/psql"


def vault_tables(sandbox: SandboxState) -> set[str]:
    """Tables of Vault's database (where its storage lives)."""
    query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    listed = inside(sandbox, PSQL, "-X", "-qAt", "-h", "/run/aiws-postgresql", "-U", "postgres",
                    "-d", "vault", "-c", query)  # fmt: skip
    return set(listed.split())


def mark(sandbox: SandboxState, table: str) -> None:
    """Data written after an upgrade: a table in Vault's database."""
    inside(sandbox, PSQL, "-X", "-q", "-h", "/run/aiws-postgresql", "-U", "postgres", "-d",
           "vault", "-c", f"CREATE TABLE {table} (id int)")  # fmt: skip


def rollback(sandbox: SandboxState, *args: str) -> tuple[int, str]:
    done = aiws("rollback", *args, "-i", str(sandbox.inventory))
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.returncode, done.stdout + done.stderr


def running_tree(sandbox: SandboxState) -> str:
    unit = inside(sandbox, "systemctl", "cat", "aiws-vault.service")
    (line,) = [ln for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    return line.split("=", 1)[1].split("/bin/bao")[0]


@pytest.mark.steps
def test_rollback_returns_to_the_previous_generation_keeping_the_data(site: Site) -> None:
    """`aiws rollback` after a successful upgrade: --dry-run changes nothing; the rollback
    puts the previous release back, healthy, with what was written since kept; the
    generation is used up (a second rollback has nowhere to go); unknown or uninstalled
    names are refused before any change."""
    sandbox, previous, newest = site.sandbox, _next(VAULT, 1), _next(VAULT, 3)
    mark(sandbox, "written_after_the_upgrade")
    before = ledger(sandbox)
    rc, said = rollback(sandbox, "--dry-run")
    assert rc == 0 and f"would roll back vault {newest} -> {previous}" in said, said
    assert ledger(sandbox) == before and running_tree(sandbox) == f"{TREES}/{newest}"
    started = time.monotonic()
    rc, said = rollback(sandbox, "vault")
    print(f"\nrollback of vault {newest} -> {previous}: {time.monotonic() - started:.1f} s")
    assert rc == 0 and f"rolled back vault {newest} -> {previous}" in said, said
    assert running_tree(sandbox) == f"{TREES}/{previous}"
    assert vault_health(sandbox) == "200" and kv_matches_file(sandbox, KEPT_SECRET)
    assert "written_after_the_upgrade" in vault_tables(sandbox)
    state = ledger(sandbox)
    assert state["components"]["vault"]["version"] == previous
    assert state["upgrades"][-1]["outcome"] == "rolled back by the operator"
    assert state["runs"][-1]["verb"] == "rollback", state["runs"][-1]
    vault = status(sandbox)["by_name"]["vault"]
    assert (vault["asked"], vault["asked_outcome"]) == (newest, "rolled back by the operator")
    assert listing(sandbox, GENERATIONS) == set()
    rc, said = rollback(sandbox, "vault")
    assert rc == ExitCode.FAILED and "vault has no previous generation" in said, said
    assert running_tree(sandbox) == f"{TREES}/{previous}"
    rc, said = rollback(sandbox, "nosuch")
    assert rc == ExitCode.USAGE and "unknown component: nosuch" in said, said
    rc, said = rollback(sandbox, "litellm")
    assert rc == ExitCode.USAGE and "not installed on any host: litellm" in said, said


@pytest.mark.steps
def test_rollback_with_data_restores_the_dump_taken_before_the_upgrade(site: Site) -> None:
    sandbox, previous, newest = site.sandbox, _next(VAULT, 1), _next(VAULT, 3)
    install(sandbox, site.release(newest), *ONLY_VAULT)
    mark(sandbox, "written_after_the_second_upgrade")
    rc, said = rollback(sandbox, "--with-data")
    assert rc == 0 and f"rolled back vault {newest} -> {previous} with its data" in said, said
    tables = vault_tables(sandbox)
    assert "written_after_the_upgrade" in tables, tables  # in the dump
    assert "written_after_the_second_upgrade" not in tables, tables  # after it
    assert vault_health(sandbox) == "200" and kv_matches_file(sandbox, KEPT_SECRET)
