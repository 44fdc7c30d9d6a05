"""The host(s) a command acts on: this machine, or the hosts of an Ansible inventory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiws.errors import UsageError

LOCAL_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Target:
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


def resolve_target(inventory: Path | None) -> Target:
    if inventory is None:
        return Target()
    if not inventory.is_file():
        raise UsageError(
            f"inventory {inventory} does not exist",
            "pass an Ansible inventory file, or omit --inventory to target this host",
        )
    return Target(inventory.resolve())
