"""The Bridge as the XWorkmate app uses it: the app's own request bodies replayed
(tests/fixtures/app_requests, read from the app's code), threads that map device paths to
workspaces of their own and continue when their agent is gone (idle timeout, a restart of
the Bridge, kill -9 of the agent), attachments in and files back, running agents bounded
without refusing threads, one token's threads its own, revocation, and limits before work.
Real HTTP/SSE/WebSocket on the loopback (and through Caddy where `bridge` says so), a real
ACP agent as each thread's child."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.asyncio.server
from websockets.exceptions import ConnectionClosed

from aiws_bridge.auth import digest
from aiws_bridge.settings import Settings
from tests.helpers import app_requests
from tests.helpers.bridge_server import (
    AGENT,
    SSE,
    TOKEN,
    Background,
    StreamedTurn,
    agent_pid,
    auth,
    bridge_process,
    events,
    gone,
    http,
    result_of,
    resumed_with,
    resumed_with_all,
    rpc,
    rss_mb,
    served,
    start,
    statuses,
    workspace_of,
    write_settings,
    ws_connect,
)

OTHER = "bridge-test-token-second-9876543210"
OWNER_DEVICE = "c6056c3ee5c350bf4fd313cbe3a45106b46c51cf3787162dfbeedbb5fabd2494"


def replay(base: str, name: str, **values: Any) -> list[Any]:
    """One of the app's requests, as the app sends it (its headers, its body), answered
    over SSE: the events, the final envelope last but one."""
    headers, body = app_requests.load(name, token=TOKEN, **values)
    headers.pop("Accept-Encoding")
    reply = http("POST", base + "/acp/rpc", content=json.dumps(body), headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    streamed = events(reply)
    assert streamed[-1] == "[DONE]" and streamed[-2]["id"] == body["id"], streamed[-2:]
    return streamed


@pytest.mark.parametrize("provider", ["codex", "hermes"])
def test_the_apps_requests_replayed(bridge: str, tmp_path: Path, provider: str) -> None:
    """Every request kind of the app, with its values: device paths are thread places (never
    refused), the hint the Bridge returned continues the thread, attachments reach the agent
    and the files it makes come back."""
    caps = result_of(replay(bridge, "acp_capabilities"))
    assert provider in [p["providerId"] for p in caps["providerCatalog"]]
    routed = result_of(replay(bridge, "routing_resolve"))
    assert routed["status"] == "available", routed
    logs = result_of(replay(bridge, "system_logs"))
    assert logs["bridgeStatus"] == "running"

    thread = f"draft:1786594930512345-{provider}"
    first = replay(bridge, "session_start_agent", provider=provider, thread=thread,
                   prompt="hello from the app")  # fmt: skip
    result = result_of(first)
    assert result["status"] == "completed" and result["provider"] == provider, result
    workspace = result["remoteWorkingDirectory"]
    expected = workspace_of(tmp_path, "draft_1786594930512345-" + provider, provider)
    assert workspace.startswith(str(expected)) and Path(workspace).is_dir(), workspace
    assert result["resolvedWorkingDirectory"] == workspace
    assert result["remoteWorkspaceRefKind"] == "remotePath"
    assert result["remoteExecution"]["remoteWorkingDirectory"] == workspace
    assert statuses(first)[0]["remoteWorkingDirectory"] == workspace
    # The prompt's device path names the server workspace (the echo agent says the prompt).
    assert f"currentTaskWorkspace: {workspace}" in result["output"], result["output"]
    assert "/Users/alice/.xworkmate/threads/draft-" not in result["output"].split("local")[0]

    again = result_of(replay(bridge, "session_message_with_hint", provider=provider,
                             thread=thread, hint=workspace, prompt="and more"))  # fmt: skip
    assert again["status"] == "completed" and again["remoteWorkingDirectory"] == workspace
    assert "and more" in again["output"]

    cancel = result_of(replay(bridge, "session_cancel", thread=thread))
    assert cancel == {"accepted": True}
    closed = result_of(replay(bridge, "session_close", thread=thread))
    assert closed == {"accepted": True, "closed": True}

    owned = result_of(replay(bridge, "session_start_owner_scoped", provider=provider,
                             thread=thread + "-owned"))  # fmt: skip
    assert f"/owners/local/user/{OWNER_DEVICE}/threads/" in owned["remoteWorkingDirectory"]
    assert owned["remoteWorkingDirectory"].startswith(str(tmp_path / "workspaces" / provider))
    mobile = result_of(replay(bridge, "session_start_mobile", provider=provider,
                              thread=thread + "-mobile"))  # fmt: skip
    assert mobile["status"] == "completed", mobile

    data = bytes(range(256)) * 40
    attached = result_of(replay(bridge, "session_start_with_attachment", provider=provider,
                                thread=thread + "-files", prompt="copy attachments",
                                attachment=data))  # fmt: skip
    place = Path(attached["remoteWorkingDirectory"])
    named = [line for line in attached["output"].split("\n") if "/attachments/" in line]
    assert named == [f"- {place}/attachments/notes.txt"], attached["output"]
    assert (place / "attachments" / "notes.txt").read_bytes() == data
    (artifact,) = attached["artifacts"]
    assert artifact["relativePath"] == "out/notes.txt" and artifact["encoding"] == "base64"
    assert artifact["sizeBytes"] == len(data)
    assert (
        artifact["sha256"]
        == app_requests.load("session_start_with_attachment", attachment=data)[1]["params"][
            "inlineAttachments"
        ][0]["sha256"]
    )


def test_the_apps_gateway_requests(bridge: str) -> None:
    """The gateway target's chat, and the OpenClaw control plane the app calls: the app's
    `{ok, payload, error}` shape, never a JSON-RPC error."""
    chat = result_of(replay(bridge, "session_start_gateway", prompt="hello gateway"))
    assert chat["status"] == "completed" and chat["resolvedGatewayProviderId"] == "openclaw"
    assert f"/owners/local/user/{OWNER_DEVICE}/threads/" in chat["remoteWorkingDirectory"]
    connect = result_of(replay(bridge, "gateway_connect"))
    assert connect["ok"] is True and connect["snapshot"]["status"] == "connected", connect
    for name in [n for n in app_requests.NAMES if n.startswith("gateway_request_")]:
        answer = result_of(replay(bridge, name))
        assert set(answer) == {"ok", "payload", "error"}, (name, answer)
        assert answer["ok"] is False and answer["error"]["code"], (name, answer)
    assert result_of(replay(bridge, "gateway_disconnect"))["ok"] is True
    logs = result_of(replay(bridge, "system_logs"))
    assert logs["gatewayStatus"] == "ready"  # no health URL set: installed, not probed


def test_control_characters_in_ids_and_paths_are_refused(bridge: str) -> None:
    bad = events(start(bridge, "ok-id", "hi", workingDirectory="/Users/a\n/b"))[-2]
    assert bad["error"]["code"] == -32602 and "control" in bad["error"]["message"]
    params = {"sessionId": "x", "threadId": "t\x01", "taskPrompt": "hi", "provider": "codex"}
    assert rpc(bridge, "session.start", params).json()["error"]["code"] == -32602


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[tuple[Settings, Path]]:
    """Settings with the thread records on disk and two tokens (first, second)."""
    settings = write_settings(tmp_path, state_dir=str(tmp_path / "state"))
    tokens = {"tokens": [{"name": "first", "sha256": digest(TOKEN)},
                         {"name": "second", "sha256": digest(OTHER)}]}  # fmt: skip
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    yield settings, tmp_path


def message(base: str, session: str, prompt: str, token: str = TOKEN) -> list[Any]:
    params = {"sessionId": session, "threadId": session, "taskPrompt": prompt}
    return events(rpc(base, "session.message", params, headers={**SSE, **auth(token)}))


def test_a_thread_continues_after_idle_restart_and_kill(durable: tuple[Settings, Path]) -> None:
    """Idle timeout, a restart of the Bridge, kill -9 of the agent: each time the next
    message continues the thread (a new agent, primed with the transcript: the echo agent
    offers no loadSession) and says so."""
    settings, tmp = durable
    quick = settings.model_copy(update={"idle_timeout_s": 0.4})
    with served(quick) as base:
        assert result_of(events(start(base, "t1", "remember 4711")))["status"] == "completed"
        pid = agent_pid(workspace_of(tmp, "t1"))
        assert gone(pid, wait=5), "the idle agent was not stopped"
        after_idle = message(base, "t1", "after idle")
        assert resumed_with(after_idle) == "transcript"
        assert "remember 4711" in result_of(after_idle)["output"]
    with served(settings) as base:  # the same state directory: a restarted Bridge
        after_restart = message(base, "t1", "after restart")
        assert resumed_with(after_restart) == "transcript", statuses(after_restart)
        output = result_of(after_restart)["output"]
        assert "remember 4711" in output and "after idle" in output
        os.kill(agent_pid(workspace_of(tmp, "t1")), signal.SIGKILL)
        after_kill = message(base, "t1", "after kill")
        assert result_of(after_kill)["status"] == "completed"
        assert resumed_with(after_kill) == "transcript"
        record = json.loads((tmp / "state/threads/first/t1.json").read_text())
        assert [t["prompt"] for t in record["transcript"]][-1] == "after kill"
        assert (tmp / "state/threads/first/t1.json").stat().st_mode & 0o777 == 0o600


def test_an_agent_that_offers_load_continues_its_own_session(tmp_path: Path) -> None:
    agent = {"launcher": AGENT, "env": {"ACP_ECHO_LOAD": "1"}}
    settings = write_settings(tmp_path, agents={"codex": agent}, state_dir=str(tmp_path / "s"))
    with served(settings) as base:
        assert result_of(events(start(base, "l1", "first")))["output"] == "echo: first"
    with served(settings) as base:
        loaded = message(base, "l1", "second")
        assert resumed_with(loaded) == "session/load"
        assert result_of(loaded)["output"] == "loaded s1 echo: second"


def test_a_load_the_agent_cannot_serve_falls_back_to_the_transcript(tmp_path: Path) -> None:
    """An agent that accepts `session/load` and then fails the turn (it ends): the thread
    still continues, once, in a new agent with the transcript, never stuck."""
    agent = {"launcher": AGENT, "env": {"ACP_ECHO_LOAD": "broken"}}
    settings = write_settings(tmp_path, agents={"codex": agent}, state_dir=str(tmp_path / "s"))
    with served(settings) as base:
        assert result_of(events(start(base, "b1", "remember 4711")))["status"] == "completed"
    with served(settings) as base:
        continued = message(base, "b1", "after the restart")
        assert resumed_with_all(continued) == ["session/load", "transcript"]
        output = result_of(continued)["output"]
        assert "remember 4711" in output and output.endswith("after the restart"), output


def test_twenty_threads_on_eight_agents(tmp_path: Path) -> None:
    """max_sessions bounds running agents, not threads: every turn of 20 open threads is
    answered, no more than 8 agents run, and the first thread still continues."""
    settings = write_settings(tmp_path, max_sessions=8)
    with served(settings) as base:
        for n in range(20):
            assert result_of(events(start(base, f"many-{n}", f"turn {n}")))["status"] == (
                "completed"
            )
            assert len(_echo_agents(tmp_path)) <= 8
        first = message(base, "many-0", "still there")
        assert result_of(first)["status"] == "completed"
        assert resumed_with(first) == "transcript"


def test_a_turn_waits_when_every_agent_is_busy(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, max_sessions=1)
    with served(settings) as base:
        busy = StreamedTurn(base, "busy", "wait").started()
        assert busy.wait_for('"waiting"'), busy.text  # the one agent is running its turn
        waiting = StreamedTurn(base, "next", "hi").started()
        assert waiting.wait_for('"queued"'), waiting.text
        time.sleep(0.5)
        assert not waiting.done, "the second thread did not wait"
        rpc(base, "session.cancel", {"sessionId": "busy", "threadId": "busy"})
        busy.join(30)
        waiting.join(30)
        assert not busy.is_alive() and not waiting.is_alive()
        streamed = events(waiting.text)
        assert next(u["event"] for u in statuses(streamed)) == "queued"
        assert result_of(streamed)["output"] == "echo: hi"
        assert result_of(events(busy.text))["status"] == "cancelled"


def test_one_tokens_threads_are_its_own(durable: tuple[Settings, Path]) -> None:
    settings, tmp = durable
    with served(settings) as base:
        runner = StreamedTurn(base, "mine", "wait").started()
        assert runner.wait_for('"waiting"'), runner.text
        theirs = {**auth(OTHER), **SSE}
        ids = {"sessionId": "mine", "threadId": "mine"}
        stolen = events(rpc(base, "session.message", {**ids, "taskPrompt": "x"}, headers=theirs))
        assert stolen[-2]["error"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")
        assert "waiting" not in json.dumps(stolen)
        rpc(base, "session.cancel", ids, headers=auth(OTHER))
        rpc(base, "session.close", ids, headers=auth(OTHER))
        time.sleep(0.5)
        assert runner.is_alive(), "another token cancelled the turn"
        rpc(base, "session.cancel", ids)
        runner.join(30)
        assert result_of(events(runner.text))["status"] == "cancelled"
        assert result_of(message(base, "mine", "still mine"))["output"] == "echo: still mine"
        # The other token's thread of the same id is its own, in a workspace of its own.
        params = {**ids, "taskPrompt": "theirs", "provider": "codex"}
        own = result_of(events(rpc(base, "session.start", params, headers=theirs)))
        assert own["remoteWorkingDirectory"] == str(workspace_of(tmp, "mine", token="second"))
        assert own["output"] == "echo: theirs"


def test_a_revoked_tokens_connections_end_within_5_s(durable: tuple[Settings, Path]) -> None:
    settings, tmp = durable
    with served(settings) as base:
        url = base.replace("http", "ws", 1) + "/acp"
        held = ws_connect(url, additional_headers=auth(OTHER)).__enter__()
        params = {"sessionId": "held", "threadId": "held", "taskPrompt": "wait",
                  "provider": "codex"}  # fmt: skip
        holder = Background(
            partial(rpc, base, "session.start", params, headers={**SSE, **auth(OTHER)})
        ).started()
        time.sleep(1.0)
        tokens = {"tokens": [{"name": "first", "sha256": digest(TOKEN)}]}
        (tmp / "tokens.json").write_text(json.dumps(tokens))
        revoked = time.monotonic()
        with pytest.raises(ConnectionClosed):
            held.recv(5)
        assert time.monotonic() - revoked < 5
        holder.join(5)
        assert holder.ended is not None and holder.ended - revoked < 5
        assert not any("result" in e for e in events(holder.value) if isinstance(e, dict))
        assert http("GET", base + "/api/ping", headers=auth(OTHER)).status_code == 401
        assert gone(agent_pid(workspace_of(tmp, "held", token="second")))


def test_parallel_starts_of_one_thread_leave_one_agent(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, max_sessions=2)
    with served(settings) as base:
        starters = [Background(partial(start, base, "same", "go")).started() for _ in range(6)]
        for starter in starters:
            starter.join(60)
        assert all(events(s.value)[-1] == "[DONE]" for s in starters)
        pids = _echo_agents(tmp_path)
        assert len(pids) <= 1, pids


def _echo_agents(tmp_path: Path) -> list[int]:
    """The echo agents still running whose workspace is under this test's root."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        if b"acp_echo_agent.py" in cmd and cwd.startswith(str(tmp_path)):
            found.append(int(entry.name))
    return found


def test_bodies_are_bounded_and_unauthorised_ones_never_read(tmp_path: Path) -> None:
    """The token is checked from the headers before the body: 50 parallel 16 MiB bodies
    without one leave the Bridge answering in under a second and its memory low; a body over
    the limit is refused by its Content-Length."""
    settings = write_settings(tmp_path)
    bridge = bridge_process(settings, tmp_path / "bridge.json")
    base = f"http://127.0.0.1:{settings.port}"
    try:
        before = rss_mb(bridge.pid)
        chunk = b"x" * (1 << 20)
        refused: list[int] = []

        def flood() -> None:
            def body() -> Iterator[bytes]:
                for _ in range(16):
                    yield chunk

            try:
                reply = httpx.post(
                    base + "/acp/rpc",
                    content=body(),
                    timeout=60,
                    headers={"Content-Length": str(16 << 20)},
                    trust_env=False,
                )
                refused.append(reply.status_code)
            except httpx.TransportError:
                refused.append(0)  # the Bridge answered 401 and closed before the upload ended

        floods = [threading.Thread(target=flood) for _ in range(50)]
        for one in floods:
            one.start()
        time.sleep(0.5)
        timed = []
        for _ in range(5):
            sent = time.monotonic()
            assert rpc(base, "health").json()["result"]["status"] == "ok"
            timed.append(time.monotonic() - sent)
        for one in floods:
            one.join(120)
        assert set(refused) <= {401, 0} and refused.count(401) >= 1, refused
        assert max(timed) < 1.0, timed
        grown = rss_mb(bridge.pid) - before
        assert grown < 100, f"the Bridge grew by {grown:.0f} MB"
        status, answer = _declared_only(settings.port, 64 << 20)
        assert status == 413 and json.loads(answer)["error"]["code"] == -32600
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(10)


def _declared_only(port: int, length: int) -> tuple[int, bytes]:
    """A request that declares a body of `length` bytes and sends none of it: the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            f"POST /acp/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_the_model_the_user_picked(tmp_path: Path) -> None:
    """routing.explicitModel sets the agent's model where LiteLLM serves it to that agent
    (ACP's `model` option); resolvedModel is the one that answered; a model not served is
    unavailable, naming those that are; the app's default `model` alone changes nothing."""
    agent = {"launcher": AGENT, "env": {"ACP_ECHO_MODELS": "fast,deep"}, "models": ["fast", "deep"]}
    settings = write_settings(tmp_path, agents={"codex": agent})
    routing = {"routingMode": "explicit", "explicitExecutionTarget": "agent",
               "explicitProviderId": "codex"}  # fmt: skip
    with served(settings) as base:
        default = result_of(events(start(base, "m0", "hi", model="qwen2.5-coder:latest")))
        assert default["output"] == "[litellm/fast] echo: hi" and default["resolvedModel"] == "fast"
        picked = result_of(
            events(start(base, "m1", "hi", routing={**routing, "explicitModel": "deep"}))
        )
        assert picked["output"] == "[litellm/deep] echo: hi" and picked["resolvedModel"] == "deep"
        params = {"sessionId": "m1", "threadId": "m1", "taskPrompt": "again"}
        kept = result_of(events(rpc(base, "session.message", params, headers=SSE)))
        assert kept["output"] == "[litellm/deep] echo: again"
        refused = result_of(
            events(start(base, "m2", "hi", routing={**routing, "explicitModel": "gpt-9"}))
        )
        assert refused["unavailable"] is True and refused["unavailableCode"] == "MODEL_UNAVAILABLE"
        assert refused["unavailableMessage"].endswith("served: fast, deep"), refused
    # An agent that offers no model option keeps its own; the Bridge does not claim the one
    # asked for answered.
    plain = write_settings(tmp_path, agents={"codex": {"launcher": AGENT, "models": ["fast"]}})
    with served(plain) as base:
        kept = result_of(
            events(start(base, "m3", "hi", routing={**routing, "explicitModel": "fast"}))
        )
        assert kept["output"] == "echo: hi" and kept["resolvedModel"] == ""


class StubGateway:
    """OpenClaw's gateway protocol as the Bridge meets it (a challenge event, `connect` with
    the token, then requests; events pushed in between), on the loopback: it records what it
    was sent. The real gateway answers on the all-in-one host (tests/helpers/app_threads.py)."""

    def __init__(self, token: str, scopes: list[str] | None = None) -> None:
        self.token, self.scopes = token, scopes if scopes is not None else ["operator.read"]
        self.frames: list[dict[str, Any]] = []
        self.port = 0

    async def handle(self, socket: Any) -> None:
        await socket.send(json.dumps({"type": "event", "event": "connect.challenge",
                                      "payload": {"nonce": "n1", "ts": 1}}))  # fmt: skip
        async for text in socket:
            frame = json.loads(text)
            self.frames.append(frame)
            await socket.send(json.dumps({"type": "event", "event": "tick", "payload": {}}))
            if frame["method"] == "connect":
                good = frame["params"]["auth"]["token"] == self.token
                hello = {"type": "hello-ok", "auth": {"role": "operator", "scopes": self.scopes}}
                answer = (
                    {"ok": good, "payload": hello}
                    if good
                    else {"ok": False, "error": {"code": "INVALID_REQUEST", "message": "bad token"}}
                )
            elif frame["method"] == "agents.list":
                answer = {"ok": True, "payload": {"agents": [{"id": "main"}], "mainKey": "main"}}
            else:
                answer = {"ok": False, "error": {"code": "FORBIDDEN", "message": "no"}}
            await socket.send(json.dumps({"type": "res", "id": frame["id"], **answer}))

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        ready = threading.Event()
        stop: dict[str, Any] = {}

        async def main() -> None:
            async with websockets.asyncio.server.serve(self.handle, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                stop["loop"], stop["event"] = asyncio.get_running_loop(), asyncio.Event()
                ready.set()
                await stop["event"].wait()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        assert ready.wait(10)
        try:
            yield f"ws://127.0.0.1:{self.port}/"
        finally:
            stop["loop"].call_soon_threadsafe(stop["event"].set)
            thread.join(10)


@pytest.mark.parametrize("scopes", [["operator.read", "operator.pairing"], []])
def test_the_apps_gateway_panels_read_through_the_bridge(tmp_path: Path, scopes: list[str]) -> None:
    """The read-only methods of the app's OpenClaw panels reach the gateway with its token
    and read scopes only; any other method is refused before anything is sent."""
    stub = StubGateway("gateway-secret", scopes)
    (tmp_path / "gateway.token").write_text("gateway-secret\n")
    with stub.running() as url:
        gateway = {"launcher": AGENT, "control_url": url,
                   "control_token_file": str(tmp_path / "gateway.token")}  # fmt: skip
        with served(write_settings(tmp_path, gateways={"openclaw": gateway})) as base:
            listed = result_of(replay(base, "gateway_request_agents_list"))
            if scopes:
                assert listed == {
                    "ok": True,
                    "payload": {"agents": [{"id": "main"}], "mainKey": "main"},
                    "error": None,
                }
            else:
                assert listed["ok"] is False
                assert listed["error"]["code"] == "GATEWAY_UNAUTHORIZED"
            connect = stub.frames[0]
            assert connect["method"] == "connect" and connect["params"]["scopes"] == [
                "operator.read", "operator.pairing"]  # fmt: skip
            assert connect["params"]["client"] == {
                "id": "gateway-client",
                "version": "0.1.0",
                "platform": "linux",
                "mode": "backend",
            }
            seen = len(stub.frames)
            _, body = app_requests.load("gateway_request_agents_list", token=TOKEN)
            body["params"]["method"] = "config.apply"
            refused = rpc(base, "xworkmate.gateway.request", body["params"]).json()["result"]
            assert refused["ok"] is False
            assert refused["error"]["code"] == "GATEWAY_METHOD_UNSUPPORTED"
            assert len(stub.frames) == seen, "a method outside the read list reached the gateway"
            history = result_of(replay(base, "gateway_request_chat_history"))
            assert history["ok"] is False and history["error"]["code"] in (
                "FORBIDDEN",
                "GATEWAY_UNAUTHORIZED",
            )
