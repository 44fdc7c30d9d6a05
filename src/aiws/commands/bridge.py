"""`aiws bridge tokens`: the Bridge's named tokens on this host (stored hashed by the
aiws_bridge_tokens module). A new token is printed once, when it is made, and never again.
This host only: over an inventory the new token would travel back through Ansible's
results; run aiws on the Bridge's host (bootstrapped from the bundle) instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiws.errors import AiwsError, UsageError
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog
from aiws.modules import aiws_bridge_tokens

# The module is stdlib-only and untyped (it runs on hosts through Ansible too).
_MODULE_RUN: Callable[[dict[str, Any]], dict[str, Any]] = aiws_bridge_tokens.run


def _run(target: Hosts, catalog: Catalog, **params: Any) -> dict[str, Any]:
    if not target.is_local:
        raise UsageError(
            "aiws bridge tokens works on the Bridge's host only",
            "run it there (aiws is bootstrapped on the host from the bundle)",
        )
    bridge = resolved_catalog(catalog)["components"]["bridge"]
    result = _MODULE_RUN({"file": bridge["layout"]["tokens"], "group": bridge["user"], **params})
    if result.get("failed"):
        if "name" in params:
            raise UsageError(str(result["msg"]), "`aiws bridge tokens list` shows the names")
        raise AiwsError(str(result["msg"]), "check the Bridge's tokens file")
    return result


def list_tokens(target: Hosts, catalog: Catalog) -> list[dict[str, str]]:
    return list(_run(target, catalog)["tokens"])


def add_token(target: Hosts, catalog: Catalog, name: str) -> str:
    """A new token named `name`; its value is returned this once."""
    return str(_run(target, catalog, state="add", name=name)["token"])


def revoke_token(target: Hosts, catalog: Catalog, name: str) -> None:
    _run(target, catalog, state="revoke", name=name)
