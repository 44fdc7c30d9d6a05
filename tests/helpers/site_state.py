"""What a site holds that only a backup can bring back, made on one host and looked for on
another: a row in a PostgreSQL database (a table of the test's own in Vault's), a secret in
Vault's KV, a second Bridge token, an app thread with one turn and a file in its workspace,
and the agents' LiteLLM keys (each limited to its models)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers.app_threads import MESSAGE, MOCK_TEXT, replay
from tests.helpers.bridge_server import result_of
from tests.helpers.door import Door
from tests.helpers.hosts import inside, on_host

CATALOG = load_catalog()
SOCKET_DIR = CATALOG.component("postgresql").layout["socket"]
LITELLM = CATALOG.component("litellm").listen
THREAD = "draft:1786594930800000-codex"
NOTE = "written in the workspace of the thread before the backup\n"

_KV = r"""
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/run/aiws-vault/vault.sock")
token = open("/var/lib/aiws/secrets/vault-aiws-token").read().strip()
conn = Conn("localhost")
if len(sys.argv) > 1:
    body = json.dumps({"data": {"value": sys.argv[1]}})
    conn.request("POST", "/v1/kv/data/aiws/backup-probe", body, {"X-Vault-Token": token})
    assert conn.getresponse().status in (200, 204)
else:
    conn.request("GET", "/v1/kv/data/aiws/backup-probe", headers={"X-Vault-Token": token})
    print(json.load(conn.getresponse())["data"]["data"]["value"])
"""

_MODELS = r"""
import json, sys, urllib.request
key = open("/var/lib/aiws/secrets/litellm-key-" + sys.argv[2]).read().strip()
request = urllib.request.Request("http://127.0.0.1:%s/v1/models" % sys.argv[1],
                                 headers={"Authorization": "Bearer " + key})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(json.dumps(sorted(m["id"] for m in json.load(opener.open(request, timeout=30))["data"])))
"""


@dataclass
class SiteState:
    row: str
    kv: str
    second_token: str
    workspace: str
    codex_models: list[str]


def _psql(sandbox: SandboxState, sql: str) -> str:
    # Vault's database: the one database of aiws's (LiteLLM keeps its keys in a file).
    return inside(sandbox, "psql", "-X", "-Atq", "-h", SOCKET_DIR, "-U", "postgres", "-d",
                  "vault", "-c", sql)  # fmt: skip


def _models(sandbox: SandboxState) -> list[str]:
    assert LITELLM is not None
    models: list[str] = json.loads(
        inside(sandbox, "python3", "-c", _MODELS, str(LITELLM.port), "codex")
    )
    return models


def make(sandbox: SandboxState, door: Door) -> SiteState:
    row, kv = f"row-{secrets.token_hex(8)}", f"kv-{secrets.token_hex(8)}"
    _psql(sandbox, "CREATE TABLE backup_probe (note text)")
    _psql(sandbox, f"INSERT INTO backup_probe VALUES ('{row}')")
    inside(sandbox, "python3", "-c", _KV, kv)
    rc, out, err = on_host(sandbox, "bridge", "tokens", "add", "second", "--json")
    assert rc == 0, err[-1000:]
    second = json.loads(out)["token"]
    token = door.token.read_text().strip()
    first = result_of(replay(door, token, "session_start_agent", provider="codex",
                             thread=THREAD, prompt="hello"))  # fmt: skip
    assert first["status"] == "completed" and MOCK_TEXT in first["output"], first
    workspace = first["remoteWorkingDirectory"]
    account = CATALOG.component("codex").user
    inside(sandbox, "runuser", "-u", account, "--", "sh", "-c",
           f"printf %s '{NOTE}' > {workspace}/note.txt")  # fmt: skip
    return SiteState(row, kv, second, workspace, _models(sandbox))


def check(sandbox: SandboxState, door: Door, state: SiteState) -> None:
    """Everything `make` made, on `sandbox` (restored), through `door`."""
    assert _psql(sandbox, "SELECT note FROM backup_probe") == state.row
    assert inside(sandbox, "python3", "-c", _KV) == state.kv
    for token in (door.token.read_text().strip(), state.second_token):
        ping = door.request("GET", "/api/ping", headers={"Authorization": f"Bearer {token}"})
        assert ping.status_code == 200, ping.text[:300]
    token = door.token.read_text().strip()
    again = result_of(replay(door, token, MESSAGE, provider="codex", thread=THREAD,
                             hint=state.workspace, prompt="after the restore"))  # fmt: skip
    assert again["status"] == "completed" and MOCK_TEXT in again["output"], again
    assert again["remoteWorkingDirectory"] == state.workspace, again
    assert inside(sandbox, "cat", f"{state.workspace}/note.txt") == NOTE.strip()
    assert _models(sandbox) == state.codex_models
