"""A sandbox's run state: one JSON file in its state dir, the only record destroy needs."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aiws.errors import UsageError
from aiws.sandbox.paths import state_root

# A hostname label short enough that nspawn's host-side link `ve-NAME` fits IFNAMSIZ (15).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$|^[a-z]$")
MAX_NAME_LENGTH = 12
STATE_FILE = "state.json"

Network = Literal["private", "veth"]


class Addresses(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int  # the N of 10.231.N.0/30
    host: str
    container: str
    prefix: int
    host_link: str


class SandboxState(BaseModel):
    name: str
    distro: str
    network: Network
    image: Path  # the overlay's lower dir
    nspawn_pid: int | None = None
    nspawn_started: int | None = None  # start time in ticks: guards against pid reuse
    leader_pid: int | None = None
    addresses: Addresses | None = None
    cgroups: list[Path] = []
    created_at: datetime

    @property
    def dir(self) -> Path:
        return state_dir(self.name)

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def merged(self) -> Path:
        return self.dir / "merged"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def address(self) -> str | None:
        return self.addresses.container if self.addresses else None

    def save(self) -> None:
        path = self.dir / STATE_FILE
        partial = path.with_suffix(".partial")
        partial.write_text(self.model_dump_json(indent=2) + "\n")
        partial.replace(path)


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise UsageError(
            f"invalid sandbox name '{name}'",
            f"use 1-{MAX_NAME_LENGTH} characters: lowercase letters, digits and inner dashes, "
            "starting with a letter",
        )
    return name


def unique_name(prefix: str = "t") -> str:
    """A fresh valid name, e.g. for tests that run many sandboxes."""
    return validate_name(f"{prefix}-{secrets.token_hex(3)}")


def state_dir(name: str) -> Path:
    return state_root() / name


def load(name: str) -> SandboxState:
    path = state_dir(validate_name(name)) / STATE_FILE
    if not path.is_file():
        raise UsageError(f"no sandbox named '{name}'", "see `aiws sandbox list`")
    return SandboxState.model_validate_json(path.read_text())


def load_all() -> list[SandboxState]:
    root = state_root()
    if not root.is_dir():
        return []
    files = sorted(root.glob(f"*/{STATE_FILE}"))
    return [SandboxState.model_validate_json(f.read_text()) for f in files]


def names_on_disk() -> list[str]:
    """Every sandbox dir, with or without a state file (a create may have died half-way)."""
    root = state_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
