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
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        value = secrets.token_urlsafe(max(16, length))
        write_atomic(path, value.encode("utf-8"), wanted_mode, uid, gid)
    return True, True


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
