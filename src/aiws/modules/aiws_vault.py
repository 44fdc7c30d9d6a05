#!/usr/bin/python3
"""Ansible module: bring a Vault (OpenBao or HashiCorp) to initialised, unsealed, KV ready.

Through the HTTP API only (stdlib): initialise once (one key share; the unseal key and the
root token go straight to their own 0600 files, never into the result), unseal, mount KV v2,
and mirror aiws's secret files into KV (read, compare, write only when different). Every
step reports `changed` only when it changed something. Secret values never appear in the
result. Stdlib only; `run()` is also called in-process by the controller and by tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_vault
short_description: Initialise once, unseal, mount KV v2 and mirror aiws secrets into Vault
options:
  url:
    description: The Vault API address (loopback).
    type: str
    default: http://127.0.0.1:8200
  unseal_key_file:
    description: File holding the unseal key (written here at init, 0600 root).
    type: path
    required: true
  root_token_file:
    description: File holding the root token (written here at init, 0600 root).
    type: path
    required: true
  state:
    description: >-
      ready (init, unseal, mount, mirror), unsealed (unseal only), read (compare KV with files).
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
    description: Secret names never mirrored (Vault's own unseal key and root token).
    type: list
    elements: str
    default: []
  wait_seconds:
    description: How long to wait for the API to answer.
    type: int
    default: 60
"""

import json
import os
import time
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, Request, build_opener

try:
    from ansible.module_utils.aiws_common import LedgerError, module_main, read_ledger, write_atomic
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import LedgerError, module_main, read_ledger, write_atomic

ARGUMENT_SPEC = {
    "url": {"type": "str", "default": "http://127.0.0.1:8200"},
    "unseal_key_file": {"type": "path", "required": True},
    "root_token_file": {"type": "path", "required": True},
    "state": {"type": "str", "choices": ["ready", "unsealed", "read"], "default": "ready"},
    "kv_mount": {"type": "str", "default": "kv"},
    "kv_prefix": {"type": "str", "default": "aiws"},
    "secrets": {"type": "list", "elements": "dict", "default": []},
    "secret_names": {"type": "list", "elements": "str", "default": []},
    "secrets_dir": {"type": "path", "default": "/var/lib/aiws/secrets"},
    "ledger": {"type": "path"},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "wait_seconds": {"type": "int", "default": 60},
}
REQUEST_TIMEOUT = 10
# Initialisation writes the storage and returns the only copy of the unseal key: give it
# all the time it needs rather than abandon an init the server completes.
INIT_TIMEOUT = 300
# Calls go straight to the local Vault: never through a proxy, whatever the environment.
OPENER = build_opener(ProxyHandler({}))


class VaultError(Exception):
    pass


class Api:
    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, ok=(200, 204), timeout=REQUEST_TIMEOUT):
        """(status, decoded JSON or {}); statuses outside `ok` raise VaultError."""
        data = json.dumps(body).encode() if body is not None else None
        request = Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("X-Vault-Token", self.token)
        try:
            with OPENER.open(request, timeout=timeout) as reply:
                status, raw = reply.status, reply.read()
        except HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw.decode() or "{}")
        except ValueError:
            decoded = {}
        if status not in ok:
            errors = decoded.get("errors") if isinstance(decoded, dict) else None
            raise VaultError("%s %s: HTTP %d %s" % (method, path, status, errors or ""))
        return status, decoded

    def wait(self, seconds):
        """Wait until the API answers (sealed or not); returns the seal status."""
        deadline = time.monotonic() + seconds
        last = ""
        while True:
            try:
                return self.call("GET", "/v1/sys/seal-status")[1]
            except (URLError, OSError, VaultError) as exc:
                last = str(getattr(exc, "reason", exc))
            if time.monotonic() >= deadline:
                raise VaultError("no answer from %s within %d s (%s)" % (self.url, seconds, last))
            time.sleep(0.5)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def write_secret_file(path, value):
    """Atomic, durable 0600 root file; the directory is created 0700 when missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    write_atomic(path, value.encode("utf-8"), 0o600)


def initialise(api, params, check, result):
    """Init once. An initialised Vault whose key file is missing cannot be recovered here."""
    status = api.call("GET", "/v1/sys/init")[1]
    result["initialized_before"] = bool(status.get("initialized"))
    if status.get("initialized"):
        for key in ("unseal_key_file", "root_token_file"):
            if _read(params[key]) is None:
                raise VaultError(
                    "Vault at %s is initialised but %s is missing: restore it from a backup, "
                    "or purge (aiws uninstall --purge) and install again" % (api.url, params[key])
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


def unseal(api, key_file, check, result):
    status = api.call("GET", "/v1/sys/seal-status")[1]
    result["sealed_before"] = bool(status.get("sealed"))
    if not status.get("sealed"):
        return
    if not status.get("initialized") and check:
        return  # check mode on a fresh Vault: init did not happen, nothing to unseal yet
    key = _read(key_file)
    if key is None:
        raise VaultError("Vault is sealed and the unseal key %s is missing" % key_file)
    result["changed"] = True
    result["steps"].append("unsealed")
    if check:
        return
    after = api.call("PUT", "/v1/sys/unseal", {"key": key})[1]
    if after.get("sealed"):
        raise VaultError("Vault is still sealed after unsealing with %s" % key_file)


def wait_active(api, seconds):
    """After an unseal the node needs a moment to become active (HTTP 200 on health)."""
    deadline = time.monotonic() + seconds
    while True:
        status = api.call("GET", "/v1/sys/health", ok=(200, 429, 472, 473, 501, 503))[0]
        if status == 200:
            return
        if time.monotonic() >= deadline:
            raise VaultError(
                "Vault at %s not active within %d s (HTTP %d)" % (api.url, seconds, status)
            )
        time.sleep(0.5)


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
        value = _read(item["path"])
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
        item["name"]: _kv_get(api, base + item["name"]) == _read(item["path"])
        for item in params["secrets"]
    }


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        recorded = (
            (read_ledger(params["ledger"]) or {}).get("secrets", {}) if params["ledger"] else {}
        )
    except LedgerError as exc:
        return {"failed": True, "msg": str(exc)}
    names = set(params["secret_names"] or []) | set(recorded)
    params["secrets"] = list(params["secrets"] or []) + [
        {"name": name, "path": os.path.join(params["secrets_dir"], name)}
        for name in sorted(names - set(params["exclude"] or []))
    ]
    result = {"changed": False, "steps": [], "written": [], "url": params["url"]}
    api = Api(params["url"])
    try:
        api.wait(params["wait_seconds"])
        if params["state"] == "ready":
            initialise(api, params, check_mode, result)
        unseal(api, params["unseal_key_file"], check_mode, result)
        if check_mode and result["steps"]:
            return result  # nothing below can be checked against a Vault not yet opened
        wait_active(api, params["wait_seconds"])
        if params["state"] == "unsealed":
            return result
        api.token = _read(params["root_token_file"])
        if params["state"] == "read":
            read_check(api, params, result)
            return result
        mount_kv(api, params["kv_mount"], check_mode, result)
        mirror(api, params, check_mode, result)
    except (VaultError, URLError, OSError, KeyError) as exc:
        return dict(result, failed=True, msg=str(exc))
    return result


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
