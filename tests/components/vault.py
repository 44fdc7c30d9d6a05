"""Vault: unsealed; PostgreSQL's password for it mirrored in its KV, its own keys not; it
reaches PostgreSQL through the socket, not TCP."""

from __future__ import annotations

from aiws.sandbox.state import SandboxState
from tests.components.common import SECRETS
from tests.helpers.hosts import inside, kv_matches_file, status


def check(sandbox: SandboxState) -> None:
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]
    assert kv_matches_file(sandbox, "postgresql-aiws_vault")
    for name in ("postgresql-aiws_vault", "vault-aiws-token", "vault-unseal-key"):
        assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/{name}") == "600 root"
    assert "host=/run/aiws-postgresql" in inside(sandbox, "cat", "/etc/aiws/vault/vault.hcl")
