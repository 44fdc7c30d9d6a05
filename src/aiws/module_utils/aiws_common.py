"""Shared by aiws's Ansible modules: the one ledger reader and durable atomic writes.

Modules import it as `ansible.module_utils.aiws_common` (Ansible ships it with them to the
target) and, when the controller calls a module in-process, as `aiws.module_utils.aiws_common`.
Stdlib only, Python 3.9 compatible (Debian 11 targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import socket
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

LEDGER_SCHEMA = 1
# What a component's ledger record holds: version, then lists of what aiws created.
#   paths: data, config and files kept by a plain uninstall, removed by purge
#   runtime: runtime trees and unit-side files, removed by every uninstall
#   units, packages, users, groups, secrets: by name
# files: what an agent needs in place (its launcher and configuration), checked by status.
RECORD_LISTS = ("paths", "runtime", "units", "packages", "users", "groups", "secrets", "files")


class Failure(Exception):
    """A step cannot converge; the message names the problem and the fix."""


class LedgerError(Failure):
    """The ledger exists but cannot be used; it is never overwritten then."""


def empty_ledger(aiws_version=""):
    return {
        "schema": LEDGER_SCHEMA,
        "aiws_version": aiws_version,
        "components": {},
        "secrets": {},
        "runs": [],
    }


def read_ledger(path):
    """The ledger as a dict, None when there is none; LedgerError when it is corrupt."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LedgerError("cannot read the ledger %s: %s" % (path, exc.strerror or exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LedgerError(
            "the ledger %s is not valid JSON (%s); restore it from a backup "
            "or move it away to start over" % (path, str(exc)[:80])
        ) from None
    problem = _shape_problem(data)
    if problem:
        raise LedgerError(
            "the ledger %s is malformed (%s); restore it from a backup or move "
            "it away to start over" % (path, problem)
        )
    return data


def _shape_problem(data):
    """What makes `data` unusable as a ledger, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    checks = [
        (isinstance(data.get("components", {}), dict), "components is not an object"),
        (isinstance(data.get("secrets", {}), dict), "secrets is not an object"),
        (isinstance(data.get("runs", []), list), "runs is not a list"),
    ]
    problems = [why for ok, why in checks if not ok]
    if problems:
        return problems[0]
    problems += [
        "the record of secret %s is not an object" % name
        for name, secret in data.get("secrets", {}).items()
        if not isinstance(secret, dict)
    ]
    problems += [
        "a run is not an object" for run in data.get("runs", []) if not isinstance(run, dict)
    ]
    problems += [
        _record_problem(name, record) for name, record in data.get("components", {}).items()
    ]
    return next((p for p in problems if p), None)


def _record_problem(name, record):
    if not isinstance(record, dict):
        return "the record of %s is not an object" % name
    for key in RECORD_LISTS:
        if not isinstance(record.get(key, []), list):
            return "%s.%s is not a list" % (name, key)
    return None


def component_record(ledger, name):
    """A component's record from a ledger (or {}): every list field present."""
    record = dict(((ledger or {}).get("components") or {}).get(name) or {})
    for key in RECORD_LISTS:
        record[key] = list(record.get(key) or [])
    return record


def private_dir_problem(path, uid=0):
    """Why `path` is not a directory only `uid` (and root) could have made, or "".

    Ansible runs modules from its temp dirs: whoever can create or swap any directory on the
    way owns what runs there as root. The path (when it exists) must be a real directory of
    `uid` with no group/other access; every directory above must be root's or `uid`'s and
    not writable by others (a root-owned sticky directory such as /tmp is fine above: no one
    else can rename or replace root's entries in it). Missing parts are fine: Ansible makes
    them 0700.
    """
    owners, current = {0, uid}, os.path.abspath(path)
    first = True
    while True:
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            info = None
        if info is not None:
            if stat.S_ISLNK(info.st_mode):
                return "%s is a symlink" % current
            if not stat.S_ISDIR(info.st_mode):
                return "%s is not a directory" % current
            if info.st_uid not in owners:
                return "%s belongs to uid %d" % (current, info.st_uid)
            if first and info.st_mode & 0o077:
                return "%s is open to others (mode %o)" % (current, info.st_mode & 0o777)
            sticky_root = info.st_mode & stat.S_ISVTX and info.st_uid == 0
            if info.st_mode & 0o022 and not sticky_root:
                return "%s is writable by others" % current
        first = False
        if current == "/":
            return ""
        current = os.path.dirname(current)


def write_atomic(path, data, mode=0o600, uid=0, gid=0):
    """Write bytes so that a reader sees the old or the new file, never a part, and the new
    one survives a crash (fsync of the file, then of the directory after the rename)."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".aiws-", dir=directory)
    try:
        os.fchmod(fd, mode)
        if os.geteuid() == 0:
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path, data):
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def record_secret(ledger, name, path, component="", run=""):
    """Record a secret (path, owning component, creating run) in `ledger`; True if changed.
    The value is never in the ledger."""
    known = ledger.setdefault("secrets", {})
    existing = known.get(name) or {}
    wanted = {
        "path": path,
        "component": component or existing.get("component", ""),
        "created_run": existing.get("created_run") or run or "",
        "created_at": existing.get("created_at") or now(),
    }
    if existing == wanted:
        return False
    known[name] = wanted
    return True


def _normalised(record):
    out = {"version": str(record.get("version", ""))}
    for key in RECORD_LISTS:
        out[key] = sorted(set(record.get(key) or []))
    return out


def merge_record(components, component, record, merge=()):
    """Set a component's record in `components`; fields in `merge` keep what was recorded
    and add to it (what an earlier, interrupted run installed stays known). True if changed."""
    existing = components.get(component)
    merged = dict(record or {})
    for key in merge or ():
        merged[key] = list(merged.get(key) or []) + list((existing or {}).get(key) or [])
    wanted = _normalised(merged)
    # A list an older record lacks is an empty one (so adding a list changes no record).
    if existing is not None and all(
        existing.get(k, [] if k in RECORD_LISTS else None) == wanted[k] for k in wanted
    ):
        return False
    stamp = now()
    wanted["installed_at"] = (existing or {}).get("installed_at", stamp)
    wanted["updated_at"] = stamp
    components[component] = wanted
    return True


def ledger_to_update(path, check, create=False, aiws_version=""):
    """The ledger a step is about to update. It must exist (the base role starts it) unless
    `create`; in check mode a missing one is planned as empty (the base role would make it)."""
    ledger = read_ledger(path)
    if ledger is None and not (create or check):
        raise Failure("the ledger %s does not exist (the base role makes it)" % path)
    return ledger if ledger is not None else empty_ledger(aiws_version)


def set_record(path, component, record, merge=(), aiws_version="", check=False, create=False):
    """Write a component's record into the ledger at `path` (which must exist unless
    `create`: the base layout starts it)."""
    ledger = ledger_to_update(path, check, create, aiws_version)
    changed = merge_record(ledger.setdefault("components", {}), component, record, merge)
    if aiws_version and ledger.get("aiws_version") != aiws_version:
        ledger["aiws_version"], changed = aiws_version, True
    if changed and not check:
        write_json(path, ledger)
    return changed


HISTORY_LIMIT = 200  # runs kept in the ledger


def add_run(ledger, run):
    """A run appended to a ledger's history (in memory), the oldest dropped past the limit:
    the one way a run is recorded, in the play's last task or by an ad hoc call."""
    ledger["runs"] = [*(ledger.get("runs") or []), run][-HISTORY_LIMIT:]


def append_run(path, run, aiws_version="", check=False):
    """Append a run to the ledger's history (bookkeeping: not a change of the host)."""
    ledger = ledger_to_update(path, check)
    add_run(ledger, run)
    if aiws_version:
        ledger["aiws_version"] = aiws_version
    if not check:
        write_json(path, ledger)


def connects_unix(path, timeout=3):
    """Whether a unix stream socket accepts a connection at `path`."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(path)
        return True
    except OSError:
        return False
    finally:
        client.close()


def run_command(argv, timeout, env=None):
    """Run a command, bounded in time; its CompletedProcess (text). Failure when it cannot
    run at all; the caller judges its exit code."""
    try:
        return subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout,
            universal_newlines=True, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Failure("%s: %s" % (" ".join(argv[:3]), exc)) from None


def must_run(argv, timeout, env=None):
    """run_command that must exit 0; Failure names the command and its last output line."""
    done = run_command(argv, timeout, env)
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines() or ["no output"]
        raise Failure("%s failed (exit %d): %s" % (" ".join(argv[:3]), done.returncode, lines[-1]))
    return done


def module_main(argument_spec, run):
    """The Ansible entry point every aiws module shares: its `run(params, check_mode)`
    result, as a failure when it says so."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    result = run(module.params, module.check_mode)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


def read_tokens(path):
    """The Bridge's named tokens ({name, sha256, ...}) from its tokens file; [] when the file
    is missing, ValueError when it is not a tokens file (aiws_bridge_tokens, aiws_host_facts)."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, list):
        raise ValueError("%s is not a tokens file" % path)
    return [t for t in tokens if isinstance(t, dict) and "name" in t and "sha256" in t]
