#!/usr/bin/python3
"""Ansible module: the host's part of `aiws restore`, a backup's plain tar put in place.

The services (all but PostgreSQL) are stopped first. Then each root (configuration, state)
is made what the backup holds: every file, directory and link of the backup written with
its mode (no setuid or setgid bit) and owner and group by name (root when the name is
unknown here), and whatever stands under a root that the backup does not hold removed,
except the paths the backup left out on purpose (`not_kept`: PostgreSQL's data, QMD's
index, ...). Nothing is written through a symbolic link: each directory on the way must be
a real one, and a file is written under a new name and renamed into place. Removal is only
ever of a path strictly under a root. Then each database in the backup is dropped, made
again for its owner, and restored by pg_restore in one transaction. Stdlib only; `run()`
is also called in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_restore
short_description: Put a backup's files and databases in place
options:
  payload:
    description: The backup's plain tar (in a directory root's and 0700).
    type: path
    required: true
  roots:
    description: The directories the backup keeps whole.
    type: list
    elements: path
    required: true
  not_kept:
    description: Paths under the roots the backup left out (kept as they are here).
    type: list
    elements: path
    default: []
  stop_units:
    description: Units stopped before anything is written.
    type: list
    elements: str
    default: []
  databases:
    description: "{name, owner} of each database a dump may restore."
    type: list
    elements: dict
    default: []
  pg_bin:
    description: The cluster's binaries (psql, pg_restore).
    type: path
  socket_dir:
    description: The cluster's unix socket directory.
    type: path
  port:
    description: The cluster's port.
    type: int
    default: 5432
"""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tarfile

try:
    from ansible.module_utils.aiws_common import Failure, module_main, private_dir_problem
    from ansible.module_utils.aiws_postgres import IDENTIFIER, recreate_from_dump
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, private_dir_problem
    from aiws.module_utils.aiws_postgres import IDENTIFIER, recreate_from_dump

ARGUMENT_SPEC = {
    "payload": {"type": "path", "required": True},
    "roots": {"type": "list", "elements": "path", "required": True},
    "not_kept": {"type": "list", "elements": "path", "default": []},
    "stop_units": {"type": "list", "elements": "str", "default": []},
    "databases": {"type": "list", "elements": "dict", "default": []},
    "pg_bin": {"type": "path"},
    "socket_dir": {"type": "path"},
    "port": {"type": "int", "default": 5432},
}
FILES = "files/"
DUMPS = "postgresql/"
RESTORE_SECONDS = 3600
_BLOCK = 1 << 20


def under(path, root):
    """Whether `path` is strictly below `root` (both absolute, normalised)."""
    root = root.rstrip("/")
    return bool(root) and path.startswith(root + "/") and "/../" not in path + "/"


def _within(path, prefixes):
    return any(path == p.rstrip("/") or under(path, p) for p in prefixes)


def _owner(uname, gname):
    try:
        uid = pwd.getpwnam(uname).pw_uid if uname else 0
    except KeyError:
        uid = 0
    try:
        gid = grp.getgrnam(gname).gr_gid if gname else 0
    except KeyError:
        gid = 0
    return uid, gid


def _real_dirs_to(path, root):
    """Every directory from `root` down to `path`'s parent is a real directory (made when
    missing, root's 0755 until its own member says otherwise)."""
    current = root.rstrip("/")
    for part in path[len(current) + 1 :].split("/")[:-1]:
        current = current + "/" + part
        try:
            seen = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(seen.st_mode):
            if under(current, root):
                _remove(current, root)
                os.mkdir(current, 0o755)
            else:
                raise Failure("%s is not a directory" % current)


def _remove(path, root):
    if not under(path, root):
        raise Failure("refusing to remove %s: not under %s" % (path, root))
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _write_file(path, member, source):
    partial = "%s.aiws-restore-%d" % (path, os.getpid())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(partial, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(source, handle, _BLOCK)
            os.fchown(handle.fileno(), *_owner(member.uname, member.gname))
            os.fchmod(handle.fileno(), member.mode & 0o1777)
            os.utime(handle.fileno(), (member.mtime, member.mtime))
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        os.rename(partial, path)
    except BaseException:
        if os.path.lexists(partial):
            os.unlink(partial)
        raise


def _place(tar, member, path, root):
    _real_dirs_to(path, root)
    if member.isdir():
        if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path)):
            _remove(path, root)
        if not os.path.lexists(path):
            os.mkdir(path, 0o700)
        os.lchown(path, *_owner(member.uname, member.gname))
        os.chmod(path, member.mode & 0o1777)
    elif member.issym():
        if os.path.lexists(path):
            _remove(path, root)
        os.symlink(member.linkname, path)
        os.lchown(path, *_owner(member.uname, member.gname))
    elif member.isfile():
        _write_file(path, member, tar.extractfile(member))
    else:
        raise Failure("%s: only files, directories and links are restored" % member.name)


def _root_of(path, roots):
    for root in roots:
        if path == root or under(path, root):
            return root
    return None


def restore_files(payload, roots, not_kept):
    """Put every file member in place, then remove what the backup does not hold."""
    roots = [r.rstrip("/") for r in roots]
    held = set()
    dumps = {}
    with tarfile.open(payload, "r:") as tar:
        for member in tar:
            if member.name.startswith(DUMPS):
                dumps[member.name[len(DUMPS) :]] = member
                continue
            if not member.name.startswith(FILES):
                raise Failure("unknown member %s" % member.name)
            path = "/" + member.name[len(FILES) :].strip("/")
            root = _root_of(path, roots)
            if root is None or _within(path, not_kept):
                raise Failure("%s is not a path the backup keeps" % path)
            held.add(path)
            if path == root:
                os.lchown(root, *_owner(member.uname, member.gname))
                os.chmod(root, member.mode & 0o1777)
                continue
            _place(tar, member, path, root)
    removed = _remove_unheld(roots, held, not_kept)
    return sorted(held), removed, dumps


def _remove_unheld(roots, held, not_kept):
    removed = []
    for root in roots:
        if root not in held:
            continue  # the backup did not hold this root: nothing here is compared
        for current, dirs, files in os.walk(root, topdown=True):
            for name in sorted(dirs + files):
                path = os.path.join(current, name)
                if path in held or _within(path, not_kept):
                    continue
                _remove(path, root)
                removed.append(path)
            dirs[:] = [d for d in dirs if os.path.join(current, d) in held]
    return removed


def _stop(units):
    if not units:
        return
    done = subprocess.run(
        ["systemctl", "stop", "--", *units],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise Failure("systemctl stop: %s" % (done.stderr.strip() or "failed"))


def restore_databases(params, dumps, payload):
    owners = {d["name"]: d["owner"] for d in params["databases"]}
    restored = []
    with tarfile.open(payload, "r:") as tar:
        for file_name, member in sorted(dumps.items()):
            database = file_name[: -len(".dump")] if file_name.endswith(".dump") else ""
            owner = owners.get(database)
            if not IDENTIFIER.match(database) or owner is None:
                raise Failure("the backup holds a dump of %r, not a database of aiws's" % file_name)
            dump = "%s.%s.dump" % (payload, database)
            try:
                _write_file(dump, member, tar.extractfile(member))
                recreate_from_dump(params, database, owner, dump, RESTORE_SECONDS)
            finally:
                if os.path.lexists(dump):
                    os.unlink(dump)
            restored.append(database)
    return restored


def run(params, check_mode=False):
    params = dict({k: v.get("default") for k, v in ARGUMENT_SPEC.items()}, **params)
    if check_mode:
        return {"changed": False, "skipped": True, "msg": "a restore has no check mode"}
    problem = private_dir_problem(os.path.dirname(params["payload"]))
    if problem:
        return {"failed": True, "msg": "restore: the backup's directory: %s" % problem}
    if any(
        not os.path.isabs(r) or r.rstrip("/") in ("", "/etc", "/var", "/var/lib")
        for r in params["roots"]
    ):
        return {"failed": True, "msg": "restore: refusing roots %s" % params["roots"]}
    try:
        _stop(params["stop_units"])
        held, removed, dumps = restore_files(params["payload"], params["roots"], params["not_kept"])
        databases = restore_databases(params, dumps, params["payload"]) if dumps else []
    except (Failure, OSError, tarfile.TarError) as exc:
        return {"failed": True, "msg": "restore: %s" % exc}
    return {"changed": True, "files": len(held), "removed": removed, "databases": databases}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
