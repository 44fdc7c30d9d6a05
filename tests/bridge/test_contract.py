"""The Bridge's wire contract (../docs/bridge.md), over real HTTP, SSE and WebSocket on the
loopback, with a real ACP agent as each session's stdio child (tests/fixtures/
acp_echo_agent.py): auth always on, the check order and status codes, the hybrid envelopes,
capabilities and routing, session start/message/cancel/close, a closed thread refused,
keepalives, and children that die with the Bridge. Threads, workspaces, files and tokens:
tests/bridge/test_threads.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from aiws_bridge.auth import Throttle
from aiws_bridge.methods import Methods
from tests.helpers.bridge_server import (
    AGENT,
    SSE,
    TOKEN,
    TRUST,
    StreamedTurn,
    agent_pid,
    auth,
    bridge_process,
    events,
    gone,
    http,
    rpc,
    serve,
    start,
    workspace_of,
    write_settings,
    ws_connect,
)
from tests.helpers.caddy import operator_certificate, render_caddyfile, running_caddy


def test_root_is_open_and_everything_else_needs_a_token(bridge: str) -> None:
    root = http("GET", bridge + "/")
    assert root.status_code == 200 and root.text == "xworkmate-bridge is running"
    assert root.headers["content-type"].startswith("text/plain")
    assert http("GET", bridge + "/api/ping").status_code == 401
    for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}", TOKEN, f"Bearer   {TOKEN}"):
        ping = http("GET", bridge + "/api/ping", headers={"Authorization": header})
        assert ping.status_code == 200 and ping.json()["status"] == "ok", header
    refused = rpc(bridge, "health", headers=auth("wrong"))
    assert refused.status_code == 401
    assert refused.json() == {
        "jsonrpc": "2.0", "id": None, "type": "res", "ok": False,
        "error": {"code": -32001, "message": "missing bearer authorization"},
    }  # fmt: skip


def test_no_token_configured_serves_nothing(tmp_path: Path) -> None:
    for base in serve(write_settings(tmp_path, tokens=False)):
        assert rpc(base, "health").status_code == 401
        assert rpc(base, "health", headers={"Authorization": ""}).status_code == 401
        assert http("GET", base + "/api/ping", headers=auth()).status_code == 401


def test_the_check_order_and_status_codes(bridge: str) -> None:
    url = bridge + "/acp/rpc"
    allowed = {"Origin": "http://localhost:3000"}
    preflight = http("OPTIONS", url, headers=allowed)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert preflight.headers["access-control-max-age"] == "600"
    bare = http("OPTIONS", url, headers={"Origin": "https://evil.example"})
    assert bare.status_code == 204 and "access-control-allow-origin" not in bare.headers
    wrong_verb = http("GET", url, headers=auth())
    assert wrong_verb.status_code == 405 and wrong_verb.json()["error"]["code"] == -32600
    # origin before auth: a refused origin is 403 even without a token
    evil = http("POST", url, content=b"{}", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"] == {
        "code": -32003, "message": "origin not allowed: https://evil.example"}  # fmt: skip
    # auth before decoding: garbage without a token is 401, with a token 400
    assert http("POST", url, content=b"{not json").status_code == 401
    bad = http("POST", url, content=b"{not json", headers=auth())
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
    blank = http("POST", url, json={"jsonrpc": "2.0", "id": 1, "method": " "}, headers=auth())
    assert blank.status_code == 400 and blank.json()["error"]["message"] == "missing method"
    unknown = rpc(bridge, "no.such", headers=allowed)
    assert unknown.status_code == 200 and unknown.json()["error"] == {
        "code": -32601, "message": "unknown method: no.such"}  # fmt: skip
    assert unknown.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_envelopes_capabilities_and_routing(bridge: str) -> None:
    health = rpc(bridge, "health").json()
    assert health["id"] == "1-health-1" and health["ok"] is True and health["type"] == "res"
    assert health["result"] == health["payload"] and health["result"]["status"] == "ok"
    caps = rpc(bridge, "acp.capabilities").json()["result"]
    assert [p["providerId"] for p in caps["providerCatalog"]] == ["codex", "hermes"]
    assert caps["availableExecutionTargets"] == ["agent", "gateway"]
    assert caps["gatewayProviders"] == [
        {"providerId": "openclaw", "label": "OpenClaw", "targets": ["gateway"],
         "providerDisplay": {"logoEmoji": "\U0001f99e"}}
    ]  # fmt: skip
    assert caps["capabilities"]["providerCatalog"] == caps["providerCatalog"]
    assert caps["capabilities"]["gatewayProviders"] == caps["gatewayProviders"]

    required = rpc(bridge, "xworkmate.routing.resolve", {"taskPrompt": "x"}).json()
    assert (
        required["error"]["code"] == -32602 and "ROUTING_REQUIRED" in required["error"]["message"]
    )
    explicit = {"routingMode": "explicit", "explicitExecutionTarget": "agent",
                "explicitProviderId": "hermes", "explicitModel": "m1"}  # fmt: skip
    resolved = rpc(bridge, "xworkmate.routing.resolve", {"routing": explicit}).json()["result"]
    assert resolved["resolvedExecutionTarget"] == "single-agent"
    assert resolved["resolvedProviderId"] == "hermes" and resolved["resolvedModel"] == "m1"
    assert resolved["status"] == "available" and resolved["unavailable"] is False
    missing = {**explicit, "explicitProviderId": "gemini"}
    gone = rpc(bridge, "xworkmate.routing.resolve", {"routing": missing}).json()["result"]
    assert gone["unavailable"] is True and gone["unavailableCode"] == "PROVIDER_UNAVAILABLE"
    auto = rpc(bridge, "xworkmate.routing.resolve", {"routing": {"routingMode": "auto"}})
    assert auto.json()["result"]["resolvedProviderId"] == "codex"
    gateway = rpc(bridge, "xworkmate.routing.resolve", {"executionTarget": "gateway"})
    assert gateway.json()["result"]["resolvedExecutionTarget"] == "gateway"
    assert gateway.json()["result"]["resolvedGatewayProviderId"] == "openclaw"
    assert gateway.json()["result"]["unavailable"] is False
    other = {"routingMode": "explicit", "explicitExecutionTarget": "gateway",
             "preferredGatewayProviderId": "elsewhere"}  # fmt: skip
    refused = rpc(bridge, "xworkmate.routing.resolve", {"routing": other}).json()["result"]
    assert refused["unavailable"] is True and refused["unavailableCode"] == "PROVIDER_UNAVAILABLE"


def test_a_session_streams_updates_then_the_result_then_done(bridge: str, tmp_path: Path) -> None:
    streamed = events(start(bridge, "thread-1", "hello"))
    assert streamed[-1] == "[DONE]"
    *notes, final, _ = streamed
    updates = [n for n in notes if n["method"] == "session.update"]
    assert {n["method"] for n in notes} <= {"session.update", "xworkmate.bridge.keepalive"}
    assert all(u["params"]["sessionId"] == u["params"]["threadId"] == "thread-1" for u in updates)
    deltas = [u["params"]["delta"] for u in updates if u["params"]["type"] == "delta"]
    assert "".join(deltas) == "echo: hello"
    result = final["result"]
    assert final["id"] == "1-session.start-1" and final["ok"] is True
    assert result["output"] == "echo: hello" and result["status"] == "completed"
    assert result["success"] is True and result["resolvedProviderId"] == "codex"
    workspace = workspace_of(tmp_path, "thread-1")
    assert (workspace / "agent.pid").exists()
    # Where the thread works, on every result and on the turn's first update.
    assert result["remoteWorkingDirectory"] == str(workspace)
    assert result["remoteWorkspaceRefKind"] == "remotePath"
    assert updates[0]["params"]["remoteWorkingDirectory"] == str(workspace)

    again = events(rpc(bridge, "session.message", {"sessionId": "thread-1", "threadId": "thread-1",
                                                   "taskPrompt": "more"}, headers=SSE))  # fmt: skip
    assert again[-2]["result"]["output"] == "echo: more"
    plain = rpc(bridge, "session.message", {"sessionId": "thread-1", "taskPrompt": "plain"})
    assert plain.json()["result"]["output"] == "echo: plain"

    pid = agent_pid(workspace)
    closed = rpc(bridge, "session.close", {"sessionId": "thread-1", "threadId": "thread-1"}).json()
    assert closed["result"] == {"accepted": True, "closed": True}
    assert gone(pid)
    after = rpc(bridge, "session.message", {"sessionId": "thread-1", "threadId": "thread-1",
                                            "taskPrompt": "still there?"}).json()  # fmt: skip
    assert after["error"]["code"] == -32002
    assert after["error"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")
    assert after["error"]["data"]["sessionId"] == "thread-1"


def test_the_gateway_target_runs_a_session_and_keeps_it(bridge: str) -> None:
    """executionTarget gateway: OpenClaw's ACP bridge (here the echo agent) runs the session
    like an agent; a message continues it on the gateway, whatever its own routing says."""
    params = {"sessionId": "gw", "threadId": "gw", "taskPrompt": "hello gateway",
              "executionTarget": "gateway", "mode": "gateway-chat"}  # fmt: skip
    streamed = events(rpc(bridge, "session.start", params, headers=SSE))
    result = streamed[-2]["result"]
    assert result["status"] == "completed" and "hello gateway" in result["output"]
    assert result["resolvedExecutionTarget"] == "gateway"
    assert result["resolvedGatewayProviderId"] == "openclaw" and result["provider"] == "openclaw"
    updates = [e["params"] for e in streamed[:-2] if e.get("method") == "session.update"]
    assert updates and all(u["sessionId"] == "gw" and u["threadId"] == "gw" for u in updates)
    again = {"sessionId": "gw", "threadId": "gw", "taskPrompt": "and again",
             "routing": {"routingMode": "explicit", "explicitExecutionTarget": "agent",
                         "explicitProviderId": "codex"}}  # fmt: skip
    second = events(rpc(bridge, "session.message", again, headers=SSE))[-2]["result"]
    assert second["resolvedGatewayProviderId"] == "openclaw" and "and again" in second["output"]
    assert rpc(bridge, "session.close", {"sessionId": "gw"}).json()["result"]["closed"] is True


def test_a_thread_whose_child_died_continues(bridge: str) -> None:
    """The turn the agent died in fails; the thread does not: the next message opens a new
    agent, and says so."""
    died = events(start(bridge, "dies", "exit now"))[-2]
    assert died["error"]["code"] == -32002 and "EXECUTION_FAILED" in died["error"]["message"]
    params = {"sessionId": "dies", "threadId": "dies", "taskPrompt": "again"}
    after = events(rpc(bridge, "session.message", params, headers=SSE))
    assert after[-2]["result"]["output"] == "echo: again", after[-2]
    statuses = [e["params"] for e in after[:-2] if e.get("method") == "session.update"]
    assert any(u.get("event") == "resumed" for u in statuses), statuses
    never = rpc(bridge, "session.message", {"sessionId": "never", "taskPrompt": "x"}).json()
    assert never["error"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")


def test_cancel_during_a_prompt_and_keepalives(bridge: str) -> None:
    """The cancel is sent once the agent has streamed "waiting" (its turn runs for sure; a
    fixed sleep lost the race on a loaded machine) and a keepalive (every 0.3 s) has passed."""
    turn = StreamedTurn(bridge, "slow", "wait").started()
    assert turn.wait_until(lambda text: "keepalive" in text.partition('"waiting"')[2]), turn.text
    cancel = rpc(bridge, "session.cancel", {"sessionId": "slow", "threadId": "slow"}).json()
    assert cancel["result"] == {"accepted": True}
    turn.join(30)
    assert not turn.is_alive()
    streamed = events(turn.text)
    assert streamed[-2]["result"]["status"] == "cancelled"
    assert streamed[-2]["result"]["stopReason"] == "cancelled"
    keepalive = {"jsonrpc": "2.0", "method": "xworkmate.bridge.keepalive",
                 "params": {"intervalMs": 300}}  # fmt: skip
    assert keepalive in streamed[:-2]


def test_updates_reach_the_client_while_the_turn_runs(bridge: str) -> None:
    """No buffering on the way (Caddy's flush_interval -1): the agent's first chunk arrives
    while its turn still waits, not when it ends."""
    sent = time.monotonic()
    turn = StreamedTurn(bridge, "live", "wait").started()
    assert turn.wait_for('"waiting"', timeout=30), turn.text
    waited = time.monotonic() - sent
    assert waited < 5, waited
    cancel = rpc(bridge, "session.cancel", {"sessionId": "live", "threadId": "live"})
    assert cancel.json()["result"] == {"accepted": True}
    turn.join(30)
    assert [line for line in turn.text.splitlines() if line][-1] == "data: [DONE]"


def test_caddy_routes_health_and_refuses_other_paths(caddy: Path, tmp_path: Path) -> None:
    """The health route is the Bridge's own answer through Caddy; /acp-server/* and paths
    outside the contract end at Caddy (404); the Bridge sees the client's address."""
    for direct in serve(write_settings(tmp_path, keepalive_s=0.3)):
        with running_caddy(caddy, direct.removeprefix("http://"), tmp_path / "c") as (base, ctx):
            TRUST[base] = ctx
            try:
                health = http("GET", base + "/healthz")
                assert health.status_code == 200 and health.text == "xworkmate-bridge is running"
                for path in ("/acp-server/x", "/etc/passwd", "/healthzz", "/apix"):
                    assert http("GET", base + path, headers=auth()).status_code == 404, path
                assert http("GET", base + "/api/ping", headers=auth()).json()["status"] == "ok"
            finally:
                del TRUST[base]
            port = int(base.rsplit(":", 1)[1])
            # The loopback site answers the probes of `aiws status`, and nothing else.
            probe = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, trust_env=False)
            assert probe.status_code == 200
            other = httpx.get(f"https://127.0.0.1:{port}/api/ping", verify=False, trust_env=False)
            assert other.status_code == 404


@pytest.mark.parametrize("tls", ["acme", "internal", "files"])
def test_every_tls_choice_gives_caddy_a_valid_configuration(
    caddy: Path, tmp_path: Path, tls: str
) -> None:
    """roles/caddy's Caddyfile, adapted by the real Caddy: only ACME keeps the :80 redirects
    (and its challenge); the admin API is a socket; the certificate as chosen."""
    (tmp_path / "Caddyfile").write_text(render_caddyfile(8443, "127.0.0.1:8787", tmp_path, tls))
    adapted = subprocess.run(
        [str(caddy), "adapt", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    config = json.loads(adapted.stdout)
    assert "not formatted" not in adapted.stderr, adapted.stderr  # as `caddy fmt` writes it
    assert config["admin"]["listen"] == f"unix/{tmp_path / 'admin.sock'}"
    (server,) = config["apps"]["http"]["servers"].values()
    redirects = server.get("automatic_https", {}).get("disable_redirects", False)
    assert redirects is (tls != "acme")
    policies = json.dumps(config["apps"].get("tls", {}))
    # Both the operator's certificate and aiws's site CA reach Caddy as files.
    assert ("load_files" in policies) is (tls in ("files", "internal"))
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    # Caddy gives up idle connections to the Bridge before the Bridge does (no 502 race).
    handlers = json.dumps(server["routes"], separators=(",", ":"))
    assert handlers.count('"keep_alive":{"idle_timeout":30000000000}') == 3, handlers
    # Request bodies are capped before the Bridge (its own limit: 32 MiB).
    assert handlers.count('"handler":"request_body","max_size":33554432') == 1, handlers


def trusted_only_by(base: str, ctx: ssl.SSLContext, work: Path) -> None:
    """A client trusting `ctx` reaches the Bridge through Caddy; Caddy's own CA (in its
    storage under `work`) did not sign the site: a client trusting only it is refused."""
    reply = httpx.get(base + "/api/ping", headers=auth(), verify=ctx, trust_env=False)
    assert reply.status_code == 200 and reply.json()["status"] == "ok"
    caddy_ca = work / "state" / "pki" / "authorities" / "local" / "root.crt"
    other = ssl.create_default_context(cafile=str(caddy_ca))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(base + "/", verify=other, trust_env=False)


def test_caddy_serves_an_operator_certificate(caddy: Path, tmp_path: Path) -> None:
    """caddy.certificate: the site presents the operator's certificate (a client trusting
    only the operator's CA connects; one trusting only Caddy's own CA is refused)."""
    work = tmp_path / "c"
    operator_ca = operator_certificate(work)
    for direct in serve(write_settings(tmp_path)):
        upstream = direct.removeprefix("http://")
        with running_caddy(caddy, upstream, work, tls="files", trust=operator_ca) as (base, ctx):
            trusted_only_by(base, ctx, work)


def test_caddy_serves_the_site_ca_certificate_and_never_holds_the_cas_key(
    caddy: Path, tmp_path: Path
) -> None:
    """--internal-ca: the site presents the certificate of aiws's site CA (a client trusting
    only that CA connects); Caddy's own CA, which still serves its loopback probe site, did
    not sign it; and nothing Caddy reads or writes holds the site CA's key."""
    work = tmp_path / "c"
    for direct in serve(write_settings(tmp_path)):
        with running_caddy(caddy, direct.removeprefix("http://"), work) as (base, ctx):
            trusted_only_by(base, ctx, work)
    ca_key = (work / "secrets" / "ca_key").read_bytes()
    seen_by_caddy = [p for p in work.rglob("*") if p.is_file() and "secrets" not in p.parts]
    assert seen_by_caddy and not [p for p in seen_by_caddy if ca_key.strip() in p.read_bytes()]


def test_an_unknown_provider_is_unavailable(bridge: str) -> None:
    params = {"sessionId": "x", "taskPrompt": "hi", "provider": "gemini"}
    unknown = events(rpc(bridge, "session.start", params, headers=SSE))[-2]
    assert unknown["result"]["unavailable"] is True


def test_websocket_auth_before_upgrade_and_frames(bridge: str) -> None:
    ws_url = bridge.replace("http", "ws", 1) + "/acp"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(ws_url, open_timeout=5)
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as evil:
        ws_connect(ws_url, additional_headers={**auth(), "Origin": "https://evil.example"})
    assert evil.value.response.status_code == 403
    with ws_connect(ws_url, additional_headers=auth(), open_timeout=5) as ws:
        ws.send("{broken")
        assert json.loads(ws.recv(10))["error"]["code"] == -32700
        ws.send(json.dumps({"jsonrpc": "2.0", "id": "w1", "method": "health"}))
        reply = json.loads(ws.recv(10))
        assert reply["id"] == "w1" and reply["result"]["status"] == "ok"


def test_system_logs_has_the_recent_lines_and_no_token_or_prompt(tmp_path: Path) -> None:
    for base in serve(write_settings(tmp_path), log_level="info"):
        events(start(base, "logged", "a secret prompt 4711"))
        http("GET", base + "/api/ping", headers=auth("wrong-token"))
        result = rpc(base, "system.logs").json()["result"]
        assert result["bridgeStatus"] == "running" and result["gatewayStatus"] == "ready"
        lines = result["bridgeLogs"]
        assert any('"POST /acp/rpc HTTP/1.1" 200' in line for line in lines), lines
        assert any('"GET /api/ping HTTP/1.1" 401' in line for line in lines), lines
        text = "\n".join(lines)
        assert TOKEN not in text and "wrong-token" not in text and "4711" not in text


def test_a_defect_still_answers_and_ends_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in a method (a Bridge bug) is an error answer, never a cut
    stream: the SSE client still gets the error and [DONE], the plain one a JSON error."""

    async def broken(self: Methods, params: dict[str, Any], notify: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Methods, "health", broken)
    for base in serve(write_settings(tmp_path)):
        streamed = events(rpc(base, "health", headers=SSE))
        assert streamed[-1] == "[DONE]"
        assert (
            streamed[-2]["error"]["code"] == -32002
            and "internal" in streamed[-2]["error"]["message"]
        )
        plain = rpc(base, "health")
        assert plain.status_code == 200 and plain.json()["error"]["code"] == -32002


def test_failed_auth_from_one_address_is_slowed_down() -> None:
    throttle = Throttle(free=3)
    for _ in range(3):
        assert throttle.delay("192.0.2.9") == 0
        throttle.failed("192.0.2.9")
    assert throttle.delay("192.0.2.9") == 0.25
    throttle.failed("192.0.2.9")
    assert throttle.delay("192.0.2.9") == 0.5 and throttle.delay("192.0.2.10") == 0
    throttle.succeeded("192.0.2.9")
    assert throttle.delay("192.0.2.9") == 0


def test_children_die_with_the_bridge(tmp_path: Path) -> None:
    lingering = {"launcher": AGENT, "env": {"ACP_ECHO_LINGER": "1"}}
    settings = write_settings(tmp_path, agents={"codex": lingering})
    bridge = bridge_process(settings, tmp_path / "bridge.json")
    base = f"http://127.0.0.1:{settings.port}"
    try:
        assert events(start(base, "orphan", "hello"))[-2]["result"]["output"] == "echo: hello"
        pid = agent_pid(workspace_of(tmp_path, "orphan"))
        assert not gone(pid, wait=0)
    finally:
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
    assert gone(pid), "the agent outlived a kill -9 of the Bridge"


SESSION_SCRIPT = Path(__file__).resolve().parents[2] / "roles/bridge/files/aiws-acp-session"


@pytest.fixture
def agent_socket(tmp_path: Path) -> Iterator[Path]:
    """An agent's socket the way systemd serves it (Accept=yes): each connection starts
    roles/bridge's aiws-acp-session with the connection as stdin and stdout, in a process
    group that is ended when the script ends (what systemd does with the unit's cgroup).
    The agent lingers after its input ends: only the script's end can stop it."""
    path = tmp_path / "codex.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    root = str(tmp_path / "workspaces" / "codex")  # the agent's own directory
    env = {"PATH": "/usr/bin:/bin", "ACP_ECHO_LINGER": "1", "AIWS_BRIDGE_PYTHON": sys.executable}

    def serve_one(conn: socket.socket) -> None:
        with conn:
            script = subprocess.Popen(
                ["bash", str(SESSION_SCRIPT), root, *AGENT], stdin=conn, stdout=conn,
                stderr=subprocess.DEVNULL, env=env, start_new_session=True,
            )  # fmt: skip
        script.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield path
    server.close()


def test_agents_behind_a_socket_run_sessions_and_end_with_them(
    tmp_path: Path, agent_socket: Path
) -> None:
    """The transport aiws installs (docs/bridge.md, Agents): the Bridge only connects; the
    session script makes the workspace and ends the agent when the connection closes."""
    agents = {"codex": {"socket": str(agent_socket), "installed": str(agent_socket)},
              "gemini": {"socket": str(tmp_path / "absent.sock"),
                         "installed": str(tmp_path / "absent")}}  # fmt: skip
    for base in serve(write_settings(tmp_path, agents=agents)):
        caps = rpc(base, "acp.capabilities").json()["result"]
        assert [p["providerId"] for p in caps["providerCatalog"]] == ["codex"]  # gemini absent
        streamed = events(start(base, "sock-1", "hello"))
        assert streamed[-2]["result"]["output"] == "echo: hello", streamed[-2]
        workspace = workspace_of(tmp_path, "sock-1")
        assert workspace.is_dir() and (workspace.stat().st_mode & 0o777) == 0o700
        again = rpc(base, "session.message", {"sessionId": "sock-1", "taskPrompt": "more"})
        assert again.json()["result"]["output"] == "echo: more"
        pid = agent_pid(workspace)
        closed = rpc(base, "session.close", {"sessionId": "sock-1", "threadId": "sock-1"})
        assert closed.json()["result"] == {"accepted": True, "closed": True}
        assert gone(pid), "the agent outlived its closed connection"
        after = rpc(base, "session.message", {"sessionId": "sock-1", "taskPrompt": "x"}).json()
        assert after["error"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")
        # An agent that exits mid-turn fails that turn; the thread's next one gets another.
        died = events(start(base, "sock-2", "exit now"))[-2]
        assert died["error"]["code"] == -32002 and "EXECUTION_FAILED" in died["error"]["message"]
        later = rpc(base, "session.message", {"sessionId": "sock-2", "taskPrompt": "x"}).json()
        assert later["result"]["output"] == "echo: x", later


def test_the_session_script_refuses_a_workspace_outside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "workspaces"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    for asked in ("/etc", f"{root}/../x", f"{root}/link/y", str(root), ""):
        ran = session_script(root, asked)
        assert ran.returncode == 2 and "inside" in ran.stderr, (asked, ran.stderr)
    assert sorted(p.name for p in root.iterdir()) == ["link"] and not (tmp_path / "x").exists()
    # Inside the root, but not a directory of its own with mode 0700: refused.
    (root / "open").mkdir(mode=0o755)
    (root / "open").chmod(0o755)
    ran = session_script(root, f"{root}/open")
    assert ran.returncode == 2 and "0700" in ran.stderr, ran.stderr
    (root / "theirs").mkdir(mode=0o700)
    os.chown(root / "theirs", 65534, 65534)
    ran = session_script(root, f"{root}/theirs")
    assert ran.returncode == 2 and "0700" in ran.stderr, ran.stderr
    made = session_script(root, f"{root}/fine/deeper")
    assert made.returncode == 0 and (root / "fine" / "deeper").stat().st_mode & 0o777 == 0o700


def session_script(root: Path, asked: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SESSION_SCRIPT), str(root), "true"], input=f"{asked}\n", text=True,
        capture_output=True, timeout=10, check=False,
    )  # fmt: skip
