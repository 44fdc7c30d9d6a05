#!/usr/bin/python3
"""Unseal Vault from its key file: run by the Vault unit at every start (ExecStartPost).

Usage: aiws-vault-unseal.py URL KEY_FILE [WAIT_SECONDS]
Waits for the API, then unseals when sealed. A Vault that is not initialised yet (the very
first start, before aiws initialises it) is left alone. Never prints the key. Stdlib only.
"""

import json
import sys
import time
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, Request, build_opener

# The local Vault only: never through a proxy, whatever the environment says.
OPENER = build_opener(ProxyHandler({}))


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(request, timeout=10) as reply:
            return json.loads(reply.read().decode() or "{}")
    except HTTPError as exc:
        raise SystemExit("aiws-vault-unseal: %s %s: HTTP %d" % (method, url, exc.code)) from None


def seal_status(base, wait):
    deadline = time.monotonic() + wait
    while True:
        try:
            return call(base + "/v1/sys/seal-status")
        except (URLError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise SystemExit("aiws-vault-unseal: no answer from %s: %s" % (base, exc)) from None
            time.sleep(0.5)


def main(argv):
    base, key_file = argv[1].rstrip("/"), argv[2]
    wait = float(argv[3]) if len(argv) > 3 else 60.0
    status = seal_status(base, wait)
    if not status.get("initialized"):
        print("aiws-vault-unseal: Vault is not initialised yet; nothing to unseal", file=sys.stderr)
        return 0
    if not status.get("sealed"):
        return 0
    try:
        with open(key_file) as handle:
            key = handle.read().strip()
    except OSError as exc:
        raise SystemExit("aiws-vault-unseal: cannot read the unseal key: %s" % exc) from None
    if call(base + "/v1/sys/unseal", "PUT", {"key": key}).get("sealed"):
        raise SystemExit("aiws-vault-unseal: still sealed after unsealing")
    print("aiws-vault-unseal: unsealed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
