"""Upgrades with a way back: one previous generation per component.

When a run moves a component from the version its ledger record holds (A) to another (B),
the component step first saves generation A under <state>/generations/<component>/<A>:
its configuration files and units as they are (bytes, mode, owner; or that they were
absent), its ledger record, and a pg_dump of each PostgreSQL database it owns, taken while A
still runs. Then B is converged and must pass its health gate: started, answering, and its
health path with an expected status. If it does not, the generation is put back (files and
units rewritten, databases restored from the dumps with the service stopped, A restarted and
gated again), B's runtime tree is removed and the run fails naming B, A and why. If it does,
generation A stays as the rollback target and older trees and generations are pruned.
The ledger's `upgrades` list records every attempt and how it ended.

Stdlib only, Python 3.9 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import shutil
import time
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, build_opener

try:
    from ansible.module_utils.aiws_common import (
        Failure,
        ledger_to_update,
        must_run,
        now,
        read_ledger,
        write_atomic,
        write_json,
    )
    from ansible.module_utils.aiws_postgres import recreate_from_dump, run_tool
    from ansible.module_utils.aiws_units import wait_ready
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        Failure,
        ledger_to_update,
        must_run,
        now,
        read_ledger,
        write_atomic,
        write_json,
    )
    from aiws.module_utils.aiws_postgres import recreate_from_dump, run_tool
    from aiws.module_utils.aiws_units import wait_ready

GENERATION_FILE = "generation.json"
UNPACK_MARKER = ".aiws-bundle-sha256"  # what aiws_unpack leaves in every tree it made
DATA_SECONDS = 1800
SYSTEMCTL_SECONDS = 300
UPGRADES_KEPT = 100


def generations_root(ledger_path):
    return os.path.join(os.path.dirname(ledger_path), "generations")


def generation_dir(ledger_path, name, version):
    return os.path.join(generations_root(ledger_path), name, version)


def load_generation(ledger_path, name, version):
    """A saved generation (with `dir`, where it lies), or None."""
    directory = generation_dir(ledger_path, name, version)
    try:
        with open(os.path.join(directory, GENERATION_FILE)) as handle:
            generation = json.load(handle)
    except (OSError, ValueError):
        return None
    generation["dir"] = directory
    generation["ledger"] = ledger_path
    return generation


def saved_versions(ledger_path, name):
    """The versions a component has a saved generation of (normally one)."""
    parent = os.path.join(generations_root(ledger_path), name)
    if not os.path.isdir(parent):
        return []
    return sorted(
        entry
        for entry in os.listdir(parent)
        if os.path.isfile(os.path.join(parent, entry, GENERATION_FILE))
    )


class Upgrade(object):
    """A component moving from `old` to `new` in this run, its generation `old` saved."""

    def __init__(self, params, old, record):
        self.params = params
        self.name = params["name"]
        self.old = old
        self.new = params["version"]
        self.record = record
        self.directory = generation_dir(params["ledger"], self.name, old)


def begin(params, check):
    """Save the running generation when this run changes the component's version; None when
    it does not (a first install, a rerun, a check)."""
    if check:
        return None
    ledger = read_ledger(params["ledger"]) or {}
    record = (ledger.get("components") or {}).get(params["name"])
    old = str((record or {}).get("version") or "")
    if old and old == params["version"]:
        _settle(params, ledger, old)
    if not old or not params["version"] or old == params["version"]:
        return None
    upgrade = Upgrade(params, old, record)
    _save(upgrade)
    _event(upgrade, "started")
    return upgrade


def _settle(params, ledger, version):
    """An install that asks for the version that runs, after an upgrade to another one was
    rolled back: recorded (`stays`), so that status no longer reports the version the
    rolled-back upgrade asked for. Nothing is written on an ordinary rerun."""
    events = [
        e for e in ledger.get("upgrades") or []
        if isinstance(e, dict) and e.get("component") == params["name"]
    ]  # fmt: skip
    if not events or events[-1].get("outcome") in ("upgraded", "stays"):
        return
    entry = {"component": params["name"], "from": version, "to": version, "outcome": "stays"}
    record_event(params["ledger"], dict(entry, run=params["run"]))


def _paths(params):
    """Every file and unit the component step writes (what a rollback must put back)."""
    files = [spec["dest"] for spec in params["prepare_files"] + params["files"]]
    units = ([params["unit"]] if params["unit"] else []) + list(params["extra_units"])
    return files + [os.path.join(params["unit_dir"], unit["name"]) for unit in units]


def _file_state(path):
    if not os.path.isfile(path) or os.path.islink(path):
        return {"dest": path, "absent": True}
    info = os.stat(path)
    with open(path, "rb") as handle:
        content = base64.b64encode(handle.read()).decode("ascii")
    return {
        "dest": path,
        "mode": info.st_mode & 0o7777,
        "uid": info.st_uid,
        "gid": info.st_gid,
        "content": content,
    }


def _pg(postgres):
    """How pg_dump and pg_restore reach the cluster: the component step's `postgres`
    ({psql, socket_dir, port}) and the directory of its binaries."""
    return dict(postgres or {}, pg_bin=os.path.dirname((postgres or {}).get("psql") or ""))


def _save(upgrade):
    """Write generation `old` whole, then move it in place: a half-saved one never counts."""
    params = upgrade.params
    partial = upgrade.directory + ".partial"
    _remove_tree(partial)
    os.makedirs(partial, 0o700)
    for database in params["databases"]:
        dump = os.path.join(partial, database["name"] + ".dump")
        args = ["--format=custom", "-f", dump, database["name"]]
        run_tool(_pg(params["postgres"]), "pg_dump", args, DATA_SECONDS)
    units = ([params["unit"]] if params["unit"] else []) + list(params["extra_units"])
    generation = {
        "component": upgrade.name,
        "version": upgrade.old,
        "saved_at": now(),
        "saved_before": upgrade.new,
        "record": upgrade.record,
        "files": [_file_state(path) for path in _paths(params)],
        "unit": params["unit"]["name"] if params["unit"] else "",
        "started_units": [u["name"] for u in params["extra_units"] if u.get("start")],
        "all_units": [u["name"] for u in units],
        "databases": [{"name": d["name"], "owner": d["owner"]} for d in params["databases"]],
        "postgres": params["postgres"] or {},
        "ready": params["ready"] or {},
    }
    write_atomic(
        os.path.join(partial, GENERATION_FILE),
        (json.dumps(generation, indent=1, sort_keys=True) + "\n").encode("utf-8"),
    )
    _remove_tree(upgrade.directory)
    os.rename(partial, upgrade.directory)


def healthy(name, unit, ready):
    """The health gate: the unit answers (wait_ready), and an HTTP health path answers one of
    its expected statuses within the same time (a sealed Vault answers, but 503)."""
    wait_ready(name, unit, ready)
    expect = ready.get("expect") or []
    if ready.get("type") != "http" or not expect:
        return
    deadline = time.monotonic() + float(ready.get("timeout") or 60)
    status = None
    while True:
        status = _status(ready["url"])
        if status in expect:
            return
        if time.monotonic() >= deadline:
            raise Failure("%s answered %s on its health path, not %s" % (name, status, expect))
        time.sleep(0.2)


def _status(url):
    opener = build_opener(ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(url, timeout=3) as answer:
            return answer.status
    except HTTPError as exc:
        return exc.code
    except (URLError, OSError):
        return None


def succeeded(upgrade):
    """The new version passed its gate: keep generation `old` and the trees of both versions,
    prune every older tree and generation."""
    _prune(upgrade, keep_versions=(upgrade.old, upgrade.new), keep_generations=(upgrade.old,))
    _event(upgrade, "upgraded")


def roll_back(upgrade, reason):
    """Put generation `old` back after `reason`; returns the Failure that ends the run."""
    try:
        restore(load_generation(upgrade.params["ledger"], upgrade.name, upgrade.old))
    except (Failure, OSError) as exc:
        _event(upgrade, "rollback failed", "%s; then: %s" % (reason, exc))
        return Failure(
            "%s %s failed (%s) and its rollback to %s failed too (%s): see docs/upgrade.md"
            % (upgrade.name, upgrade.new, reason, upgrade.old, exc)
        )
    # B's tree is of no use; generation A is what runs again. An earlier generation (the
    # target of `aiws rollback`) stays.
    for root in _trees(upgrade.params["record"] or {}):
        _remove_unpacked(os.path.join(root, upgrade.new))
    _remove_tree(upgrade.directory)
    _event(upgrade, "rolled back", reason)
    return Failure(
        "%s %s did not become healthy (%s); rolled back to %s, healthy again"
        % (upgrade.name, upgrade.new, reason, upgrade.old)
    )


def restore(generation, with_data=True):
    """A saved generation put back and gated: files and units as they were, databases from
    their dumps when `with_data` (service stopped), the service restarted and healthy, and
    its ledger record back."""
    if not generation:
        raise Failure("no saved generation to go back to")
    for saved in generation["files"]:
        _put_back(saved)
    if generation["all_units"]:
        _systemctl("daemon-reload")
    units = [generation["unit"]] if generation["unit"] else []
    databases = generation["databases"] if with_data else []
    if databases and units:
        _systemctl("stop", "--", *(units + generation["started_units"]))
    for database in databases:
        _restore_database(generation, database)
    for unit in units + generation["started_units"]:
        _systemctl("restart", unit)
    if units and generation["ready"]:
        healthy(generation["component"], units[0], generation["ready"])
    ledger = ledger_to_update(generation["ledger"], False)
    ledger.setdefault("components", {})[generation["component"]] = generation["record"]
    write_json(generation["ledger"], ledger)


def _systemctl(*args):
    must_run(["systemctl", *args], SYSTEMCTL_SECONDS)


def _put_back(saved):
    path = saved["dest"]
    if saved.get("absent"):
        # Only a regular file the new release wrote; a symlink an operator put there (which
        # the component step refuses) is theirs.
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
        return
    data = base64.b64decode(saved["content"])
    write_atomic(path, data, int(saved["mode"]), int(saved["uid"]), int(saved["gid"]))


def _restore_database(generation, database):
    dump = os.path.join(generation["dir"], database["name"] + ".dump")
    if not os.path.isfile(dump):
        raise Failure("the dump of %s is missing (%s)" % (database["name"], dump))
    pg = _pg(generation["postgres"])
    recreate_from_dump(pg, database["name"], database["owner"], dump, DATA_SECONDS)


def _trees(record):
    """The component's own runtime roots (a shared artifact's root is not the component's)."""
    return [root for root in record.get("runtime") or [] if os.path.isdir(root)]


def _prune(upgrade, keep_versions, keep_generations):
    for root in _trees(upgrade.params["record"] or {}):
        for entry in sorted(os.listdir(root)):
            if entry not in keep_versions:
                _remove_unpacked(os.path.join(root, entry))
    parent = os.path.dirname(upgrade.directory)
    for entry in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
        if entry not in keep_generations:
            _remove_tree(os.path.join(parent, entry))


def _remove_unpacked(tree):
    """A runtime tree aiws_unpack made (it holds the unpack marker); nothing else."""
    if not os.path.islink(tree) and os.path.isfile(os.path.join(tree, UNPACK_MARKER)):
        shutil.rmtree(tree)


def _remove_tree(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _event(upgrade, outcome, reason=""):
    """The attempt and how it ended, in the ledger's `upgrades` (one entry per attempt)."""
    entry = {
        "component": upgrade.name,
        "from": upgrade.old,
        "to": upgrade.new,
        "run": upgrade.params["run"],
        "outcome": outcome,
    }
    if outcome == "started":
        record_event(upgrade.params["ledger"], dict(entry, started_at=now()), finished=False)
    else:
        record_event(upgrade.params["ledger"], dict(entry, reason=reason))


def record_event(ledger_path, entry, finished=True):
    """Append an upgrade or rollback to the ledger's `upgrades`; a finished one replaces the
    same run's `started` entry of that component (keeping when it started). An entry left
    `started` is an attempt that was interrupted."""
    ledger = ledger_to_update(ledger_path, False)
    history = [e for e in ledger.get("upgrades") or [] if isinstance(e, dict)]
    if finished:
        started = [
            e for e in history
            if e.get("outcome") == "started" and e.get("run") == entry.get("run")
            and e.get("component") == entry.get("component")
        ]  # fmt: skip
        if started:
            entry = dict(entry, started_at=started[-1].get("started_at", ""))
            history.remove(started[-1])
        entry = dict(entry, finished_at=now())
    history.append(entry)
    ledger["upgrades"] = history[-UPGRADES_KEPT:]
    write_json(ledger_path, ledger)


def forget_generation(ledger_path, name, version):
    """A generation that runs again (after a rollback) is no way back any more."""
    _remove_tree(generation_dir(ledger_path, name, version))
