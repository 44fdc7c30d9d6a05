#!/usr/bin/python3
"""Ansible module: the host's part of `aiws backup`, a plain tar of what the site keeps.

Written to `out` (a new 0600 file in a directory only root can use, which the controller
seals and deletes): each PostgreSQL database aiws made, dumped by pg_dump in its custom
format (one consistent snapshot per database, taken while it serves: Vault's storage is
its database), as `postgresql/<database>.dump`; then every file under `roots`
(configuration, state, secrets, the ledger) as `files/<absolute path>`, with its owner,
group and mode, except the paths in `not_kept` (each named with why in the result). A
SQLite database (a service's state: OpenClaw's) is copied through SQLite's own backup API,
as the file's owner, so the copy is consistent while the service writes; its journal, WAL
and shared-memory files are not copied beside it. Sockets and FIFOs are left out; a file
removed while the tree is read is left out too. No value read is returned or logged.
Stdlib only; `run()` is also called in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_backup
short_description: Write a plain tar of the site's databases, configuration and state
options:
  out:
    description: The tar to write (must not exist; its directory root's and 0700).
    type: path
    required: true
  roots:
    description: Directories kept whole, but for not_kept.
    type: list
    elements: path
    required: true
  not_kept:
    description: Paths left out, each {path, why}.
    type: list
    elements: dict
    default: []
  sqlite_scrub:
    description: >-
      SQL run on the copy of a SQLite database, never on the database itself, each
      {path, sql (a list)}: what only the running service may hold (its leases).
    type: list
    elements: dict
    default: []
  databases:
    description: The databases to dump when they exist.
    type: list
    elements: str
    default: []
  pg_bin:
    description: The cluster's binaries (psql, pg_dump).
    type: path
  socket_dir:
    description: The cluster's unix socket directory.
    type: path
  port:
    description: The cluster's port.
    type: int
    default: 5432
"""

import errno
import io
import os
import stat
import subprocess
import sys
import tarfile

try:
    from ansible.module_utils.aiws_common import Failure, module_main, private_dir_problem
    from ansible.module_utils.aiws_postgres import IDENTIFIER, Psql, run_tool
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, private_dir_problem
    from aiws.module_utils.aiws_postgres import IDENTIFIER, Psql, run_tool

ARGUMENT_SPEC = {
    "out": {"type": "path", "required": True},
    "roots": {"type": "list", "elements": "path", "required": True},
    "not_kept": {"type": "list", "elements": "dict", "default": []},
    "databases": {"type": "list", "elements": "str", "default": []},
    "sqlite_scrub": {"type": "list", "elements": "dict", "default": []},
    "pg_bin": {"type": "path"},
    "socket_dir": {"type": "path"},
    "port": {"type": "int", "default": 5432},
}
DUMP_SECONDS = 3600
SQLITE_SECONDS = 600
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
# The copy runs as the database's owner, who may not reach the interpreter running this
# module (a virtualenv in root's home): the host's own Python.
SYSTEM_PYTHON = "/usr/bin/python3"


def _existing_databases(params):
    if not params["databases"] or not params.get("pg_bin"):
        return []
    rows = Psql(dict(params, psql=os.path.join(params["pg_bin"], "psql")))(
        "SELECT datname FROM pg_database"
    )
    present = {row[0] for row in rows}
    return sorted(name for name in params["databases"] if name in present)


def _dump(params, database, target):
    if not IDENTIFIER.match(database):
        raise Failure("not a database name: %r" % database)
    run_tool(params, "pg_dump", ["--format=custom", "-f", target, database], DUMP_SECONDS)


def _left_out(path, not_kept):
    for item in not_kept:
        skipped = item["path"].rstrip("/")
        if path == skipped or path.startswith(skipped + "/"):
            return True
    return False


class Walk(object):
    """What one backup's walk of the roots shares."""

    def __init__(self, tar, not_kept, scrub):
        self.tar = tar
        self.not_kept = not_kept
        self.scrub = scrub  # SQLite file -> statements run on its copy
        self.files = 0
        self.bytes = 0
        self.sqlite = []  # copied through SQLite's backup API
        self.as_is = []  # SQLite files that could only be copied as they are


def _walk(walk, root):
    """Add `root` and everything below it, in a stable order, without following links."""
    if _left_out(root, walk.not_kept):
        return
    arcname = "files" + root
    try:
        if stat.S_ISREG(os.lstat(root).st_mode):
            _add_file(walk, root, arcname)
            return
        info = walk.tar.gettarinfo(root, arcname=arcname)
    except FileNotFoundError:
        return  # gone while the tree was read
    if info is None or not (info.isdir() or info.issym()):
        return  # a socket, a FIFO or a device: nothing to keep
    walk.tar.addfile(info)
    if info.isdir():
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(root, name)
            if not _sqlite_sidecar(path):
                _walk(walk, path)


def _sqlite_sidecar(path):
    """A SQLite database's journal, WAL or shared-memory file: its content is in the
    database's own copy (taken through SQLite), never copied beside it."""
    for suffix in SQLITE_SIDECARS:
        if path.endswith(suffix) and _is_sqlite(path[: -len(suffix)]):
            return True
    return False


def _is_sqlite(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 16) == SQLITE_MAGIC
    finally:
        os.close(fd)


def _add_file(walk, path, arcname):
    """A regular file, described by what was opened: a user who owns a directory below the
    roots (an agent's home) cannot swap the file for a link to one of root's between the
    look and the read (O_NOFOLLOW refuses a link; the description is the open file's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return  # swapped for a link while the tree was read: not followed
        raise
    with os.fdopen(fd, "rb") as handle:
        info = walk.tar.gettarinfo(arcname=arcname, fileobj=handle)
        if info is None or not info.isfile():
            return
        copy = None
        if handle.read(16) == SQLITE_MAGIC:
            copy = _sqlite_copy(path, os.fstat(handle.fileno()), walk.scrub.get(path, []))
            (walk.sqlite if copy is not None else walk.as_is).append(path)
        if copy is not None:
            info.size = len(copy)
            walk.tar.addfile(info, io.BytesIO(copy))
        else:
            handle.seek(0)
            walk.tar.addfile(info, handle)
    walk.files += 1
    walk.bytes += info.size


# Run as the database file's owner (never root: the file is that user's to write): a
# consistent copy through SQLite's backup API, the statements given run on the copy only,
# the copy's bytes on stdout.
_SQLITE_COPY = r"""
import sqlite3, sys
source = sqlite3.connect(sys.argv[1], timeout=30)
copy = sqlite3.connect(":memory:")
if not hasattr(copy, "serialize"):
    sys.exit(3)  # Python < 3.11: the file is copied as it is
source.backup(copy)
source.close()
for statement in sys.argv[2:]:
    try:
        copy.execute(statement)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
copy.commit()
sys.stdout.buffer.write(copy.serialize())
"""


def _sqlite_copy(path, seen, statements):
    """The database's consistent copy, or None when SQLite could not make one here (a
    Python without `serialize`, a damaged file): it is then copied as it is."""
    python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-c", _SQLITE_COPY, path, *statements],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            user=seen.st_uid,
            group=seen.st_gid,
            extra_groups=[],
            timeout=SQLITE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout.startswith(SQLITE_MAGIC) else None


def _check_out(out):
    problem = private_dir_problem(os.path.dirname(out))
    if problem:
        raise Failure("the backup's directory %s: %s" % (os.path.dirname(out), problem))


def write_backup(params):
    out = params["out"]
    _check_out(out)
    databases = _existing_databases(params)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    # Nested, not one `with` (which formats as parenthesised managers): Python 3.9 targets.
    with os.fdopen(fd, "wb") as raw:  # noqa: SIM117
        with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for database in databases:
                dump = out + ".%s.dump" % database
                try:
                    _dump(params, database, dump)
                    tar.add(dump, arcname="postgresql/%s.dump" % database, recursive=False)
                finally:
                    if os.path.lexists(dump):
                        os.unlink(dump)
            scrub = {item["path"]: list(item["sql"]) for item in params["sqlite_scrub"]}
            walk = Walk(tar, params["not_kept"], scrub)
            for root in params["roots"]:
                if os.path.isdir(root) and not os.path.islink(root):
                    _walk(walk, root.rstrip("/") or "/")
    return {
        "databases": databases,
        "files": walk.files,
        "file_bytes": walk.bytes,
        "sqlite": walk.sqlite,
        "sqlite_as_is": walk.as_is,
        "size": os.path.getsize(out),
        "not_kept": [{"path": i["path"], "why": i["why"]} for i in params["not_kept"]],
    }


def run(params, check_mode=False):
    params = dict({k: v.get("default") for k, v in ARGUMENT_SPEC.items()}, **params)
    if check_mode:
        return {"changed": False, "skipped": True, "msg": "a backup has no check mode"}
    try:
        result = write_backup(params)
    except (Failure, OSError, tarfile.TarError) as exc:
        if os.path.lexists(params["out"]) and not os.path.islink(params["out"]):
            os.unlink(params["out"])
        return {"failed": True, "msg": "backup: %s" % exc}
    return dict(result, changed=False)


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
