#!/usr/bin/python3
"""Vault's HTTP API over its unix socket, after checking that the socket is Vault's.

aiws sends Vault its unseal key and its tokens only through the unix listener the unit
creates in its own runtime directory, never to whatever answers on 127.0.0.1:8200 (any
local user may bind that port while Vault is down). Before every connection the socket, its
directory and every directory above must be owned by root or the Vault account and not
writable by anyone else; otherwise nothing is sent. A unix socket involves no proxy.

This file is both shared code for the aiws_vault module (ansible.module_utils.aiws_vault_api)
and, installed as the unit's ExecStartPost helper, the unseal command run at every start:

    aiws-vault-unseal SOCKET OWNER KEY_FILE [WAIT_SECONDS]

Stdlib only, Python 3.9 compatible; it never prints a key or a token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import json
import os
import pwd
import socket
import stat
import sys
import time

REQUEST_TIMEOUT = 10


class VaultError(Exception):
    pass


class UntrustedSocket(VaultError):
    """The socket could have been made by someone else: nothing is sent to it."""


def check_socket(path, owner):
    """Raise UntrustedSocket unless `path` is a socket only root or `owner` could have made."""
    try:
        allowed = {0, pwd.getpwnam(owner).pw_uid}
    except KeyError:
        raise UntrustedSocket("the Vault account %s does not exist" % owner) from None
    info = os.lstat(path)  # FileNotFoundError: not up (yet)
    if not stat.S_ISSOCK(info.st_mode):
        raise UntrustedSocket("%s is not a socket" % path)
    if info.st_uid not in allowed:
        raise UntrustedSocket(
            "%s belongs to uid %d, not to %s: refusing to send it anything"
            % (path, info.st_uid, owner)
        )
    directory, sticky_ok = os.path.dirname(path), False
    while True:
        info = os.lstat(directory)
        writable = info.st_mode & 0o022 and not (sticky_ok and info.st_mode & stat.S_ISVTX)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in allowed or writable:
            raise UntrustedSocket(
                "%s (above Vault's socket) is a link, not owned by root or %s, or writable by "
                "others: refusing to send it anything" % (directory, owner)
            )
        # Above the socket's own directory: root's only; a sticky directory (/tmp) is fine
        # there, nobody else can rename or replace root's entries in it.
        allowed, sticky_ok = {0}, True
        if directory == "/":
            return
        directory = os.path.dirname(directory)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Api:
    """Calls to one Vault through its unix socket, checked before each connection."""

    def __init__(self, socket_path, owner, token=None):
        self.socket_path = socket_path
        self.owner = owner
        self.token = token

    @property
    def where(self):
        return "unix:" + self.socket_path

    def call(self, method, path, body=None, ok=(200, 204), timeout=REQUEST_TIMEOUT):
        """(status, decoded JSON or {}); statuses outside `ok` raise VaultError."""
        check_socket(self.socket_path, self.owner)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Vault-Token"] = self.token
        data = json.dumps(body).encode() if body is not None else None
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            reply = connection.getresponse()
            status, raw = reply.status, reply.read()
        finally:
            connection.close()
        try:
            decoded = json.loads(raw.decode() or "{}")
        except ValueError:
            decoded = {}
        if status not in ok:
            errors = decoded.get("errors") if isinstance(decoded, dict) else None
            raise VaultError("%s %s: HTTP %d %s" % (method, path, status, errors or ""))
        return status, decoded

    def wait(self, seconds, pid=None):
        """Wait until the API answers (sealed or not); returns the seal status. An untrusted
        socket is not waited on: it fails at once; nor is a Vault whose process `pid` (the
        unit's main process) has exited: a release that cannot start fails in seconds."""
        deadline = time.monotonic() + seconds
        last = ""
        while True:
            try:
                return self.call("GET", "/v1/sys/seal-status")[1]
            except UntrustedSocket:
                raise
            except (OSError, http.client.HTTPException, VaultError) as exc:
                last = str(exc)
            if pid and not os.path.exists("/proc/%s" % pid):
                raise VaultError("Vault's process %s exited before it answered" % pid)
            if time.monotonic() >= deadline:
                raise VaultError("no answer from %s within %d s (%s)" % (self.where, seconds, last))
            time.sleep(0.5)


def read_secret(path):
    """A secret file's value, stripped; None when it does not exist or cannot be read."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def unseal(api, key_file):
    """Unseal with the key in `key_file` when sealed; returns whether it was sealed."""
    status = api.call("GET", "/v1/sys/seal-status")[1]
    if not status.get("sealed"):
        return False
    key = read_secret(key_file)
    if key is None:
        raise VaultError("Vault is sealed and the unseal key %s is missing" % key_file)
    if api.call("PUT", "/v1/sys/unseal", {"key": key})[1].get("sealed"):
        raise VaultError("Vault is still sealed after unsealing with %s" % key_file)
    return True


def main(argv):
    """The unit's ExecStartPost: wait for the API, unseal when sealed. An uninitialised Vault
    (its very first start, before aiws initialises it) is left alone."""
    if len(argv) not in (4, 5):
        print("usage: aiws-vault-unseal SOCKET OWNER KEY_FILE [WAIT_SECONDS]", file=sys.stderr)
        return 2
    api = Api(argv[1], argv[2])
    try:
        # systemd gives ExecStartPost the main process's PID.
        pid = os.environ.get("MAINPID", "")
        status = api.wait(float(argv[4]) if len(argv) > 4 else 60.0, pid if pid.isdigit() else None)
        if not status.get("initialized"):
            print(
                "aiws-vault-unseal: Vault is not initialised yet; nothing to unseal",
                file=sys.stderr,
            )
            return 0
        if unseal(api, argv[3]):
            print("aiws-vault-unseal: unsealed", file=sys.stderr)
    except (VaultError, OSError, http.client.HTTPException) as exc:
        print("aiws-vault-unseal: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
