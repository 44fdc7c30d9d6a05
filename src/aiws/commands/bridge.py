"""`aiws bridge tokens`: the Bridge's named tokens on this host (stored hashed by the
aiws_bridge_tokens module). A new token is printed once, when it is made, and never again.
This host only: over an inventory the new token would travel back through Ansible's
results; run aiws on the Bridge's host (bootstrapped from the bundle) instead."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiws.ansible.driver import RunResult
from aiws.commands.summary import FirstToken
from aiws.errors import AiwsError, UsageError
from aiws.guard.checks import HostFacts
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


@dataclass(frozen=True)
class FirstTokenOffer:
    """The Bridge's first token: made here, only its digest goes to the host, where
    roles/bridge stores it when the Bridge has no token yet (fact aiws_bridge_first_token)."""

    token: str
    name: str = "first"

    @classmethod
    def make(cls) -> FirstTokenOffer:
        return cls(secrets.token_urlsafe(32))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()

    def shown(self, result: RunResult) -> list[FirstToken]:
        """The token, for each host that stored it in this run."""
        return [
            FirstToken(host=host, name=self.name, token=self.token)
            for host, facts in sorted(result.facts.items())
            if (facts.get("aiws_bridge_first_token") or {}).get("created")
        ]


def offers_first_token(selection: list[str], check: bool, facts: Mapping[str, HostFacts]) -> bool:
    """Whether an install offers the Bridge a first token: when it installs the Bridge and a
    host still has none (the host facts read its tokens file), so a rerun makes no token and
    the Bridge's role calls no module for it."""
    if "bridge" not in selection or check:
        return False
    return any(not host.bridge_has_token for host in facts.values())
