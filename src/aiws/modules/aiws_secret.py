#!/usr/bin/python3
"""Ansible module: one generated secret per purpose, created once and reused forever.

The value is made with `secrets`, written atomically (temp file + rename) with its final
mode and owner already set, and never returned: a task that generates or checks a secret
logs nothing of it. `changed` is true only when the file is created (or its mode/owner
had drifted and was put back). `state=read` with `reveal=true` is how `aiws secrets show`
reads one value; `state=query` says whether it exists. Stdlib only; `run()` is also
called in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_secret
short_description: Generate a secret once, store it 0600 (or 0640 for a service group)
options:
  name:
    description: The secret's name (its file name), e.g. postgresql-aiws_vault (all but list).
    type: str
  dir:
    description: Directory holding the secrets (0700 root).
    type: path
    default: /var/lib/aiws/secrets
  state:
    description: >-
      present (create when missing), query (exists?), read (with reveal), absent, or list
      (every secret the ledger records, with whether its file exists; no values).
    type: str
    choices: [present, query, read, absent, list]
    default: present
  ledger:
    description: The aiws ledger (state=list).
    type: path
    default: /var/lib/aiws/state.json
  length:
    description: Bytes of randomness (the value is URL-safe base64 of them).
    type: int
    default: 32
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file (a service group when mode is 0640).
    type: str
    default: root
  mode:
    description: 0600, or 0640 when a service group must read it.
    type: str
    default: "0600"
  reveal:
    description: With state=read, return the value (only `aiws secrets show` does).
    type: bool
    default: false
"""

import grp
import json
import os
import pwd
import re
import secrets
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MODES = ("0600", "0640", "0400", "0440")

ARGUMENT_SPEC = {
    "name": {"type": "str"},
    "dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "state": {
        "type": "str",
        "choices": ["present", "query", "read", "absent", "list"],
        "default": "present",
    },
    "ledger": {"type": "path", "default": "/var/lib/aiws/state.json"},
    "length": {"type": "int", "default": 32},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "str", "default": "0600"},
    "reveal": {"type": "bool", "default": False},
}


def write_atomic(path, value, mode=0o600, uid=0, gid=0):
    """Write `value` to `path` so that no reader ever sees a partial or wider-open file."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=directory)
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _ids(owner, group):
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def _fix_metadata(path, mode, uid, gid, check):
    info = os.stat(path)
    drift = stat.S_IMODE(info.st_mode) != mode or (info.st_uid, info.st_gid) != (uid, gid)
    if drift and not check:
        os.chmod(path, mode)
        os.chown(path, uid, gid)
    return drift


def _exists(path):
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def list_recorded(ledger):
    """The ledger's secret records (name, path, created run/time) and whether each exists."""
    try:
        with open(ledger) as handle:
            recorded = json.load(handle).get("secrets") or {}
    except (OSError, ValueError):
        recorded = {}
    return [
        dict(record, name=name, exists=_exists(record.get("path", "")))
        for name, record in sorted(recorded.items())
    ]


def _read(path, result, reveal):
    if not _exists(path):
        return dict(
            result, failed=True, msg="secret %s does not exist (%s)" % (result["name"], path)
        )
    if reveal:
        with open(path) as handle:
            result["value"] = handle.read()
    result["exists"] = True
    return result


def _absent(path, result, check_mode):
    result["changed"] = os.path.lexists(path)
    if result["changed"] and not check_mode:
        os.unlink(path)
    return result


def _present(path, params, result, check_mode):
    mode = int(params["mode"], 8)
    try:
        uid, gid = _ids(params["owner"], params["group"])
    except KeyError as exc:
        return dict(result, failed=True, msg="unknown owner or group: %s" % exc)
    if _exists(path):
        result["changed"] = _fix_metadata(path, mode, uid, gid, check_mode)
        return result
    result.update(changed=True, created=True)
    if not check_mode:
        write_atomic(path, secrets.token_urlsafe(max(16, params["length"])), mode, uid, gid)
    return result


def _invalid(params):
    if not NAME.match(params["name"] or ""):
        return "invalid secret name %r" % params["name"]
    if params["mode"] not in MODES:
        return "secret mode must be one of %s" % ", ".join(MODES)
    return None


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    state = params["state"]
    if state == "list":
        return {"changed": False, "secrets": list_recorded(params["ledger"])}
    problem = _invalid(params)
    if problem:
        return {"failed": True, "msg": problem}
    path = os.path.join(params["dir"], params["name"])
    result = {"changed": False, "name": params["name"], "path": path, "created": False}
    actions = {
        "query": lambda: dict(result, exists=_exists(path)),
        "read": lambda: _read(path, result, params["reveal"]),
        "absent": lambda: _absent(path, result, check_mode),
        "present": lambda: _present(path, params, result, check_mode),
    }
    return actions[state]()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = run(module.params, module.check_mode)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
