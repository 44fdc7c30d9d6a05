"""Host state a component is made of: its system user, directories, files (secrets filled in
on the host from @AIWS_SECRET(name)@), its systemd unit started, restarted on change and
waited for, and their removal. Stdlib only, Python 3.9 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import re
import shutil
import socket
import stat
import time
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, build_opener

try:
    from ansible.module_utils.aiws_common import Failure, must_run, run_command, write_atomic
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, must_run, run_command, write_atomic

SECRET_REF = re.compile(r"@AIWS_SECRET\(([A-Za-z0-9][A-Za-z0-9._-]{0,127})\)@")
SYSTEMCTL_TIMEOUT = 300


def _run(argv, timeout=SYSTEMCTL_TIMEOUT):
    return run_command(argv, timeout)


def _must(argv, timeout=SYSTEMCTL_TIMEOUT):
    return must_run(argv, timeout)


def _ids(owner, group):
    try:
        return pwd.getpwnam(owner or "root").pw_uid, grp.getgrnam(group or "root").gr_gid
    except KeyError as exc:
        raise Failure("unknown owner or group: %s" % exc) from None


def ensure_user(user, check):
    try:
        pwd.getpwnam(user["name"])
        return False
    except KeyError:
        pass
    if not check:
        _must(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                user.get("home") or "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                user["name"],
            ]
        )
    return True


def _fix_metadata(path, mode, uid, gid, check):
    info = os.lstat(path)
    drift = stat.S_IMODE(info.st_mode) != mode or (info.st_uid, info.st_gid) != (uid, gid)
    if drift and not check:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return drift


def ensure_directory(spec, check):
    path, mode = spec["path"], int(str(spec.get("mode") or "0755"), 8)
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        raise Failure("%s exists and is not a directory; move it away and rerun" % path)
    created = not os.path.isdir(path)
    if created and check:
        return True
    if created:
        os.makedirs(path, mode)
    uid, gid = _ids(spec.get("owner"), spec.get("group"))
    return _fix_metadata(path, mode, uid, gid, check) or created


def render(content, secrets_dir):
    """Replace every @AIWS_SECRET(name)@ with the secret's value (read on this host)."""

    def value(match):
        path = os.path.join(secrets_dir, match.group(1))
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError:
            raise Failure("secret %s is missing (%s)" % (match.group(1), path)) from None

    return SECRET_REF.sub(value, content)


def ensure_file(spec, secrets_dir, check):
    """True when the file was created or rewritten (content), or its metadata repaired."""
    dest, mode = spec["dest"], int(str(spec.get("mode") or "0644"), 8)
    if os.path.islink(dest) or (os.path.lexists(dest) and not os.path.isfile(dest)):
        raise Failure("%s exists and is not a regular file; move it away and rerun" % dest)
    data = render(spec.get("content") or "", secrets_dir).encode("utf-8")
    try:
        with open(dest, "rb") as handle:
            same = handle.read() == data
    except OSError:
        same = False
    if not same and check:
        return True
    uid, gid = _ids(spec.get("owner"), spec.get("group"))
    if not same:
        if not check:
            write_atomic(dest, data, mode, uid, gid)
        return True
    return _fix_metadata(dest, mode, uid, gid, check)


def _unit_prop(unit, prop):
    return _run(["systemctl", "show", "-p", prop, "--value", unit], 30).stdout.strip()


def ensure_running(unit, refresh, unit_changed, check):
    """Enable, start, or restart when `refresh`; returns the actions taken."""
    actions = []
    if unit_changed and not check:
        _must(["systemctl", "daemon-reload"])
    if _run(["systemctl", "is-enabled", "--quiet", unit], 30).returncode != 0:
        actions.append("enabled")
        if not check:
            _must(["systemctl", "enable", "--quiet", unit])
    active = _unit_prop(unit, "ActiveState") == "active"
    if not active:
        actions.append("started")
        if not check:
            _must(["systemctl", "start", unit])
    elif refresh:
        actions.append("restarted")
        if not check:
            _must(["systemctl", "restart", unit])
    return actions


def _answers(ready):
    kind = ready.get("type", "tcp")
    if kind == "command":
        return _run(ready["command"], 30).returncode == 0
    if kind == "http":
        # Loopback: never through a proxy, whatever the environment says.
        opener = build_opener(ProxyHandler({}))
        try:
            opener.open(ready["url"], timeout=3).close()
            return True
        except HTTPError:
            return True
        except (URLError, OSError):
            return False
    try:
        socket.create_connection((ready["host"], int(ready["port"])), timeout=3).close()
        return True
    except OSError:
        return False


def wait_ready(name, unit, ready):
    deadline = time.monotonic() + float(ready.get("timeout") or 60)
    while not _answers(ready):
        if unit and _unit_prop(unit, "ActiveState") == "failed":
            raise Failure("%s failed to start: see journalctl -u %s" % (name, unit))
        if time.monotonic() >= deadline:
            raise Failure(
                "%s did not answer within %ss (see journalctl -u %s)"
                % (name, ready.get("timeout") or 60, unit or name)
            )
        time.sleep(0.2)


def converge(params, check):
    result = {"changed": False, "files_changed": [], "actions": []}
    if params["user"] and ensure_user(params["user"], check):
        result["actions"].append("user created")
    for spec in params["directories"]:
        if ensure_directory(spec, check):
            result["actions"].append("directory %s" % spec["path"])
    for spec in params["files"]:
        if ensure_file(spec, params["secrets_dir"], check):
            result["files_changed"].append(spec["dest"])
    unit = params["unit"]
    unit_changed = False
    if unit:
        unit_file = {
            "dest": os.path.join(params["unit_dir"], unit["name"]),
            "content": unit["content"],
            "mode": "0644",
        }
        unit_changed = ensure_file(unit_file, params["secrets_dir"], check)
        if unit_changed:
            result["files_changed"].append(unit_file["dest"])
        refresh = bool(result["files_changed"]) or params["restart"]
        result["actions"] += ensure_running(unit["name"], refresh, unit_changed, check)
        if params["ready"] and not check:
            wait_ready(params["name"], unit["name"], params["ready"])
    result["changed"] = bool(result["actions"] or result["files_changed"])
    return result


def remove_unit(unit, unit_dir, check, result):
    """Stop, disable and delete a unit file."""
    path = os.path.join(unit_dir, unit)
    if _unit_prop(unit, "ActiveState") in ("active", "activating", "reloading"):
        result["actions"].append("stopped")
        if not check:
            _must(["systemctl", "stop", unit])
    if _run(["systemctl", "is-enabled", "--quiet", unit], 30).returncode == 0:
        result["actions"].append("disabled")
        if not check:
            _must(["systemctl", "disable", "--quiet", unit])
    status = "absent"
    if os.path.lexists(path):
        status = "would remove" if check else "removed"
        if not check:
            os.unlink(path)
            _must(["systemctl", "daemon-reload"])
    result["aiws_paths"].append({"path": path, "status": status})


def remove_accounts(users, groups, check, result):
    for kind, names, lookup, tool in (
        ("user", users, pwd.getpwnam, "userdel"),
        ("group", groups, grp.getgrnam, "groupdel"),
    ):
        for name in names:
            if _exists(lookup, name):
                result["actions"].append("%s %s removed" % (kind, name))
                if not check:
                    _must([tool, name])


def remove(params, check):
    """Stop, disable and remove the unit; remove the accounts asked for."""
    result = {"changed": False, "aiws_paths": [], "actions": []}
    if params["unit"]:
        remove_unit(params["unit"]["name"], params["unit_dir"], check, result)
    remove_accounts(params["users"], params["groups"], check, result)
    result["changed"] = bool(result["actions"]) or any(
        p["status"] != "absent" for p in result["aiws_paths"]
    )
    return result


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def run_once(spec, check):
    """A one-time initialisation (e.g. initdb): run `argv` unless `creates` exists. When it
    writes into a `scratch` directory, that is renamed to `dest` only once complete, so an
    interrupted run never leaves a half-made result that later runs would take for real."""
    if os.path.exists(spec["creates"]):
        return False
    if check:
        return True
    scratch, dest = spec.get("scratch"), spec.get("dest")
    if scratch and dest and os.path.lexists(dest):
        raise Failure("%s exists but %s does not: move it away and rerun" % (dest, spec["creates"]))
    if scratch and os.path.islink(scratch):
        raise Failure("%s is a symlink: move it away and rerun" % scratch)
    if scratch and os.path.isdir(scratch):
        shutil.rmtree(scratch)
    elif scratch and os.path.lexists(scratch):
        os.unlink(scratch)
    _must(spec["argv"], timeout=int(spec.get("timeout") or 600))
    if scratch and dest:
        if not os.path.isdir(scratch):
            raise Failure("%s did not create %s" % (spec["argv"][0], scratch))
        os.rename(scratch, dest)
    return True
