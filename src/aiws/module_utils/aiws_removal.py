"""Removing what aiws made, driven by the ledger: paths (each reported removed, absent or
would-remove, so a dry run prints the real run's plan) and a whole component (its units and
runtime trees on every uninstall; its data, secrets, packages and accounts on a purge).
Stdlib only, Python 3.9 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

try:
    from ansible.module_utils.aiws_common import (
        component_record,
        read_ledger,
        set_record,
        write_json,
    )
    from ansible.module_utils.aiws_packages import absent as packages_absent
    from ansible.module_utils.aiws_units import remove_accounts, remove_unit
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        component_record,
        read_ledger,
        set_record,
        write_json,
    )
    from aiws.module_utils.aiws_packages import absent as packages_absent
    from aiws.module_utils.aiws_units import remove_accounts, remove_unit


def unsafe(path):
    """Anything but an absolute, normalised path below the root. ("//" is the root too:
    POSIX lets normpath keep a leading double slash, so it is refused by name.)"""
    return (
        not path.startswith("/")
        or path.startswith("//")
        or os.path.normpath(path) != path
        or path.rstrip("/") == ""
        or ".." in path.split("/")
    )


def _holds(directory, keep):
    return [k for k in keep if k == directory or k.startswith(directory.rstrip("/") + "/")]


def remove_path(path, check_mode, keep=()):
    """Remove one path (a directory recursively), never one in `keep` or their parents (a
    directory holding one is emptied of everything else): its status word."""
    if not os.path.lexists(path):
        return "absent"
    kept = _holds(path, keep)
    if path in kept:
        return "kept"
    if check_mode:
        return "would remove"
    if kept and os.path.isdir(path) and not os.path.islink(path):
        # Emptied of everything but what is kept: a change only if something went.
        inside = [
            remove_path(os.path.join(path, name), check_mode, kept) for name in os.listdir(path)
        ]
        return "removed" if "removed" in inside else "kept"
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return "removed"


def outside(path, roots):
    """Whether `path` is neither one of `roots` nor below one: not aiws's to remove."""
    return not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def refused(paths, roots):
    """The first path removal must refuse (unsafe, or outside aiws's own `roots`): the
    reason in one line, or None. Whatever a ledger says, only aiws's paths go."""
    if not roots or any(unsafe(root) for root in roots):
        return "refusing to remove anything: no valid roots of aiws's own paths given"
    for path in paths:
        if unsafe(path):
            return "refusing to remove unsafe path %r" % path
        if outside(path, roots):
            return "refusing to remove %s: not under aiws's own paths (%s)" % (
                path,
                ", ".join(sorted(roots)),
            )
    return None


def remove_paths(paths, check_mode, roots, keep=()):
    """Each of `paths` removed; ValueError naming the first one removal refuses (unsafe or
    outside `roots`), before any change."""
    problem = refused(paths, roots)
    if problem:
        raise ValueError(problem)
    keep = [os.path.normpath(k) for k in keep or []]
    return [{"path": p, "status": remove_path(p, check_mode, keep)} for p in paths]


def component_absent(params, purge, check):
    """Uninstall one component as its ledger record says. Every uninstall stops and removes
    its units and runtime trees and keeps a record of what a purge must remove; a purge
    also removes its data, configuration and secrets, the packages aiws installed for it
    (exactly those), its accounts, and forgets it. Only paths under `roots` (aiws's own, from
    the catalog) are removed: a record naming anything else removes nothing."""
    name, ledger_path = params["name"], params["ledger"]
    ledger = read_ledger(ledger_path) or {}
    record = component_record(ledger, name)
    secrets = [os.path.join(params["secrets_dir"], s) for s in record["secrets"]]
    roots = params["roots"]
    problem = refused(record["runtime"] + record["paths"] + secrets, roots)
    if problem:  # before any change: a damaged record removes nothing
        raise ValueError("%s: %s" % (name, problem))
    result = {"changed": False, "aiws_paths": [], "actions": []}
    units = list(record["units"])
    if params.get("unit") and params["unit"]["name"] not in units:
        units.append(params["unit"]["name"])
    for unit in units:
        remove_unit(unit, params["unit_dir"], check, result)
    result["aiws_paths"] += remove_paths(record["runtime"], check, roots)
    if not purge:
        if "version" in record:
            kept = dict(record, units=[], runtime=[], files=[])
            if set_record(ledger_path, name, kept, (), "", check):
                result["actions"].append("recorded")
    else:
        result["aiws_paths"] += remove_paths(record["paths"] + secrets, check, roots)
        if record["packages"]:
            purged = packages_absent(
                {"component": name, "ledger": ledger_path, "purge_paths": params["purge_paths"]},
                check,
            )
            result["aiws_paths"] += purged["aiws_paths"]
            result["actions"] += ["purged %s" % p for p in purged["purged"]]
        remove_accounts(record["users"], record["groups"], check, result)
        if _forget(ledger_path, name, check):
            result["actions"].append("forgotten")
    result["changed"] = bool(result["actions"]) or any(
        p["status"] not in ("absent", "kept") for p in result["aiws_paths"]
    )
    return result


def _forget(path, component, check):
    """Drop the component's record, and the secrets recorded as its, from the ledger."""
    ledger = read_ledger(path)
    if ledger is None or component not in (ledger.get("components") or {}):
        return False
    ledger["components"].pop(component)
    secrets = ledger.get("secrets") or {}
    for name in [n for n, s in secrets.items() if s.get("component") == component]:
        secrets.pop(name)
    if not check:
        write_json(path, ledger)
    return True
