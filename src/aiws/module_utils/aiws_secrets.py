"""Secrets aiws generates: one per purpose, made once with `secrets`, written atomically
with their final mode and owner, recorded in the ledger (name, path, owning component,
creating run; never the value). Stdlib only, Python 3.9 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import re
import secrets
import stat

try:
    from ansible.module_utils.aiws_common import (
        Failure,
        ledger_to_update,
        record_secret,
        write_atomic,
        write_json,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        Failure,
        ledger_to_update,
        record_secret,
        write_atomic,
        write_json,
    )

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
MODES = ("0600", "0640", "0400", "0440")
DEFAULT_LENGTH = 32


def exists(path):
    """Whether the secret file is there (and not empty). Not being allowed to look is not
    "absent": that would list a secret as missing, or make a new value over the old one."""
    try:
        return os.path.getsize(path) > 0
    except PermissionError:
        raise Failure(
            "cannot check the secret %s: permission denied (aiws runs as root)" % path
        ) from None
    except OSError:
        return False


def check_spec(name, mode):
    if not NAME.match(name or "") or name in (".", ".."):
        raise Failure("invalid secret name %r" % name)
    if mode not in MODES:
        raise Failure("secret mode must be one of %s" % ", ".join(MODES))


def _ids(owner, group):
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise Failure("unknown owner or group: %s" % exc) from None


def write_secret(path, data, mode=0o600, uid=0, gid=0):
    """Atomic, durable secret file; its directory is made 0700 when missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    write_atomic(path, data, mode, uid, gid)


def ensure_secret(
    path, mode="0600", owner="root", group="root", length=DEFAULT_LENGTH, check=False
):
    """(changed, created): generate the secret when missing, else repair mode and owner."""
    wanted_mode = int(mode, 8)
    uid, gid = _ids(owner, group)
    if exists(path):
        info = os.stat(path)
        drift = stat.S_IMODE(info.st_mode) != wanted_mode or (info.st_uid, info.st_gid) != (
            uid,
            gid,
        )
        if drift and not check:
            os.chmod(path, wanted_mode)
            os.chown(path, uid, gid)
        return drift, False
    if not check:
        value = secrets.token_urlsafe(max(16, length))
        write_secret(path, value.encode("utf-8"), wanted_mode, uid, gid)
    return True, True


MAX_VALUE_BYTES = 65536


def set_secret(directory, name, value, ledger_path, component, check=False):
    """(changed): store a value the operator brings (a provider's API key), 0600 root,
    atomically, and record it as `component`'s; unchanged when the file already holds it.
    The value is never returned and never in the ledger."""
    check_spec(name, "0600")
    data = (value or "").encode("utf-8")
    if not data.strip() or b"\0" in data or len(data) > MAX_VALUE_BYTES:
        raise Failure("the value for %s must be 1 to %d bytes of text" % (name, MAX_VALUE_BYTES))
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
    except OSError:
        same = False
    if same:
        info = os.stat(path)
        same = stat.S_IMODE(info.st_mode) == 0o600 and (info.st_uid, info.st_gid) == (0, 0)
    ledger = ledger_to_update(ledger_path, check, create=True)
    recorded = record_secret(ledger, name, path, component)
    if not check:
        if not same:
            write_secret(path, data)
        if recorded:
            write_json(ledger_path, ledger)
    return not same or recorded


def ensure_secrets(specs, directory, ledger_path, component, run_id="", check=False):
    """Generate every missing generated secret of a component and record them all.

    Each spec: {name, mode, group, generated}; a secret that is not generated (written by
    the component itself, e.g. Vault's unseal key) is only recorded.
    """
    changed, created, paths = False, [], {}
    for spec in specs:
        name, mode = spec.get("name"), spec.get("mode") or "0600"
        check_spec(name, mode)
        path = os.path.join(directory, name)
        paths[name] = path
        if spec.get("generated", True):
            made, new = ensure_secret(path, mode, "root", spec.get("group") or "root", check=check)
            changed |= made
            if new:
                created.append(name)
    ledger = ledger_to_update(ledger_path, check)
    recorded = False
    for name, path in paths.items():
        recorded |= record_secret(ledger, name, path, component, run_id)
    if recorded and not check:
        write_json(ledger_path, ledger)
    return {"changed": changed or recorded, "created": created, "names": sorted(paths)}
