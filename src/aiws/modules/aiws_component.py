#!/usr/bin/python3
"""Ansible module: converge one component's host state in a single call, or remove it.

In order: its secrets (generated once, recorded), its system user, directories and the
files it needs before its packages, its PostgreSQL databases and owners, its Debian
packages from the bundle's repository (recorded at once), its one-time initialisations, its
configuration files (secrets filled in on the host from @AIWS_SECRET(name)@), its systemd
unit enabled, running and restarted exactly when the unit or a file changed, the wait until
it answers, and its ledger record. Each part reports whether it changed anything; a
no-change rerun of a component is this one call. With state absent or purged, the same one
call uninstalls it as its ledger record says (aiws_removal). Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_component
short_description: Converge a component (secrets, databases, packages, files, unit, record)
options:
  state:
    description: >-
      present: converge the component (everything below). absent: uninstall it as its
      ledger record says (stop and remove its units and runtime trees, keep the record of
      what a purge removes). purged: also remove its data, configuration, secrets, the
      packages aiws installed for it and its accounts, and forget it.
    type: str
    choices: [present, absent, purged]
    default: present
  purge_paths:
    description: With state=purged, paths its purged packages leave behind.
    type: list
    elements: path
    default: []
  roots:
    description: >-
      With state absent or purged: aiws's own paths (the catalog's roots, the component's
      declared paths); a record naming a path outside them removes nothing.
    type: list
    elements: path
    default: []
  name:
    description: The component (its ledger record and its secrets' owner).
    type: str
    required: true
  version:
    description: The component's version.
    type: str
    default: ""
  ledger:
    description: The aiws ledger.
    type: path
    default: /var/lib/aiws/state.json
  run:
    description: The run id (recorded with new secrets).
    type: str
    default: ""
  secrets:
    description: The component's secrets, each {name, mode, group, generated}.
    type: list
    elements: dict
    default: []
  secrets_dir:
    description: Where secrets live.
    type: path
    default: /var/lib/aiws/secrets
  user:
    description: The component's system user {name, home}.
    type: dict
  directories:
    description: Directories {path, owner, group, mode}.
    type: list
    elements: dict
    default: []
  prepare_files:
    description: Files {dest, content, owner, group, mode} written before the packages.
    type: list
    elements: dict
    default: []
  databases:
    description: PostgreSQL databases, each {name, owner, secret_path}.
    type: list
    elements: dict
    default: []
  postgres:
    description: How to reach the cluster, {psql, socket_dir, port}.
    type: dict
  packages:
    description: Debian packages from the bundle's repository.
    type: list
    elements: str
    default: []
  apt:
    description: "{repo, state_dir, baseline}: the bundle's repository and aiws's apt state."
    type: dict
  init:
    description: One-time initialisations, each {argv, creates, scratch, dest}.
    type: list
    elements: dict
    default: []
  files:
    description: Configuration files {dest, content, owner, group, mode}.
    type: list
    elements: dict
    default: []
  unit:
    description: The systemd unit {name, content} of a service.
    type: dict
  extra_units:
    description: >-
      Further units of the component {name, content, start}: a timer and its oneshot
      service, say; those with start true are enabled and started.
    type: list
    elements: dict
    default: []
  unit_dir:
    description: Where unit files live.
    type: path
    default: /etc/systemd/system
  restart:
    description: Restart even if no file changed.
    type: bool
    default: false
  ready:
    description: How to know it answers, {type, command, url, host, port, timeout}.
    type: dict
  record:
    description: The component's ledger record, written last.
    type: dict
  merge:
    description: Record fields whose recorded items are kept and added to.
    type: list
    elements: str
    default: [packages, users, groups]
  aiws_version:
    description: Version of aiws writing the record.
    type: str
    default: ""
  checks:
    description: >-
      Commands run last, each {argv, stdout}: the run fails unless each exits 0 and prints
      `stdout` (e.g. that the bundle's binary runs on this host). Not run in check mode.
    type: list
    elements: dict
    default: []
"""

try:
    from ansible.module_utils.aiws_common import Failure, module_main, must_run, set_record
    from ansible.module_utils.aiws_generations import begin, healthy, roll_back, succeeded
    from ansible.module_utils.aiws_packages import present as packages_present
    from ansible.module_utils.aiws_postgres import converge as databases_present
    from ansible.module_utils.aiws_removal import component_absent
    from ansible.module_utils.aiws_secrets import ensure_secrets
    from ansible.module_utils.aiws_units import converge as host_state
    from ansible.module_utils.aiws_units import run_once
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, must_run, set_record
    from aiws.module_utils.aiws_generations import begin, healthy, roll_back, succeeded
    from aiws.module_utils.aiws_packages import present as packages_present
    from aiws.module_utils.aiws_postgres import converge as databases_present
    from aiws.module_utils.aiws_removal import component_absent
    from aiws.module_utils.aiws_secrets import ensure_secrets
    from aiws.module_utils.aiws_units import converge as host_state
    from aiws.module_utils.aiws_units import run_once

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent", "purged"], "default": "present"},
    "purge_paths": {"type": "list", "elements": "path", "default": []},
    "roots": {"type": "list", "elements": "path", "default": []},
    "version": {"type": "str", "default": ""},
    "ledger": {"type": "path", "default": "/var/lib/aiws/state.json"},
    "run": {"type": "str", "default": ""},
    "secrets": {"type": "list", "elements": "dict", "default": []},
    "secrets_dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "user": {"type": "dict"},
    "directories": {"type": "list", "elements": "dict", "default": []},
    "prepare_files": {"type": "list", "elements": "dict", "default": []},
    "databases": {"type": "list", "elements": "dict", "default": []},
    "postgres": {"type": "dict"},
    "packages": {"type": "list", "elements": "str", "default": []},
    "apt": {"type": "dict"},
    "init": {"type": "list", "elements": "dict", "default": []},
    "files": {"type": "list", "elements": "dict", "default": []},
    "unit": {"type": "dict"},
    "extra_units": {"type": "list", "elements": "dict", "default": []},
    "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
    "restart": {"type": "bool", "default": False},
    "ready": {"type": "dict"},
    "record": {"type": "dict"},
    "merge": {"type": "list", "elements": "str", "default": ["packages", "users", "groups"]},
    "aiws_version": {"type": "str", "default": ""},
    "checks": {"type": "list", "elements": "dict", "default": []},
}


def _host(params, files, unit, check):
    return host_state(
        {
            "name": params["name"],
            "user": params["user"] if unit is None else None,
            "directories": params["directories"] if unit is None else [],
            "files": files,
            "secrets_dir": params["secrets_dir"],
            "unit": unit,
            "extra_units": params["extra_units"] if unit is not None else [],
            "unit_dir": params["unit_dir"],
            "restart": params["restart"],
            "ready": params["ready"],
        },
        check,
    )


def converge(params, check):
    """Converge the component; when the run changes its version, an upgrade with a way back
    (aiws_generations): the running generation saved first, the new one health-gated, and
    put back when it fails."""
    upgrade = begin(params, check)
    if upgrade is None:
        return _converge(params, check)
    try:
        result = _converge(params, check)
        if params["unit"] and params["ready"]:
            healthy(params["name"], params["unit"]["name"], params["ready"])
    except (Failure, OSError) as exc:
        raise roll_back(upgrade, str(exc)) from None
    succeeded(upgrade)
    result["upgraded"] = {"from": upgrade.old, "to": upgrade.new}
    return result


def _converge(params, check):
    result = {"changed": False}

    def part(name, outcome):
        result[name] = outcome
        result["changed"] = result["changed"] or bool(outcome.get("changed"))

    if params["secrets"]:
        part(
            "secrets",
            ensure_secrets(
                params["secrets"],
                params["secrets_dir"],
                params["ledger"],
                params["name"],
                params["run"],
                check,
            ),
        )
    # User, directories and early files come before the packages (postgresql-common reads
    # its settings when its package arrives).
    part("host", _host(params, params["prepare_files"], None, check))
    if params["databases"]:
        part(
            "databases",
            databases_present(dict(params["postgres"] or {}, databases=params["databases"]), check),
        )
    if params["packages"]:
        part(
            "packages",
            packages_present(
                dict(
                    params["apt"] or {},
                    component=params["name"],
                    version=params["version"],
                    packages=params["packages"],
                    ledger=params["ledger"],
                ),
                check,
            ),
        )
    initialised = [spec["creates"] for spec in params["init"] if run_once(spec, check)]
    part("init", {"changed": bool(initialised), "ran": initialised})
    if params["unit"] or params["files"] or params["extra_units"]:
        part("service", _host(params, params["files"], params["unit"], check))
    if params["record"]:
        recorded = set_record(
            params["ledger"],
            params["name"],
            params["record"],
            params["merge"],
            params["aiws_version"],
            check,
        )
        part("record", {"changed": recorded})
    if not check:
        for spec in params["checks"]:
            run_check(spec)
    return result


CHECK_TIMEOUT = 60


def run_check(spec):
    """One of the component's checks: `argv` exits 0 and prints `stdout`; Failure if not."""
    printed = must_run(spec["argv"], CHECK_TIMEOUT).stdout.strip()
    if printed != spec["stdout"]:
        raise Failure(
            "%s printed %r, expected %r" % (spec["argv"][0], printed[:200], spec["stdout"])
        )


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        if params["state"] != "present":
            return component_absent(params, params["state"] == "purged", check_mode)
        return converge(params, check_mode)
    except (Failure, ValueError) as exc:
        return {"failed": True, "msg": "%s: %s" % (params["name"], exc)}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
