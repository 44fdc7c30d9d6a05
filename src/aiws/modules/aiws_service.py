#!/usr/bin/python3
"""Ansible module: converge one aiws service in a single call.

The service user, its directories, its configuration files, its systemd unit, enabled and
running, restarted exactly when its unit or a file changed (or when asked), then waited for
until it answers. `changed` is true only when something was created, rewritten, repaired or
(re)started. File contents may name secrets as @AIWS_SECRET(name)@: the value is read from
the secrets directory on the host, so no secret travels in the task's arguments or its log.

With `ledger` and `record`, the component's ledger record is written in the same call.
state=absent stops and disables the unit and removes its file (what every uninstall does);
with `users`/`groups` it also removes those accounts (what a purge does). Check mode reports
what would change. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_service
short_description: Converge an aiws service (user, directories, files, unit, running, ready)
options:
  name:
    description: The component, for messages.
    type: str
    required: true
  state:
    description: started (converge) or absent (stop, disable, remove the unit).
    type: str
    choices: [started, absent]
    default: started
  user:
    description: The service's system user {name, home}; created (with its group) when missing.
    type: dict
  directories:
    description: Directories {path, owner, group, mode}.
    type: list
    elements: dict
    default: []
  files:
    description: Files {dest, content, owner, group, mode}; content may hold @AIWS_SECRET(name)@.
    type: list
    elements: dict
    default: []
  secrets_dir:
    description: Where @AIWS_SECRET(name)@ values are read from.
    type: path
    default: /var/lib/aiws/secrets
  unit:
    description: The systemd unit {name, content}; omitted for a component without a unit.
    type: dict
  unit_dir:
    description: Where unit files live.
    type: path
    default: /etc/systemd/system
  restart:
    description: Restart even if nothing here changed (a change the role made itself).
    type: bool
    default: false
  ready:
    description: >-
      Wait after start until the service answers: {type: command|tcp|http, command, host, port,
      url, timeout}. http is ready on any HTTP answer.
    type: dict
  users:
    description: With state=absent, accounts to remove.
    type: list
    elements: str
    default: []
  groups:
    description: With state=absent, groups to remove.
    type: list
    elements: str
    default: []
  ledger:
    description: The aiws ledger, where `record` is written once the service converged.
    type: path
  record:
    description: The component's ledger record (version, paths, runtime, units, ...).
    type: dict
  merge:
    description: Record fields whose recorded items are kept and added to.
    type: list
    elements: str
    default: []
  aiws_version:
    description: Version of aiws writing the record.
    type: str
    default: ""
  create_ledger:
    description: Start the ledger when there is none (the base layout does).
    type: bool
    default: false
"""

try:
    from ansible.module_utils.aiws_common import Failure, module_main, set_record
    from ansible.module_utils.aiws_units import converge, remove
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, set_record
    from aiws.module_utils.aiws_units import converge, remove

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["started", "absent"], "default": "started"},
    "user": {"type": "dict"},
    "directories": {"type": "list", "elements": "dict", "default": []},
    "files": {"type": "list", "elements": "dict", "default": []},
    "secrets_dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "unit": {"type": "dict"},
    "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
    "restart": {"type": "bool", "default": False},
    "ready": {"type": "dict"},
    "users": {"type": "list", "elements": "str", "default": []},
    "groups": {"type": "list", "elements": "str", "default": []},
    "ledger": {"type": "path"},
    "record": {"type": "dict"},
    "merge": {"type": "list", "elements": "str", "default": []},
    "aiws_version": {"type": "str", "default": ""},
    "create_ledger": {"type": "bool", "default": False},
}


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        if params["state"] == "absent":
            return remove(params, check_mode)
        result = converge(params, check_mode)
        if params["ledger"] and params["record"]:
            recorded = set_record(
                params["ledger"], params["name"], params["record"], params["merge"],
                params["aiws_version"], check_mode, params["create_ledger"],
            )  # fmt: skip
            result["changed"] = result["changed"] or recorded
        return result
    except Failure as exc:
        return {"failed": True, "msg": "%s: %s" % (params["name"], exc)}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
