#!/usr/bin/python3
"""Ansible module: bring a Vault (OpenBao or HashiCorp) to initialised, unsealed, KV ready.

Through the HTTP API on Vault's unix socket only, after checking the socket is Vault's
(module_utils/aiws_vault_api). Initialise once (one key share): the unseal key, then the
initial root token, go durably to their 0600 files before anything else. The root token is
used once, to give aiws a policy of its own (KV aiws/* only) and a periodic token with it;
then it is revoked and its file removed. Every later run works with aiws's token (renewed
each run), never as root: unseal, mount KV v2, mirror aiws's secret files into KV (read,
compare, write only when different). Every step reports `changed` only when it changed
something. Secret values and tokens never appear in the result. `run()` is also called
in-process by tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_vault
short_description: Initialise once, unseal, mount KV v2 and mirror aiws secrets into Vault
options:
  socket:
    description: Vault's unix socket (its unix listener); checked before anything is sent.
    type: path
    required: true
  owner:
    description: The account Vault runs as (the socket and its directory must be its or root's).
    type: str
    required: true
  unseal_key_file:
    description: File holding the unseal key (written here at init, 0600 root).
    type: path
    required: true
  root_token_file:
    description: Where the initial root token waits between init and setup (then removed).
    type: path
    required: true
  token_file:
    description: aiws's own Vault token (policy `policy`), written at setup, 0600 root.
    type: path
    required: true
  state:
    description: >-
      ready (init, setup, unseal, mount, mirror), unsealed (unseal only), read (compare KV
      with the files).
    type: str
    choices: [ready, unsealed, read]
    default: ready
  kv_mount:
    description: Mount path of the KV v2 engine.
    type: str
    default: kv
  kv_prefix:
    description: Path under the mount where aiws secrets live (kv/aiws/<name>).
    type: str
    default: aiws
  policy:
    description: Name of the policy aiws's token carries.
    type: str
    default: aiws-installer
  secrets:
    description: Secrets to mirror into KV, each {name, path} (path = the secret's file).
    type: list
    elements: dict
    default: []
  secret_names:
    description: More secrets to mirror, by name, read from secrets_dir/<name>.
    type: list
    elements: str
    default: []
  secrets_dir:
    description: Directory of the secrets named in secret_names.
    type: path
    default: /var/lib/aiws/secrets
  ledger:
    description: Mirror every secret this ledger records too (but those in `exclude`).
    type: path
  exclude:
    description: Secret names never mirrored (Vault's own unseal key).
    type: list
    elements: str
    default: []
  wait_seconds:
    description: How long to wait for the API to answer.
    type: int
    default: 60
"""

import http.client
import os
import time

try:
    from ansible.module_utils.aiws_common import LedgerError, module_main, read_ledger
    from ansible.module_utils.aiws_secrets import NAME as SECRET_NAME
    from ansible.module_utils.aiws_secrets import write_secret
    from ansible.module_utils.aiws_vault_api import Api, VaultError, read_secret, unseal
except ImportError:  # called in-process by the controller and the tests
    from aiws.module_utils.aiws_common import LedgerError, module_main, read_ledger
    from aiws.module_utils.aiws_secrets import NAME as SECRET_NAME
    from aiws.module_utils.aiws_secrets import write_secret
    from aiws.module_utils.aiws_vault_api import Api, VaultError, read_secret, unseal

ARGUMENT_SPEC = {
    "socket": {"type": "path", "required": True},
    "owner": {"type": "str", "required": True},
    "unseal_key_file": {"type": "path", "required": True},
    "root_token_file": {"type": "path", "required": True},
    "token_file": {"type": "path", "required": True},
    "state": {"type": "str", "choices": ["ready", "unsealed", "read"], "default": "ready"},
    "kv_mount": {"type": "str", "default": "kv"},
    "kv_prefix": {"type": "str", "default": "aiws"},
    "policy": {"type": "str", "default": "aiws-installer"},
    "secrets": {"type": "list", "elements": "dict", "default": []},
    "secret_names": {"type": "list", "elements": "str", "default": []},
    "secrets_dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "ledger": {"type": "path"},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "wait_seconds": {"type": "int", "default": 60},
}
# Initialisation writes the storage and returns the only copy of the unseal key: give it
# all the time it needs rather than abandon an init the server completes.
INIT_TIMEOUT = 300
# aiws's token is periodic: every run renews it for this long (the token store's ceiling is
# raised to match at setup; its default, 32 days, would let an untouched host's token lapse).
TOKEN_PERIOD = "87600h"


def policy_text(mount, prefix):
    """aiws's own rights: mount its KV engine and keep its secrets there; nothing else."""
    return (
        'path "sys/mounts" {\n  capabilities = ["read"]\n}\n'
        'path "sys/mounts/%(m)s" {\n  capabilities = ["create", "read", "update"]\n}\n'
        'path "%(m)s/data/%(p)s/*" {\n  capabilities = ["create", "read", "update"]\n}\n'
        'path "auth/token/renew-self" {\n  capabilities = ["update"]\n}\n'
    ) % {"m": mount, "p": prefix}


def write_secret_file(path, value):
    """Atomic, durable 0600 root file; the directory is created 0700 when missing."""
    write_secret(path, value.encode("utf-8"))


def initialise(api, params, check, result):
    """Init once. The unseal key, then the root token, are on disk, durably, before anything
    else happens. An initialised Vault whose key file is missing cannot be recovered here."""
    status = api.call("GET", "/v1/sys/init")[1]
    result["initialized_before"] = bool(status.get("initialized"))
    if status.get("initialized"):
        if read_secret(params["unseal_key_file"]) is None:
            raise VaultError(
                "Vault at %s is initialised but %s is missing: restore it from a backup, "
                "or purge (aiws uninstall --purge) and install again"
                % (api.where, params["unseal_key_file"])
            )
        return
    result["changed"] = True
    result["steps"].append("initialised")
    if check:
        return
    answer = api.call(
        "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=INIT_TIMEOUT
    )[1]
    write_secret_file(params["unseal_key_file"], answer["keys_base64"][0])
    write_secret_file(params["root_token_file"], answer["root_token"])


def open_vault(api, key_file, check, result):
    """Unseal when sealed (nothing to do in check mode on a Vault not initialised yet)."""
    status = api.call("GET", "/v1/sys/seal-status")[1]
    result["sealed_before"] = bool(status.get("sealed"))
    if not status.get("sealed") or (check and not status.get("initialized")):
        return
    result["changed"] = True
    result["steps"].append("unsealed")
    if check:
        if read_secret(key_file) is None:
            raise VaultError("Vault is sealed and the unseal key %s is missing" % key_file)
        return
    unseal(api, key_file)


def wait_active(api, seconds):
    """After an unseal the node needs a moment to become active (HTTP 200 on health)."""
    deadline = time.monotonic() + seconds
    while True:
        status = api.call("GET", "/v1/sys/health", ok=(200, 429, 472, 473, 501, 503))[0]
        if status == 200:
            return
        if time.monotonic() >= deadline:
            raise VaultError(
                "Vault at %s not active within %d s (HTTP %d)" % (api.where, seconds, status)
            )
        time.sleep(0.5)


def set_up_access(api, params, check, result):
    """aiws's token in api.token. Right after init (or when a run died during setup: the
    root token file is still there) the root token raises the token ceiling, writes aiws's
    policy, makes aiws's periodic token, stores it durably and is then revoked and removed;
    afterwards aiws's own token is renewed."""
    root = read_secret(params["root_token_file"])
    if root is None:
        api.token = read_secret(params["token_file"])
        if api.token is None:
            raise VaultError(
                "Vault is initialised but aiws's token %s is missing: restore it from a "
                "backup, or purge (aiws uninstall --purge) and install again" % params["token_file"]
            )
        api.call("POST", "/v1/auth/token/renew-self", {"increment": TOKEN_PERIOD})
        return
    result["changed"] = True
    result["steps"].append("aiws token")
    if check:
        api.token = root  # check mode reads with it; nothing is written
        return
    api.token = root
    api.call("POST", "/v1/sys/mounts/auth/token/tune", {"max_lease_ttl": TOKEN_PERIOD})
    api.call(
        "PUT",
        "/v1/sys/policies/acl/" + params["policy"],
        {"policy": policy_text(params["kv_mount"], params["kv_prefix"])},
    )
    created = api.call(
        "POST",
        "/v1/auth/token/create-orphan",
        {"policies": [params["policy"]], "period": TOKEN_PERIOD, "no_default_policy": True,
         "display_name": "aiws"},
    )[1]  # fmt: skip
    write_secret_file(params["token_file"], created["auth"]["client_token"])
    api.call("POST", "/v1/auth/token/revoke-self")
    os.unlink(params["root_token_file"])
    api.token = created["auth"]["client_token"]


def mount_kv(api, mount, check, result):
    mounts = api.call("GET", "/v1/sys/mounts")[1]
    existing = (mounts.get("data") or mounts).get(mount + "/")
    if existing is not None:
        if existing.get("type") != "kv" or (existing.get("options") or {}).get("version") != "2":
            raise VaultError("%s/ is mounted but is not KV version 2" % mount)
        return
    result["changed"] = True
    result["steps"].append("mounted %s/ (kv v2)" % mount)
    if not check:
        api.call("POST", "/v1/sys/mounts/" + mount, {"type": "kv", "options": {"version": "2"}})


def _kv_get(api, path):
    """The `value` stored at `path`, None when absent. KV v2 answers errors while it upgrades
    right after being mounted: those are retried for a while."""
    deadline = time.monotonic() + 30
    while True:
        try:
            status, body = api.call("GET", path, ok=(200, 404))
            if status == 404:
                return None
            return ((body.get("data") or {}).get("data") or {}).get("value")
        except VaultError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def mirror(api, params, check, result):
    base = "/v1/%s/data/%s/" % (params["kv_mount"], params["kv_prefix"])
    for item in params["secrets"]:
        value = read_secret(item["path"])
        if value is None:
            raise VaultError("secret file %s is missing" % item["path"])
        if _kv_get(api, base + item["name"]) == value:
            continue
        result["changed"] = True
        result["written"].append(item["name"])
        if not check:
            api.call("POST", base + item["name"], {"data": {"value": value}})


def read_check(api, params, result):
    """Whether each listed secret's KV copy equals its file (values never returned)."""
    base = "/v1/%s/data/%s/" % (params["kv_mount"], params["kv_prefix"])
    result["matches"] = {
        item["name"]: _kv_get(api, base + item["name"]) == read_secret(item["path"])
        for item in params["secrets"]
    }


def secrets_to_mirror(params):
    """The explicit secrets plus every one the ledger records (names checked: they become
    file and KV paths), minus the excluded."""
    recorded = (read_ledger(params["ledger"]) or {}).get("secrets", {}) if params["ledger"] else {}
    names = set(params["secret_names"] or []) | set(recorded)
    bad = sorted(name for name in names if not SECRET_NAME.match(str(name)))
    if bad:
        raise VaultError(
            "unsafe secret name %r (from the ledger or the task): names are letters, digits, "
            "'.', '_' and '-'" % bad[0][:80]
        )
    return list(params["secrets"] or []) + [
        {"name": name, "path": os.path.join(params["secrets_dir"], name)}
        for name in sorted(names - set(params["exclude"] or []))
    ]


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    result = {"changed": False, "steps": [], "written": [], "socket": params["socket"]}
    api = Api(params["socket"], params["owner"])
    try:
        params["secrets"] = secrets_to_mirror(params)
        if check_mode and not os.path.lexists(params["socket"]):
            # A plan before Vault runs (a fresh host): everything would be done.
            result["steps"] = ["initialised"] if params["state"] == "ready" else ["unsealed"]
            return dict(result, changed=True)
        api.wait(params["wait_seconds"])
        if params["state"] == "ready":
            initialise(api, params, check_mode, result)
        open_vault(api, params["unseal_key_file"], check_mode, result)
        if check_mode and result["steps"]:
            return result  # nothing below can be checked against a Vault not yet opened
        wait_active(api, params["wait_seconds"])
        if params["state"] == "unsealed":
            return result
        set_up_access(api, params, check_mode, result)
        if params["state"] == "read":
            read_check(api, params, result)
            return result
        mount_kv(api, params["kv_mount"], check_mode, result)
        mirror(api, params, check_mode, result)
    except (VaultError, LedgerError, OSError, http.client.HTTPException, KeyError) as exc:
        return dict(result, failed=True, msg=str(exc))
    return result


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
