#!/usr/bin/python3
"""Ansible module: record what aiws created on a host, in its state ledger (JSON).

Idempotent: a component record that did not change leaves the file untouched and reports
changed=false. Writes are atomic (temp file + rename) and the file is 0600. Stdlib only;
`update()` is also called in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_ledger
short_description: Record components and runs in the aiws state ledger
options:
  path:
    description: Ledger file.
    type: path
    required: true
  component:
    description: Component whose record is set (state=present) or dropped (state=absent).
    type: str
  record:
    description: version, paths, runtime, units, packages, users, groups, secrets of the component.
    type: dict
  state:
    description: >-
      present / absent: whether the component record should exist. query: read only; returns
      the component's record (every list field present) as `record`, the ledger's secrets
      and its runs.
    type: str
    choices: [present, absent, query]
    default: present
  run:
    description: A run to append to the history (bookkeeping; always a change).
    type: dict
  remove_file:
    description: Delete the ledger itself (the last step of a purge).
    type: bool
    default: false
  secret:
    description: >-
      A secret aiws generated ({name, path, run, component}); recorded once, with the run that
      created it, so `aiws secrets list` and purge know it. The value is never in the ledger.
    type: dict
  merge:
    description: >-
      Record fields (e.g. packages) whose recorded items are kept and added to, not
      replaced: what an earlier, interrupted run installed stays known.
    type: list
    elements: str
    default: []
  aiws_version:
    description: Version of aiws writing the ledger.
    type: str
    default: ""
"""

import json
import os

try:
    from ansible.module_utils.aiws_common import (
        RECORD_LISTS,
        LedgerError,
        add_run,
        component_record,
        empty_ledger,
        merge_record,
        module_main,
        read_ledger,
        record_secret,
        write_json,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        RECORD_LISTS,
        LedgerError,
        add_run,
        component_record,
        empty_ledger,
        merge_record,
        module_main,
        read_ledger,
        record_secret,
        write_json,
    )


def load(path):
    """The ledger, or None when there is none (LedgerError when corrupt)."""
    return read_ledger(path)


def update(
    path,
    component=None,
    record=None,
    state="present",
    run=None,
    remove_file=False,
    aiws_version="",
    check=False,
    secret=None,
    merge=(),
):
    """Apply one change to the ledger; returns (changed, ledger_after)."""
    current = load(path)
    if remove_file:
        if current is not None and not check:
            os.unlink(path)
        return current is not None, None
    if current is None and state == "absent" and not (run or secret):
        return False, None  # nothing recorded: nothing to forget, and no ledger to start
    ledger = current if current is not None else empty_ledger(aiws_version)
    before = json.dumps(ledger, sort_keys=True)
    components = ledger.setdefault("components", {})
    if component and state == "absent":
        components.pop(component, None)
        for name in [
            n for n, s in ledger.get("secrets", {}).items() if s.get("component") == component
        ]:
            ledger["secrets"].pop(name)
    elif component:
        merge_record(components, component, record, merge)
    if secret:
        record_secret(
            ledger,
            secret["name"],
            secret.get("path", ""),
            secret.get("component", ""),
            secret.get("run", ""),
        )
    if run:
        add_run(ledger, run)
    if aiws_version and ledger.get("aiws_version") != aiws_version and (component or run):
        ledger["aiws_version"] = aiws_version
    changed = current is None or json.dumps(ledger, sort_keys=True) != before
    if changed and not check:
        write_json(path, ledger)
    return changed, ledger


ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "component": {"type": "str"},
    "record": {"type": "dict"},
    "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
    "run": {"type": "dict"},
    "remove_file": {"type": "bool", "default": False},
    "aiws_version": {"type": "str", "default": ""},
    "secret": {"type": "dict"},
    "merge": {"type": "list", "elements": "str", "default": []},
}


def query(params):
    ledger = load(params["path"]) or {}
    return {
        "changed": False,
        "exists": bool(ledger),
        "components": sorted(ledger.get("components", {})),
        "record": component_record(ledger, params["component"]) if params["component"] else {},
        "secrets": ledger.get("secrets", {}),
        "runs": ledger.get("runs", []),
    }


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        if params["state"] == "query":
            return query(params)
        return _change(params, check_mode)
    except LedgerError as exc:
        return {"failed": True, "msg": str(exc)}


def _change(params, check_mode):
    if params["secret"] and not params["secret"].get("name"):
        return {"failed": True, "msg": "secret needs a name"}
    bad = [key for key in params["merge"] or [] if key not in RECORD_LISTS]
    if bad:
        return {"failed": True, "msg": "merge: not a list field of a record: %s" % bad[0]}
    if params["component"] and params["state"] == "present" and not params["record"]:
        return {
            "failed": True,
            "msg": "record is required to set component %s" % params["component"],
        }
    changed, ledger = update(check=check_mode, **params)
    return {
        "changed": changed,
        "path": params["path"],
        "components": sorted((ledger or {}).get("components", {})),
    }


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
