"""Each component's own check that it really works, beyond its health probe: run by the
all-in-one tests on every host they install (Debian 12 and 13) for each component here.
A new component adds its check to CHECKS (docs/adding-a-component.md)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers.hosts import inside, kv_matches_file, status

CATALOG = load_catalog()
SECRETS = CATALOG.paths.secrets


def check_postgresql(sandbox: SandboxState) -> None:
    """A query over its socket as postgres; its TCP listener is on loopback only."""
    pg = CATALOG.component("postgresql")
    query = "-X -At -h /run/aiws-postgresql -U postgres -d postgres -c 'select 6 * 7'"
    # The release's own major version (15 on Debian 12, 17 on Debian 13): one is installed.
    assert inside(sandbox, "sh", "-c", f"/usr/lib/postgresql/*/bin/psql {query}") == "42"
    assert pg.listen is not None
    listeners = inside(sandbox, "ss", "-Hltn").splitlines()
    assert any(line.split()[3] == f"127.0.0.1:{pg.listen.port}" for line in listeners)


def check_vault(sandbox: SandboxState) -> None:
    """Unsealed; PostgreSQL's password for it mirrored in its KV, its own keys not; it reaches
    PostgreSQL through the socket, not TCP."""
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]
    assert kv_matches_file(sandbox, "postgresql-aiws_vault")
    for name in ("postgresql-aiws_vault", "vault-aiws-token", "vault-unseal-key"):
        assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/{name}") == "600 root"
    assert "host=/run/aiws-postgresql" in inside(sandbox, "cat", "/etc/aiws/vault/vault.hcl")


CHECKS: dict[str, Callable[[SandboxState], None]] = {
    "postgresql": check_postgresql,
    "vault": check_vault,
}


def check_components(sandbox: SandboxState, installed: Collection[str]) -> list[str]:
    """Run the check of every installed component that has one; returns their names."""
    checked = [name for name in CHECKS if name in installed]
    for name in checked:
        CHECKS[name](sandbox)
    return checked
