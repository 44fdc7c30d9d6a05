"""Where aiws's files live: its Ansible content (inside the wheel, or at the top of a source
checkout) and the controller's cache (~/.cache/aiws: base images, downloads, bundles).

`AIWS_ROLES_PATH` (colon-separated) puts extra role directories in front of aiws's own,
for site-specific roles and for the test suite's fixture roles.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def ansible_root() -> Path:
    """The directory holding `playbooks/` and `roles/` (packaged copy first)."""
    packaged = _PACKAGE / "ansible"
    if (packaged / "playbooks").is_dir():
        return packaged
    return _PACKAGE.parents[1]  # src/aiws -> checkout root


def playbook(name: str) -> Path:
    path = ansible_root() / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise FileNotFoundError(f"playbook {path} is missing from this aiws installation")
    return path


def roles_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("AIWS_ROLES_PATH", "").split(os.pathsep) if p]
    return [*extra, ansible_root() / "roles"]


def has_role(name: str) -> bool:
    return any((directory / name / "tasks").is_dir() for directory in roles_dirs())


def has_tasks(role: str, tasks: str) -> bool:
    """Whether the first role named `role` on the roles path has tasks/<tasks>.yml."""
    for directory in roles_dirs():
        if (directory / role / "tasks").is_dir():
            return (directory / role / "tasks" / f"{tasks}.yml").is_file()
    return False


def modules_dir() -> Path:
    """aiws's own Ansible modules (stdlib-only; they run on the target's python)."""
    return _PACKAGE / "modules"


def module_utils_dir() -> Path:
    """Code aiws's modules share (shipped with them to the target by Ansible)."""
    return _PACKAGE / "module_utils"


def plugins_dir(kind: str) -> Path:
    """aiws's Ansible plugins of one kind (action, callback, connection, filter)."""
    return _PACKAGE / "ansible" / "plugins" / kind


def cache_root() -> Path:
    """~/.cache/aiws, or $AIWS_CACHE_DIR, or under $XDG_CACHE_HOME."""
    if "AIWS_CACHE_DIR" in os.environ:
        return Path(os.environ["AIWS_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aiws"
