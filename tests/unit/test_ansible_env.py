"""aiws runs as root: the environment it gives Ansible names no fixed path in a directory
every local user can write to (one created first would own root's temporary files), and it
leaves ssh host key checking on."""

from __future__ import annotations

from pathlib import Path

from aiws.ansible.driver import ansible_env
from aiws.modules.aiws_host_facts import ANSIBLE_REMOTE_TMP

WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


def test_no_ansible_setting_points_into_a_world_writable_directory(tmp_path: Path) -> None:
    env = ansible_env(local_tmp=Path("/run/aiws/runner-x/local"))
    for name, value in env.items():
        if name == "PATH":  # the caller's own search path, passed on
            continue
        for part in value.split(":"):
            assert not part.startswith(WORLD_WRITABLE), f"{name}={value}"
    # Targets: root's own home, the path the host facts check (guard rule host.ansible-tmp).
    assert env["ANSIBLE_REMOTE_TMP"] == ANSIBLE_REMOTE_TMP == "~/.ansible/tmp"
    assert env["ANSIBLE_LOCAL_TEMP"] == "/run/aiws/runner-x/local"


def test_ssh_host_keys_stay_checked() -> None:
    """A host reached over ssh must present the key in known_hosts (Ansible's default): aiws
    never turns the check off, neither in its environment nor in the checkout's ansible.cfg."""
    env = ansible_env()
    assert "ANSIBLE_HOST_KEY_CHECKING" not in env, env.get("ANSIBLE_HOST_KEY_CHECKING")
    config = (Path(__file__).resolve().parents[2] / "ansible.cfg").read_text()
    assert "host_key_checking" not in config
