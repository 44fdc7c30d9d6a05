"""The host(s) a command acts on: this machine, or the hosts of an Ansible inventory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiws.errors import UsageError

LOCAL_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Hosts:
    inventory: Path | None = None  # None: this host, over the local connection

    @property
    def is_local(self) -> bool:
        return self.inventory is None

    @property
    def label(self) -> str:
        return "this host" if self.inventory is None else str(self.inventory)

    def runner_inventory(self) -> str | dict[str, Any]:
        if self.inventory is not None:
            return str(self.inventory)
        python = LOCAL_PYTHON if Path(LOCAL_PYTHON).exists() else "auto_silent"
        return {
            "all": {
                "hosts": {
                    "localhost": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": python,
                    }
                }
            }
        }


def resolve_hosts(inventory: Path | None) -> Hosts:
    if inventory is None:
        return Hosts()
    if not inventory.is_file():
        raise UsageError(
            f"inventory {inventory} does not exist",
            "pass an Ansible inventory file, or omit --inventory to target this host",
        )
    return Hosts(inventory.resolve())


def require_root(target: Hosts, command: str) -> None:
    """On this host, `command` reads aiws's ledger and secrets, which are root's alone: run by
    another user it could only fail or, worse, report nothing installed. Refuse at once.
    Over an inventory the remote user's rights decide, on each host."""
    if target.is_local and os.geteuid() != 0:
        raise UsageError(
            f"{command} needs root: aiws's ledger and secrets on this host are root's",
            f"rerun as root, e.g. sudo {command}",
        )
