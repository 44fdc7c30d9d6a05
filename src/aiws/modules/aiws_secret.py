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
      present (create when missing), set (store `value`, a secret the operator brings),
      query (exists?), read (with reveal), absent, or list (every secret the ledger
      records, with whether its file exists; no values).
    type: str
    choices: [present, set, query, read, absent, list]
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
  value:
    description: With state=set, the value to store (never returned, never logged).
    type: str
  reveal:
    description: With state=read, return the value (only `aiws secrets show` does).
    type: bool
    default: false
  secrets:
    description: >-
      state=present for many secrets in one call: each {name, mode, group, generated}; the
      generated ones are made when missing, all are recorded in `ledger` for `component`.
    type: list
    elements: dict
  component:
    description: The component owning `secrets` (recorded in the ledger).
    type: str
  run:
    description: The run creating them (recorded in the ledger).
    type: str
    default: ""
"""

import os

try:
    from ansible.module_utils.aiws_common import Failure, module_main, read_ledger
    from ansible.module_utils.aiws_secrets import (
        check_spec,
        ensure_secret,
        ensure_secrets,
        exists,
        set_secret,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, read_ledger
    from aiws.module_utils.aiws_secrets import (
        check_spec,
        ensure_secret,
        ensure_secrets,
        exists,
        set_secret,
    )

ARGUMENT_SPEC = {
    "name": {"type": "str"},
    "dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "state": {
        "type": "str",
        "choices": ["present", "set", "query", "read", "absent", "list"],
        "default": "present",
    },
    "ledger": {"type": "path", "default": "/var/lib/aiws/state.json"},
    "length": {"type": "int", "default": 32},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "str", "default": "0600"},
    "reveal": {"type": "bool", "default": False},
    "value": {"type": "str", "no_log": True},
    "secrets": {"type": "list", "elements": "dict"},
    "component": {"type": "str"},
    "run": {"type": "str", "default": ""},
}


def list_recorded(ledger):
    """The ledger's secret records (name, path, created run/time) and whether each exists."""
    recorded = (read_ledger(ledger) or {}).get("secrets") or {}
    return [
        dict(record, name=name, exists=exists(record.get("path", "")))
        for name, record in sorted(recorded.items())
    ]


def _read(path, result, reveal):
    if not exists(path):
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
    changed, created = ensure_secret(
        path, params["mode"], params["owner"], params["group"], params["length"], check_mode
    )
    return dict(result, changed=changed, created=created)


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    state = params["state"]
    try:
        if state == "list":
            return {"changed": False, "secrets": list_recorded(params["ledger"])}
        if state == "present" and params["secrets"] is not None:
            return ensure_secrets(
                params["secrets"], params["dir"], params["ledger"], params["component"] or "",
                params["run"], check_mode,
            )  # fmt: skip
        if state == "set":
            changed = set_secret(
                params["dir"], params["name"], params["value"], params["ledger"],
                params["component"] or "operator", check_mode,
            )  # fmt: skip
            path = os.path.join(params["dir"], params["name"])
            return {"changed": changed, "name": params["name"], "path": path}
        check_spec(params["name"], params["mode"])
        path = os.path.join(params["dir"], params["name"])
        result = {"changed": False, "name": params["name"], "path": path, "created": False}
        actions = {
            "query": lambda: dict(result, exists=exists(path)),
            "read": lambda: _read(path, result, params["reveal"]),
            "absent": lambda: _absent(path, result, check_mode),
            "present": lambda: _present(path, params, result, check_mode),
        }
        return actions[state]()
    except Failure as exc:
        return {"failed": True, "msg": str(exc)}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
