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
    description: version, paths, units, packages, users of the component.
    type: dict
  state:
    description: Whether the component record should exist.
    type: str
    choices: [present, absent]
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
      A secret aiws generated ({name, path, run}); recorded once, with the run that created
      it, so `aiws secrets list` and purge know it. The value is never in the ledger.
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

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

SCHEMA = 1
HISTORY_LIMIT = 200
RECORD_FIELDS = ("version", "paths", "units", "packages", "users")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def empty_ledger(aiws_version=""):
    return {"schema": SCHEMA, "aiws_version": aiws_version, "components": {}, "runs": []}


def load(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write(path, data):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _normalised(record):
    out = {"version": str(record.get("version", ""))}
    for key in RECORD_FIELDS[1:]:
        out[key] = sorted(set(record.get(key) or []))
    return out


def _record_secret(ledger, secret):
    """Add a secret's record (name, path, the run that created it) unless it is there."""
    known = ledger.setdefault("secrets", {})
    name = secret["name"]
    existing = known.get(name)
    if existing is not None and existing.get("path") == secret.get("path"):
        return
    known[name] = {
        "path": secret.get("path", ""),
        "created_run": (existing or {}).get("created_run") or secret.get("run") or "",
        "created_at": (existing or {}).get("created_at") or _now(),
    }


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
    ledger = current if current is not None else empty_ledger(aiws_version)
    before = json.dumps(ledger, sort_keys=True)
    components = ledger.setdefault("components", {})
    if component and state == "absent":
        components.pop(component, None)
    elif component:
        existing = components.get(component)
        merged = dict(record or {})
        for key in merge or ():
            merged[key] = list(merged.get(key) or []) + list((existing or {}).get(key) or [])
        wanted = _normalised(merged)
        if existing is None or any(existing.get(k) != wanted[k] for k in RECORD_FIELDS):
            stamp = _now()
            wanted["installed_at"] = (existing or {}).get("installed_at", stamp)
            wanted["updated_at"] = stamp
            components[component] = wanted
    if secret:
        _record_secret(ledger, secret)
    if run:
        ledger.setdefault("runs", []).append(run)
        ledger["runs"] = ledger["runs"][-HISTORY_LIMIT:]
    if aiws_version and ledger.get("aiws_version") != aiws_version and (component or run):
        ledger["aiws_version"] = aiws_version
    changed = current is None or json.dumps(ledger, sort_keys=True) != before
    if changed and not check:
        _write(path, ledger)
    return changed, ledger


ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "component": {"type": "str"},
    "record": {"type": "dict"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "run": {"type": "dict"},
    "remove_file": {"type": "bool", "default": False},
    "aiws_version": {"type": "str", "default": ""},
    "secret": {"type": "dict"},
    "merge": {"type": "list", "elements": "str", "default": []},
}


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    if params["secret"] and not params["secret"].get("name"):
        return {"failed": True, "msg": "secret needs a name"}
    bad = [key for key in params["merge"] or [] if key not in RECORD_FIELDS[1:]]
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
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = run(module.params, module.check_mode)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
