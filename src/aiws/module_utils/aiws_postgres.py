"""PostgreSQL databases and their owners, each with its own password.

Talks to aiws's cluster with psql over its unix socket as the superuser (peer
authentication, root is mapped to it). A password is read from its secret file on the
host and sent to the server only as a SCRAM-SHA-256 verifier computed here: the clear text
never reaches the server, its logs, the task's arguments or its result. An owner whose
stored verifier already matches its secret is left alone (changed=false). Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import os
import re
import subprocess

try:
    from ansible.module_utils.aiws_common import Failure
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
SCRAM_ITERATIONS = 4096


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """PostgreSQL's SCRAM-SHA-256 verifier of `password` (what pg_authid stores)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


def verifier_matches(verifier, password):
    """Whether a stored SCRAM verifier was made from `password`."""
    match = re.match(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", verifier or "")
    if not match:
        return False
    try:
        iterations, salt = int(match.group(1)), base64.b64decode(match.group(2), validate=True)
    except (ValueError, binascii.Error):
        return False
    if iterations < 1:
        return False
    return hmac.compare_digest(scram_verifier(password, salt, iterations), verifier)


class Psql:
    def __init__(self, params):
        self.argv = [
            params["psql"],
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            params["socket_dir"],
            "-p",
            str(params["port"]),
            "-U",
            params.get("superuser") or "postgres",
            "-d",
            "postgres",
            "-f",
            "-",
        ]

    def __call__(self, sql):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        try:
            done = subprocess.run(
                self.argv,
                input=sql,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                timeout=120,
                universal_newlines=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Failure("psql: %s" % exc) from None
        if done.returncode != 0:
            raise Failure("psql: %s" % (done.stderr.strip().splitlines() or ["failed"])[-1])
        return [line.split("\t") for line in done.stdout.splitlines() if line]


def run_tool(params, tool, args, timeout):
    """A PostgreSQL client tool of the cluster's version (pg_dump, pg_restore: `tool` in
    params["pg_bin"]) over aiws's socket as the superuser, with no PG* variable of the
    caller's; a Failure naming the tool and its last line of error."""
    argv = [
        os.path.join(params["pg_bin"], tool),
        "--no-password",
        "-h",
        params["socket_dir"],
        "-p",
        str(params["port"]),
        "-U",
        "postgres",
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        done = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            timeout=timeout,
            universal_newlines=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Failure("%s: %s" % (tool, exc)) from None
    if done.returncode != 0:
        raise Failure("%s: %s" % (tool, (done.stderr.strip().splitlines() or ["failed"])[-1]))


def recreate_from_dump(params, database, owner, dump, timeout):
    """`database` dropped (its connections ended), created again for `owner`, and the
    custom-format `dump` restored into it in one transaction (params: pg_bin, socket_dir,
    port): what a restore and an upgrade's rollback both do."""
    psql = Psql(dict(params, psql=os.path.join(params["pg_bin"], "psql")))
    psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(database))
    psql("CREATE DATABASE %s OWNER %s" % (ident(database), ident(owner)))
    args = ["--exit-on-error", "--single-transaction", "-d", database, dump]
    run_tool(params, "pg_restore", args, timeout)


def literal(value):
    return "'" + value.replace("'", "''") + "'"


def ident(value):
    if not IDENTIFIER.match(value):
        raise Failure("invalid PostgreSQL identifier %r" % value)
    return '"%s"' % value


def _password(path):
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise Failure("cannot read the password %s: %s" % (path, exc.strerror)) from None
    if not value:
        raise Failure("the password file %s is empty" % path)
    return value


def _reachable(params):
    """psql is installed and the server's socket is there (a plan may run before either)."""
    socket_file = os.path.join(params["socket_dir"], ".s.PGSQL.%s" % params["port"])
    return os.path.exists(params["psql"]) and os.path.exists(socket_file)


def converge(params, check):
    psql = Psql(params)
    dbs = params["databases"]
    for db in dbs:  # refuse anything that is not a plain identifier before any SQL
        ident(db["owner"])
        ident(db["name"])
    owners = sorted({db["owner"] for db in dbs})
    names = [db["name"] for db in dbs]
    if check and not _reachable(params):
        # A plan before PostgreSQL is installed: every role and database would be created.
        actions = ["role %s created" % o for o in owners]
        return {"changed": True, "actions": actions + ["database %s created" % n for n in names]}
    roles = {
        row[0]: row[1] if len(row) > 1 else ""
        for row in psql(
            "SELECT rolname, coalesce(rolpassword, '') FROM pg_authid WHERE rolname IN (%s);\n"
            % ", ".join(literal(o) for o in owners)
        )
    }
    existing = {
        row[0]: row[1]
        for row in psql(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN (%s);\n"
            % ", ".join(literal(n) for n in names)
        )
    }
    statements, done = [], []
    for db in dbs:
        owner, password = db["owner"], _password(db["secret_path"])
        if owner not in roles:
            statements.append(
                "CREATE ROLE %s LOGIN PASSWORD %s;"
                % (ident(owner), literal(scram_verifier(password)))
            )
            done.append("role %s created" % owner)
            roles[owner] = "new"
        elif roles[owner] != "new" and not verifier_matches(roles[owner], password):
            statements.append(
                "ALTER ROLE %s LOGIN PASSWORD %s;"
                % (ident(owner), literal(scram_verifier(password)))
            )
            done.append("password of %s set" % owner)
    for db in dbs:
        name, owner = db["name"], db["owner"]
        if name not in existing:
            statements.append(
                "CREATE DATABASE %s OWNER %s ENCODING 'UTF8' TEMPLATE template0;"
                % (ident(name), ident(owner))
            )
            done.append("database %s created" % name)
        elif existing[name] != owner:
            statements.append("ALTER DATABASE %s OWNER TO %s;" % (ident(name), ident(owner)))
            done.append("owner of %s set" % name)
    if statements and not check:
        psql("\n".join(statements) + "\n")
    return {"changed": bool(statements), "actions": done}
