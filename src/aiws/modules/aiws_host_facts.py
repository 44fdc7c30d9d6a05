#!/usr/bin/python3
"""Ansible module: the host facts aiws's guard needs, read-only.

Runs on the target with its own python3 (3.9 on Debian 11), so: stdlib only, no f-string
features newer than 3.9. `collect()` is also imported by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_host_facts
short_description: Report the host facts the aiws run-mode guard needs
description:
  - OS, architecture, PID 1, free disk, memory, listening TCP sockets with their process
    and systemd unit, package-manager lock holder, Docker/k3s presence, and the components
    recorded in the aiws ledger and what the last installs chose. Changes nothing.
options:
  paths:
    description: Paths aiws writes to; free space is measured at their nearest existing ancestor.
    type: list
    elements: str
    required: true
  ledger:
    description: Path of the aiws state ledger.
    type: str
    required: true
  artifacts:
    description: Runtime trees {name, dest} whose unpack markers to read.
    type: list
    elements: dict
    default: []
  layout:
    description: The aiws layout {path, mode} to check (layout_ok).
    type: list
    elements: dict
    default: []
  aiws_version:
    description: The version of aiws asking (layout_ok needs its base record).
    type: str
    default: ""
  secrets_dir:
    description: aiws's secrets directory (the names present are reported, never values).
    type: str
    default: ""
  bridge_tokens:
    description: The Bridge's tokens file (bridge_has_token says whether it holds a token).
    type: str
    default: ""
"""

import os
import platform
import shutil
import socket
import stat

try:
    from ansible.module_utils.aiws_common import (
        LedgerError,
        module_main,
        private_dir_problem,
        read_ledger,
        read_tokens,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        LedgerError,
        module_main,
        private_dir_problem,
        read_ledger,
        read_tokens,
    )

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}
# Where Ansible stages module files on this host (its default remote_tmp, which aiws keeps).
ANSIBLE_REMOTE_TMP = "~/.ansible/tmp"
_DPKG_LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock")


def _read(path, default=""):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return default


def os_release():
    info = {}
    for line in _read("/etc/os-release").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value.strip().strip('"')
    return info.get("ID", "unknown"), info.get("VERSION_ID", "unknown")


def disk(paths):
    out = []
    for path in paths:
        probe = path
        while not os.path.exists(probe):
            probe = os.path.dirname(probe) or "/"
        stat = os.statvfs(probe)
        out.append(
            {
                "path": path,
                "device": os.stat(probe).st_dev,
                "free_mb": stat.f_bavail * stat.f_frsize // (1024 * 1024),
            }
        )
    return out


def memory():
    values = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) // 1024 if rest.split() else 0
    return values.get("MemTotal", 0), values.get("MemAvailable", 0)


def _hex_address(text):
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6 stores four little-endian 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _socket_owners():
    owners = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = "/proc/%s/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(target[8:-1], int(pid))
    return owners


def unit_of_cgroup(path):
    """The system unit a cgroup path belongs to, or "": <unit>.service right under the last
    system.slice, never below a user's slice (where a user may name cgroups as they like).
    A host running the target in a container sees the container's path in front of it."""
    parts = path.strip("/").split("/")
    if "system.slice" not in parts:
        return ""
    index = len(parts) - 1 - parts[::-1].index("system.slice")
    if any(p == "user.slice" or p.startswith(("user@", "user-")) for p in parts[:index]):
        return ""
    if index + 1 < len(parts) and parts[index + 1].endswith(".service"):
        return parts[index + 1]
    return ""


def _unit_of(pid):
    for line in _read("/proc/%d/cgroup" % pid).splitlines():
        unit = unit_of_cgroup(line.split(":", 2)[-1])
        if unit:
            return unit
    return ""


def listeners():
    found = {}
    owners = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in _read(table).splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A: LISTEN
                continue
            host_hex, port_hex = fields[1].split(":")
            address, port = _hex_address(host_hex), int(port_hex, 16)
            if owners is None:
                owners = _socket_owners()
            pid = owners.get(fields[9])
            found[(address, port)] = {
                "address": address,
                "port": port,
                "pid": pid,
                "process": _read("/proc/%d/comm" % pid).strip() if pid else "",
                "unit": _unit_of(pid) if pid else "",
            }
    return sorted(found.values(), key=lambda item: (item["port"], item["address"]))


def package_lock(lock_paths=_DPKG_LOCKS):
    """Who holds a dpkg/apt lock, read from /proc/locks (takes no lock itself)."""
    inodes = {}
    for path in lock_paths:
        try:
            inodes[os.stat(path).st_ino] = path
        except OSError:
            continue
    for line in _read("/proc/locks").splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        try:
            pid, inode = int(fields[4]), int(fields[5].split(":")[-1])
        except ValueError:
            continue
        if inode in inodes:
            name = _read("/proc/%d/comm" % pid).strip() or "unknown"
            return {"held": True, "holder": "%s (pid %d) on %s" % (name, pid, inodes[inode])}
    return {"held": False, "holder": ""}


def installed_components(ledger):
    return sorted((read_ledger(ledger) or {}).get("components", {}))


def installed_versions(ledger):
    """component -> the version its record holds (data kept after an uninstall included:
    that data was written by that version)."""
    records = (read_ledger(ledger) or {}).get("components", {})
    return {
        name: str(record["version"])
        for name, record in records.items()
        if isinstance(record, dict) and record.get("version")
    }


def last_install(ledger):
    """What the host's earlier installs chose, for a rerun that does not say it again:
    the mode and the operator's configuration of the last successful install, and the
    domain and TLS choice of the last one that had a public site."""
    found = {}
    for run in (read_ledger(ledger) or {}).get("runs") or []:
        if not isinstance(run, dict) or run.get("verb") != "install" or not run.get("ok"):
            continue
        request = run.get("request") if isinstance(run.get("request"), dict) else {}
        if run.get("mode"):
            found["mode"] = run["mode"]
        if isinstance(run.get("config"), dict):
            found["config"] = run["config"]
        if request.get("domain"):
            found["domain"] = request["domain"]
            found["internal_ca"] = bool(request.get("internal_ca"))
    return found


def unpacked(artifacts, marker=".aiws-bundle-sha256"):
    """{artifact name: SHA256 of the tarball its runtime tree came from ("" if none)}."""
    found = {}
    for artifact in artifacts:
        try:
            with open(os.path.join(artifact["dest"], marker)) as handle:
                found[artifact["name"]] = handle.read().strip()
        except OSError:
            found[artifact["name"]] = ""
    return found


def layout_ok(layout, ledger, aiws_version):
    """Whether every layout directory is in place (a real directory, root's, with its mode)
    and the ledger's base record was written by this aiws version."""
    for item in layout:
        try:
            info = os.lstat(item["path"])
        except OSError:
            return False
        if not stat.S_ISDIR(info.st_mode) or (info.st_uid, info.st_gid) != (0, 0):
            return False
        if stat.S_IMODE(info.st_mode) != int(item["mode"], 8):
            return False
    base = ((read_ledger(ledger) or {}).get("components") or {}).get("base") or {}
    return bool(layout) and base.get("version") == aiws_version


def secret_names(directory):
    """The secrets present on this host, by name (values are never read)."""
    try:
        return sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except OSError:
        return []


def has_token(path):
    """Whether the Bridge's tokens file holds at least one token; a missing, unreadable or
    malformed file holds none, so the install still offers the first token and the Bridge's
    role reports what is wrong with the file."""
    try:
        return bool(read_tokens(path))
    except (OSError, ValueError):
        return False


def collect(
    paths, ledger, artifacts=(), layout=(), aiws_version="", secrets_dir="", bridge_tokens=""
):
    os_id, version_id = os_release()
    total, available = memory()
    machine = platform.machine()
    return {
        "hostname": socket.gethostname(),
        "os_id": os_id,
        "os_version_id": version_id,
        "arch": _ARCH.get(machine, machine),
        "pid1": _read("/proc/1/comm").strip() or "unknown",
        "docker_engine": os.path.exists("/run/docker.sock")
        or os.path.exists("/var/run/docker.sock"),
        "k3s": os.path.exists("/etc/rancher/k3s/k3s.yaml"),
        "disk": disk(paths),
        "mem_total_mb": total,
        "mem_available_mb": available,
        "listeners": listeners(),
        "package_lock": package_lock(),
        "installed": installed_components(ledger),
        "versions": installed_versions(ledger),
        "last_install": last_install(ledger),
        "unpacked": unpacked(artifacts),
        "layout_ok": layout_ok(layout, ledger, aiws_version),
        "secrets": secret_names(secrets_dir) if secrets_dir else [],
        "bridge_has_token": has_token(bridge_tokens) if bridge_tokens else False,
        # --internal-ca makes the site's CA with the host's openssl (aiws_site_ca).
        "openssl": shutil.which("openssl") is not None,
        "ansible_tmp_problem": private_dir_problem(
            os.path.expanduser(ANSIBLE_REMOTE_TMP), os.geteuid()
        ),
    }


ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "str", "required": True},
    "ledger": {"type": "str", "required": True},
    "artifacts": {"type": "list", "elements": "dict", "default": []},
    "layout": {"type": "list", "elements": "dict", "default": []},
    "aiws_version": {"type": "str", "default": ""},
    "secrets_dir": {"type": "str", "default": ""},
    "bridge_tokens": {"type": "str", "default": ""},
}


def run(params, check_mode=False):
    try:
        facts = collect(
            params["paths"], params["ledger"], params.get("artifacts") or (),
            params.get("layout") or (), params.get("aiws_version") or "",
            params.get("secrets_dir") or "", params.get("bridge_tokens") or "",
        )  # fmt: skip
    except LedgerError as exc:
        return {"failed": True, "msg": str(exc)}
    return {"changed": False, "ansible_facts": {"aiws_host": facts}}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
