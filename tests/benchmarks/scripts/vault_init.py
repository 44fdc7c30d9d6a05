"""Waits for a fresh `bao server` on 127.0.0.1:PORT, then inits (one share) and unseals it:
the Vault step of the floor scripts. Stdlib only (it runs on the host under test)."""

import json
import sys
import time
import urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}/v1/sys/"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.time() + 60
while True:
    try:
        opener.open(base + "seal-status", timeout=2).read()
        break
    except Exception:
        if time.time() > deadline:
            raise
        time.sleep(0.1)


def call(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), method="PUT")
    return json.load(opener.open(request, timeout=300))


keys = call("init", {"secret_shares": 1, "secret_threshold": 1})
assert not call("unseal", {"key": keys["keys_base64"][0]})["sealed"]
