"""`aiws secrets`: what aiws generated on each host, and one value when asked.

Secret values are never logged: `list` reads only the ledger's records (name, path, the run
that created it) and whether the file exists; `show` reads one file through the
aiws_secret module (in-process for this host, ad hoc Ansible for an inventory, whose
runner directory is private and deleted afterwards).
"""

from __future__ import annotations

from pydantic import BaseModel

from aiws.catalog import Catalog
from aiws.errors import UsageError
from aiws.hostcall import call_module
from aiws.target import Target


class SecretRecord(BaseModel):
    host: str
    name: str
    path: str
    created_run: str = ""
    created_at: str = ""
    exists: bool


def list_secrets(target: Target, catalog: Catalog) -> list[SecretRecord]:
    results = call_module(target, "aiws_secret", {"state": "list", "ledger": catalog.paths.ledger})
    return [
        SecretRecord(host=host, **item)
        for host, result in sorted(results.items())
        for item in result.get("secrets", [])
    ]


def show_secret(target: Target, catalog: Catalog, name: str) -> dict[str, str]:
    """host -> the value of secret `name`; a name that no host recorded is a usage error."""
    known = {record.name for record in list_secrets(target, catalog)}
    if name not in known:
        raise UsageError(
            f"no secret named '{name}'",
            f"`aiws secrets list` shows the names ({', '.join(sorted(known)) or 'none yet'})",
        )
    params = {"name": name, "dir": catalog.paths.secrets, "state": "read", "reveal": True}
    results = call_module(target, "aiws_secret", params)
    return {host: str(result["value"]) for host, result in sorted(results.items())}
