"""aiws runs as root: the environment it gives Ansible names no fixed path in a directory
every local user can write to (one created first would own root's temporary files), and it
leaves ssh host key checking on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aiws.ansible.driver import ansible_env
from aiws.modules.aiws_host_facts import ANSIBLE_REMOTE_TMP

PATH_SETTINGS = {
    "ANSIBLE_LIBRARY", "ANSIBLE_MODULE_UTILS", "ANSIBLE_FILTER_PLUGINS",
    "ANSIBLE_CONNECTION_PLUGINS", "ANSIBLE_ACTION_PLUGINS", "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_ROLES_PATH", "ANSIBLE_LOCAL_TEMP",
}  # fmt: skip


def others_could_swap(path: Path) -> str:
    """The first directory on the way to `path` (itself included, once it exists) in which
    someone other than root could create, rename or replace an entry, or "": it belongs to
    another user, or others may write to it (a root-owned sticky directory such as /tmp is
    fine: no one else can rename root's entries in it)."""
    for current in [path, *path.parents]:
        try:
            info = current.lstat()
        except FileNotFoundError:
            continue  # made later by root, under a parent checked here
        if stat.S_ISLNK(info.st_mode):
            return f"{current} is a symlink"
        if info.st_uid != 0:
            return f"{current} belongs to uid {info.st_uid}"
        sticky_root = bool(info.st_mode & stat.S_ISVTX)
        if info.st_mode & 0o022 and not sticky_root:
            return f"{current} is writable by others"
    return ""


def test_no_ansible_setting_points_where_another_user_could_swap_what_root_runs() -> None:
    """Wherever the checkout or the installation is (/srv, /root, a root-owned directory
    under /tmp), every path Ansible is given is reachable only through root's directories."""
    env = ansible_env(local_tmp=Path("/run/aiws/runner-x/local"))
    assert set(env) >= PATH_SETTINGS, sorted(PATH_SETTINGS - set(env))
    for name in PATH_SETTINGS:
        for part in env[name].split(":"):
            assert others_could_swap(Path(part)) == "", f"{name}={part}"
    # Targets: root's own home, the path the host facts check (guard rule host.ansible-tmp).
    assert env["ANSIBLE_REMOTE_TMP"] == ANSIBLE_REMOTE_TMP == "~/.ansible/tmp"
    assert env["ANSIBLE_LOCAL_TEMP"] == "/run/aiws/runner-x/local"


def test_the_rule_refuses_what_another_user_could_swap_and_accepts_roots_own(
    tmp_path: Path,
) -> None:
    """The rule above can fail: a directory another user owns, or one anyone may write to
    without the sticky bit, anywhere on the way; root's own under a sticky /tmp is fine."""
    roots = tmp_path / "roots" / "modules"
    roots.mkdir(parents=True)
    assert others_could_swap(roots) == ""
    sticky = tmp_path / "sticky"
    (sticky / "modules").mkdir(parents=True)
    sticky.chmod(0o1777)
    assert others_could_swap(sticky / "modules") == ""
    open_to_all = tmp_path / "open"
    (open_to_all / "modules").mkdir(parents=True)
    open_to_all.chmod(0o777)
    assert (
        others_could_swap(open_to_all / "modules" / "x") == f"{open_to_all} is writable by others"
    )
    theirs = tmp_path / "theirs"
    (theirs / "modules").mkdir(parents=True)
    os.chown(theirs, 65534, 65534)
    assert others_could_swap(theirs / "modules") == f"{theirs} belongs to uid 65534"
    link = tmp_path / "link"
    link.symlink_to(roots)
    assert others_could_swap(link / "later") == f"{link} is a symlink"


def test_ssh_host_keys_stay_checked() -> None:
    """A host reached over ssh must present the key in known_hosts (Ansible's default): aiws
    never turns the check off, neither in its environment nor in the checkout's ansible.cfg."""
    env = ansible_env()
    assert "ANSIBLE_HOST_KEY_CHECKING" not in env, env.get("ANSIBLE_HOST_KEY_CHECKING")
    config = (Path(__file__).resolve().parents[2] / "ansible.cfg").read_text()
    assert "host_key_checking" not in config
