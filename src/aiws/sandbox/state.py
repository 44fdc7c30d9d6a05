"""A sandbox's run state: one JSON file in its state dir, the only record destroy needs."""

from __future__ import annotations

import re
import secrets
import shutil
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
# Written first into every sandbox dir and removed last: `destroy --all` removes only dirs
# that carry it (or a state file of their own), never anything else under the state root.
MARKER = ".aiws-sandbox"
MARKER_TEXT = "made by `aiws sandbox create`; `aiws sandbox destroy` removes this directory\n"

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
    return [load(name) for name in names_on_disk() if (state_dir(name) / STATE_FILE).is_file()]


def names_on_disk() -> list[str]:
    """Every sandbox dir aiws made, with or without a state file (a create or a destroy may
    have died half-way). Nothing else under the state root is aiws's: see foreign()."""
    root = state_root()
    return sorted(p.name for p in root.iterdir() if is_ours(p)) if root.is_dir() else []


def foreign() -> list[Path]:
    """Directories (or links) under the state root that aiws did not make: left alone."""
    root = state_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p.is_dir() or p.is_symlink()) and not is_ours(p))


def is_ours(path: Path) -> bool:
    """A real directory with a valid sandbox name, holding aiws's marker, or (a sandbox made
    before the marker) a state file that parses and names this very directory."""
    if path.is_symlink() or not path.is_dir():
        return False
    if len(path.name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(path.name):
        return False
    if (path / MARKER).is_file():
        return True
    try:
        recorded = SandboxState.model_validate_json((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return recorded.name == path.name


def mark(path: Path) -> None:
    (path / MARKER).write_text(MARKER_TEXT)


def remove_dir(path: Path) -> None:
    """Delete a sandbox dir, its marker last: a removal cut short leaves a dir that
    `destroy --all` still knows as aiws's."""
    for entry in path.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (path / MARKER).unlink(missing_ok=True)
    path.rmdir()
