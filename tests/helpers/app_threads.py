"""The XWorkmate app's own requests (tests/fixtures/app_requests) against an installed Bridge
through Caddy, from this machine, for each agent and the gateway: a thread started with the
app's device path, continued with the hint the Bridge returned, a file attached (on the host
at the path the prompt names, the agent's own), a file made in the workspace by the agent's
account during a turn coming back in that turn's artifacts, and the thread continuing after
`systemctl restart` of the Bridge, kill -9 of the thread's agent and kill -9 of the Bridge
(printed per agent: continued with `session/load` or the transcript). Then the app's
OpenClaw control-plane calls, and 50 unauthorised 16 MiB bodies that leave the Bridge
answering and within its memory limit."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_component
from aiws.sandbox.state import SandboxState
from aiws_bridge.workspaces import thread_workspace
from tests.helpers import app_requests
from tests.helpers.bridge_server import Background, result_of, resumed_with
from tests.helpers.door import Door, wait_for
from tests.helpers.hosts import exists, inside

CATALOG = load_catalog()
BRIDGE = CATALOG.component("bridge")
ROOT = "/var/lib/aiws/workspaces"
MOCK_TEXT = "aiws mock answer"
# Holds LiteLLM's mock answer for a few seconds (roles/litellm/files/aiws_litellm.py).
SLOW = "aiws-mock-slow"
TOKEN_NAME = "first"


def replay(
    door: Door, token: str, name: str, started: threading.Event | None = None, **values: Any
) -> list[Any]:
    """One of the app's requests with its headers and body, through Caddy; its SSE events
    (`started` is set when the turn's `started` update arrives)."""
    headers, body = app_requests.load(name, token=token, **values)
    headers.pop("Accept-Encoding")
    streamed: list[Any] = []
    with door.stream("POST", "/acp/rpc", content=json.dumps(body), headers=headers,
                     timeout=180) as reply:  # fmt: skip
        assert reply.status_code == 200, (reply.status_code, reply.read()[-2000:])
        for line in reply.iter_lines():
            if not line.startswith("data: "):
                continue
            streamed.append(line[6:] if line[6:] == "[DONE]" else json.loads(line[6:]))
            params = streamed[-1].get("params", {}) if isinstance(streamed[-1], dict) else {}
            if started is not None and params.get("event") == "started":
                started.set()
    assert streamed and streamed[-1] == "[DONE]", streamed[-3:]
    return streamed


def check(sandbox: SandboxState, door: Door, providers: list[str]) -> dict[str, list[str]]:
    """Every provider's app thread, then each interruption once for all of them (a restart
    of the Bridge, kill -9 of every agent, kill -9 of the Bridge), each thread continued
    after each; returns how each continued."""
    token = door.token.read_text().strip()
    threads = {name: _thread(sandbox, door, token, name) for name in providers}
    continued: dict[str, list[str]] = {name: [] for name in providers}
    interruptions = (
        partial(inside, sandbox, "systemctl", "restart", BRIDGE.unit or ""),
        partial(inside, sandbox, "systemctl", "kill", "-s", "KILL", "aiws-acp-*@*"),
        partial(_kill_the_bridge, sandbox, door),
    )
    for n, interrupt in enumerate(interruptions):
        interrupt()
        assert wait_for(door.healthy, 30)  # a restarted Bridge listens a moment after its start
        for name, hinted in threads.items():
            continued[name].append(_continue(sandbox, door, token, name, hinted, n))
    for name, ways in continued.items():
        print(f"{name}: continued after restart / agent kill -9 / Bridge kill -9 with "
              f"{' / '.join(ways)}", flush=True)  # fmt: skip
        # What the Bridge said of continuing this agent's threads (a load that failed, say).
        said = [line for line in _journals(sandbox, name).splitlines() if "continuing" in line]
        if said:
            print(f"{name}: the Bridge's journal: {said}", flush=True)
        closed = result_of(replay(door, token, "session_close", thread=threads[name]["thread"]))
        assert closed == {"accepted": True, "closed": True}
    _control_plane(door, token)
    _twenty_threads(sandbox, door, token)
    _tokens(sandbox, door, token)
    _unauthorised_bodies(sandbox, door, token)
    return continued


GATEWAYS = ("openclaw",)
MESSAGE = "session_message_with_hint"


def _thread(sandbox: SandboxState, door: Door, token: str, provider: str) -> dict[str, Any]:
    """The provider's app thread: its first turn, a turn with the hint it returned, files in
    and out; the values that continue it."""
    account = CATALOG.component(provider).user
    thread = f"draft:1786594930512345-{provider}"
    # The gateway's own start (the app's release builds send only that target), else an
    # agent's; a message continues the thread on its own provider whatever it routes to.
    gateway = provider in GATEWAYS
    start = "session_start_gateway" if gateway else "session_start_agent"
    values = {} if gateway else {"provider": provider}
    began = time.monotonic()
    first = result_of(replay(door, token, start, thread=thread, prompt="hello", **values))
    print(f"{provider}: app thread's first turn {time.monotonic() - began:.1f} s", flush=True)
    assert first["status"] == "completed" and MOCK_TEXT in first["output"], first
    workspace = first["remoteWorkingDirectory"]
    assert workspace.startswith(f"{ROOT}/{provider}/{TOKEN_NAME}/"), workspace
    assert inside(sandbox, "stat", "-c", "%a %U", workspace) == f"700 {account}"

    hinted = dict(values, thread=thread, hint=workspace)
    again = result_of(replay(door, token, MESSAGE, prompt="more", **hinted))
    assert again["remoteWorkingDirectory"] == workspace and MOCK_TEXT in again["output"], again
    _files_in_and_out(sandbox, door, token, provider, account)
    return hinted


def _continue(
    sandbox: SandboxState, door: Door, token: str, provider: str, hinted: dict[str, Any], n: int
) -> str:
    """The thread's next message after interruption `n`: how it continued, how long."""
    began = time.monotonic()
    streamed = replay(door, token, MESSAGE, prompt=f"after interruption {n}", **hinted)
    outcome = streamed[-2].get("result") or {}
    if outcome.get("status") != "completed":
        print(f"{provider} after interruption {n}: {streamed[-2]}\n"
              f"{_journals(sandbox, provider)}", flush=True)  # fmt: skip
    assert outcome.get("status") == "completed" and MOCK_TEXT in outcome["output"], outcome
    return f"{resumed_with(streamed)} ({time.monotonic() - began:.1f} s to the result)"


def _journals(sandbox: SandboxState, provider: str) -> str:
    """The Bridge's and the agent's session units' recent journal (for failure messages)."""
    units = ("-u", BRIDGE.unit or "", "-u", f"aiws-acp-{provider}@*")
    return inside(sandbox, "journalctl", *units, "--no-pager", "-n", "80", "-o", "cat")


def _kill_the_bridge(sandbox: SandboxState, door: Door) -> None:
    unit = BRIDGE.unit or ""
    pid = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit)
    inside(sandbox, "sh", "-c", f"kill -9 {pid}")

    def restarted() -> bool:
        now = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit)
        return now not in ("0", pid) and exists(sandbox, "/proc/" + now)

    assert wait_for(restarted, 30) and wait_for(door.healthy, 30)


def _files_in_and_out(
    sandbox: SandboxState, door: Door, token: str, provider: str, account: str
) -> None:
    """An attachment reaches the workspace as the agent's file, at the path the prompt
    names; a file the agent's account writes there during the turn comes back in it."""
    thread = f"draft:1786594930512345-{provider}-files"
    attachment = hashlib.sha256(provider.encode()).digest() * 1000  # 32000 bytes, binary
    workspace = thread_workspace(ROOT, provider, TOKEN_NAME, thread, "/Users/alice/x", None)
    made = f"{workspace}/out/report-{provider}.txt"
    content = f"made in the workspace by {account} during the turn\n"
    name = "session_start_with_attachment"
    if provider in GATEWAYS:
        _gateway_files(sandbox, door, token, attachment)
        return
    # The turn's `started` update comes after the Bridge noted the workspace's files, and the
    # mock holds the model's answer for a few seconds: a file written now is the turn's.
    started = threading.Event()
    turn = Background(partial(
        replay, door, token, name, started, provider=provider, thread=thread,
        prompt=f"notes {SLOW}", attachment=attachment,
    )).started()  # fmt: skip
    attached = f"{workspace}/attachments/notes.txt"
    assert started.wait(120), "no started update"
    assert exists(sandbox, attached), attached
    inside(sandbox, "runuser", "-u", account, "--", "sh", "-c",
           f"mkdir -p {workspace}/out && printf '%s' '{content}' > {made}")  # fmt: skip
    turn.join(180)
    result = result_of(turn.value)
    assert result["status"] == "completed", result
    assert inside(sandbox, "stat", "-c", "%U %a", attached) == f"{account} 600"
    held = inside(sandbox, "runuser", "-u", account, "--", "sha256sum", attached).split()[0]
    assert held == hashlib.sha256(attachment).hexdigest()
    artifacts = {a["relativePath"]: a for a in result["artifacts"]}
    assert list(artifacts) == [f"out/report-{provider}.txt"], list(artifacts)
    back = artifacts[f"out/report-{provider}.txt"]
    assert back["encoding"] == "utf8" and back["content"] == content
    assert back["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    assert str(PurePosixPath(result["remoteWorkingDirectory"])) == str(workspace)


def _gateway_files(sandbox: SandboxState, door: Door, token: str, attachment: bytes) -> None:
    """The gateway target takes the app's attachment into its thread's workspace too."""
    headers, body = app_requests.load("session_start_with_attachment", token=token,
                                      thread="draft:1-gw-files", attachment=attachment)  # fmt: skip
    params = body["params"]
    params.update(executionTarget="gateway", requestedExecutionTarget="gateway",
                  routing={"routingMode": "explicit", "explicitExecutionTarget": "gateway",
                           "preferredGatewayProviderId": "openclaw"})  # fmt: skip
    params.pop("provider")
    headers.pop("Accept-Encoding")
    reply = door.request("POST", "/acp/rpc", content=json.dumps(body), headers=headers,
                         timeout=180)  # fmt: skip
    final = json.loads([c for c in reply.text.split("\n\n") if c.startswith("data: {")][-1][6:])
    result = final["result"]
    assert result["status"] == "completed", result
    attached = f"{result['remoteWorkingDirectory']}/attachments/notes.txt"
    assert inside(sandbox, "stat", "-c", "%U %a", attached) == "aiws-openclaw 600"


def _running_sessions(sandbox: SandboxState) -> int:
    units = inside(sandbox, "systemctl", "list-units", "aiws-acp-*@*", "--state=active",
                   "--no-legend", "--plain")  # fmt: skip
    return len(units.splitlines())


def _settled_sessions(sandbox: SandboxState, limit: int, within: float = 10.0) -> float:
    """Seconds until no more than `limit` agent units are active. The Bridge closes an evicted
    agent's connection before it opens the next one, but systemd ends that unit a moment
    later, so the count may briefly read one over."""
    began = time.monotonic()
    while _running_sessions(sandbox) > limit:
        assert time.monotonic() - began < within, f"more than {limit} agents after {within} s"
        time.sleep(0.2)
    return time.monotonic() - began


def _twenty_threads(sandbox: SandboxState, door: Door, token: str) -> None:
    """20 of the app's threads opened one after another on the installed Bridge (its
    `max_sessions` 8), none closed: every turn answered, no more than 8 agents running, and
    the first thread still continues."""
    limit = 8
    keys = [f"draft:1786594930600000-{n}" for n in range(20)]
    began, settling = time.monotonic(), 0.0
    for key in keys:
        result = result_of(replay(door, token, "session_start_agent", provider="codex",
                                  thread=key, prompt="hi"))  # fmt: skip
        assert result["status"] == "completed" and MOCK_TEXT in result["output"], result
        settling = max(settling, _settled_sessions(sandbox, limit))
    opened = time.monotonic() - began
    first = replay(door, token, MESSAGE, provider="codex", thread=keys[0], prompt="still there")
    assert result_of(first)["status"] == "completed" and resumed_with(first) == "session/load"
    print(f"20 threads on {limit} agents: {opened:.1f} s for the 20 first turns, the first "
          f"thread continued; an evicted agent's unit ended within {settling:.1f} s",
          flush=True)  # fmt: skip
    for key in keys:
        assert result_of(replay(door, token, "session_close", thread=key))["accepted"] is True


def _tokens(sandbox: SandboxState, door: Door, token: str) -> None:
    """A second token reaches none of the first token's threads; revoked, its open WebSocket
    is closed within 5 s."""
    # `aiws bridge tokens` runs on the Bridge's host only (aiws is not on this host yet):
    # the token is added to the Bridge's tokens file there as that command writes it.
    second = "second-token-" + hashlib.sha256(token.encode()).hexdigest()[:24]
    _tokens_file(sandbox, add=("second", hashlib.sha256(second.encode()).hexdigest()))
    thread = "draft:1786594930700000-1"
    mine = result_of(replay(door, token, "session_start_agent", provider="codex", thread=thread,
                            prompt="mine"))  # fmt: skip
    assert mine["status"] == "completed"
    stolen = replay(door, second, "session_message_with_hint", provider="codex", thread=thread,
                    prompt="theirs")  # fmt: skip
    assert stolen[-2]["error"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")
    assert result_of(replay(door, second, "session_close", thread=thread))["accepted"] is True
    again = result_of(replay(door, token, "session_message_with_hint", provider="codex",
                             thread=thread, prompt="still mine"))  # fmt: skip
    assert again["status"] == "completed", again
    with door.websocket(second) as held:
        _tokens_file(sandbox, drop="second")
        gone = time.monotonic()
        with pytest.raises(ConnectionClosed):
            held.recv(10)
        assert time.monotonic() - gone < 5
    print(f"revoked token's WebSocket closed after {time.monotonic() - gone:.1f} s", flush=True)
    ping = door.request("GET", "/api/ping", headers={"Authorization": f"Bearer {second}"})
    assert ping.status_code == 401


TOKENS_FILE = resolve_component(CATALOG, BRIDGE)["layout"]["tokens"]
EDIT_TOKENS = """
import json, os, sys
path, name, digest = sys.argv[1:4]
info = os.stat(path)
with open(path) as given:
    data = json.load(given)
data["tokens"] = [t for t in data["tokens"] if t["name"] != name]
if digest:
    data["tokens"].append({"name": name, "sha256": digest, "created": "2026-12-07T00:00:00Z"})
with open(path + ".new", "w") as out:
    json.dump(data, out)
os.chown(path + ".new", info.st_uid, info.st_gid)
os.chmod(path + ".new", info.st_mode & 0o777)
os.replace(path + ".new", path)
"""


def _tokens_file(sandbox: SandboxState, add: tuple[str, str] | None = None, drop: str = "") -> None:
    """Add (name, sha256) to or drop a name from the Bridge's tokens file, atomically."""
    name, digest = add if add is not None else (drop, "")
    inside(sandbox, "python3", "-c", EDIT_TOKENS, TOKENS_FILE, name, digest)


def _control_plane(door: Door, token: str) -> None:
    """The app's OpenClaw panels: connect, then their read-only requests answered by the
    real gateway through the Bridge, then disconnect."""
    connect = result_of(replay(door, token, "gateway_connect"))
    assert connect["ok"] is True and connect["snapshot"]["status"] == "connected", connect
    for name in ("health", "status", "agents_list", "sessions_list", "models_list"):
        answer = result_of(replay(door, token, f"gateway_request_{name}"))
        assert answer["ok"] is True and answer["error"] is None, (name, answer)
        assert isinstance(answer["payload"], dict), (name, answer)
    agents = result_of(replay(door, token, "gateway_request_agents_list"))["payload"]
    assert [a["id"] for a in agents["agents"]], agents
    assert result_of(replay(door, token, "gateway_disconnect"))["ok"] is True
    logs = result_of(replay(door, token, "system_logs"))
    assert logs["bridgeStatus"] == "running" and logs["gatewayStatus"] == "running", logs


def _unauthorised_bodies(sandbox: SandboxState, door: Door, token: str) -> None:
    """50 parallel 16 MiB bodies without a token: the Bridge answers others in under 1 s
    and stays within its MemoryMax."""
    unit = BRIDGE.unit or ""
    limit = int(inside(sandbox, "systemctl", "show", "-p", "MemoryMax", "--value", unit))
    chunk = b"x" * (1 << 20)

    def flood() -> int:
        def body() -> Any:
            for _ in range(16):
                yield chunk

        try:
            return door.request("POST", "/acp/rpc", content=body(), timeout=120,
                                headers={"Content-Length": str(16 << 20)}).status_code  # fmt: skip
        except Exception:
            return 0

    floods = [Background(flood).started() for _ in range(50)]
    time.sleep(1.0)
    took, peak = [], 0
    health = {"jsonrpc": "2.0", "id": "h", "method": "health"}
    for _ in range(5):
        sent = time.monotonic()
        reply = door.request("POST", "/acp/rpc", json=health,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        took.append(time.monotonic() - sent)
        assert reply.json()["result"]["status"] == "ok"
        # The Bridge's resident memory (its unit's MemoryCurrent is not kept in a sandbox).
        pid = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit)
        status = inside(sandbox, "cat", f"/proc/{pid}/status")
        rss_kib = next(int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmRSS:"))  # fmt: skip
        peak = max(peak, rss_kib << 10)
    for one in floods:
        one.join(180)
    codes = [one.value for one in floods]
    assert set(codes) <= {401, 413, 0} and codes.count(401) >= 1, codes
    print(f"50 unauthorised 16 MiB bodies: health {max(took):.3f} s at most, the Bridge's "
          f"memory {peak >> 20} MB (limit {limit >> 20} MB)", flush=True)  # fmt: skip
    assert max(took) < 1.0 and peak < limit, (took, peak, limit)
    assert threading.active_count() < 200
