"""The app-request replay fixtures load and keep the facts the Bridge must cope with."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.helpers.app_requests import (
    APP_ID_RE,
    DEFAULT_PROMPT,
    DEFAULT_THREAD,
    ID_TAGS,
    NAMES,
    load,
    source,
    thread_dir,
)

REQUIRED = {
    "session_start_agent",
    "session_start_owner_scoped",
    "session_start_mobile",
    "session_message_with_hint",
    "session_start_with_attachment",
    "session_start_gateway",
    "session_cancel",
    "session_close",
    "system_logs",
    "acp_capabilities",
    "routing_resolve",
    "gateway_connect",
    "gateway_disconnect",
    "gateway_request_health",
    "gateway_request_status",
    "gateway_request_agents_list",
    "gateway_request_sessions_list",
    "gateway_request_skills_status",
}
SESSION_TURNS = [n for n in NAMES if n.startswith(("session_start", "session_message"))]
THREAD_KEY_RE = re.compile(r"^draft:(?:[A-Za-z0-9_-]+:)?\d{16}-\d+$")
LEFTOVER_RE = re.compile(r"\$[A-Z][A-Z0-9_]{2,}")


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_required_fixtures_exist() -> None:
    assert not REQUIRED - set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_an_app_envelope(name: str) -> None:
    headers, body = load(name)
    assert "40e01c1443531ef36750e0de0c429ae17e3c04b5" in source(name)
    assert headers["Authorization"] == "Bearer test-bridge-token"
    assert headers["Accept"] == "text/event-stream, application/json"
    assert headers["Content-Type"].startswith("application/json")
    assert "Origin" not in headers
    assert set(body) == {"jsonrpc", "id", "method", "params"}
    assert body["jsonrpc"] == "2.0"
    assert isinstance(body["method"], str)
    assert body["method"]
    assert isinstance(body["params"], dict)
    match = APP_ID_RE.match(body["id"])
    assert match, body["id"]
    assert match["tag"] == ID_TAGS.get(body["method"], body["method"])
    leftovers = [s for s in _strings({"h": headers, "b": body}) if LEFTOVER_RE.search(s)]
    assert not leftovers


@pytest.mark.parametrize("name", SESSION_TURNS)
@pytest.mark.parametrize("thread", [DEFAULT_THREAD, "draft:main:1786594999000001-12"])
def test_session_turn_uses_device_paths_and_thread_key(name: str, thread: str) -> None:
    _, body = load(name, thread=thread, provider="opencode", hint="/srv/remote/ws")
    params = body["params"]
    assert body["method"] == ("session.message" if "message" in name else "session.start")
    assert THREAD_KEY_RE.match(thread)
    assert params["sessionId"] == params["threadId"] == params["appThreadKey"] == thread
    cwd = params["workingDirectory"]
    assert cwd.startswith("/")
    assert not cwd.startswith("/var/lib/aiws")
    assert cwd.endswith((f"/threads/{thread_dir(thread)}", f"/threads/{thread}"))
    assert params["mode"] == "gateway-chat"
    assert params["routingHint"] == "gateway"
    target = params["executionTarget"]
    assert target == params["requestedExecutionTarget"]
    assert params["routing"]["explicitExecutionTarget"] == target
    assert params["routing"]["preferredGatewayProviderId"] == "openclaw"
    prompt = params["taskPrompt"]
    assert prompt.startswith(f"TaskThread workspace context:\n- sessionKey: {thread}\n")
    assert f"- currentTaskWorkspace: {cwd}\n" in prompt
    assert prompt.endswith(f"User request:\n{DEFAULT_PROMPT}")
    contract = params["metadata"]["xworkmateTaskArtifactContract"]
    assert contract["appThreadKey"] == thread
    assert contract["currentTaskWorkspace"] == cwd
    if target == "agent":
        assert params["provider"] == "opencode"
        assert f"- localWorkspace: {cwd}\n" in prompt
        assert "model" in params
    else:
        assert "provider" not in params
        assert "model" not in params
        assert "localWorkspace:" not in prompt


def test_first_turn_hint_is_the_owner_scoped_name() -> None:
    _, body = load("session_start_agent")
    params = body["params"]
    owners = params["remoteWorkingDirectoryHint"]
    assert re.fullmatch(rf"/owners/local/user/[0-9a-f]{{64}}/threads/{DEFAULT_THREAD}", owners)
    assert params["workingDirectory"].startswith("/Users/")
    assert f"- remoteWorkspaceHint: {owners}\n" in params["taskPrompt"]
    _, gateway = load("session_start_gateway")
    assert gateway["params"]["workingDirectory"] == gateway["params"]["remoteWorkingDirectoryHint"]
    assert gateway["params"]["workingDirectory"].startswith("/owners/local/user/")


def test_message_hint_is_filled_or_left_out() -> None:
    _, with_hint = load("session_message_with_hint", hint="/home/aiws/ws/t1")
    params = with_hint["params"]
    assert params["remoteWorkingDirectoryHint"] == "/home/aiws/ws/t1"
    assert "- remoteWorkspaceHint: /home/aiws/ws/t1\n" in params["taskPrompt"]
    assert params["metadata"]["xworkmateTaskArtifactContract"]["remoteWorkspaceHint"] == (
        "/home/aiws/ws/t1"
    )
    _, without = load("session_message_with_hint")
    params = without["params"]
    assert "remoteWorkingDirectoryHint" not in params
    assert "remoteWorkspaceHint" not in params["taskPrompt"]
    assert "remoteWorkspaceHint" not in params["metadata"]["xworkmateTaskArtifactContract"]


def test_inline_attachment_is_filled() -> None:
    data = b"\x00\x01binary\xff" * 10
    _, body = load("session_start_with_attachment", attachment=data)
    params = body["params"]
    (inline,) = params["inlineAttachments"]
    assert base64.b64decode(inline["content"]) == data
    assert inline["sizeBytes"] == len(data)
    assert inline["sha256"] == hashlib.sha256(data).hexdigest()
    (listed,) = params["attachments"]
    assert listed["path"] == inline["sourcePath"]
    assert listed["name"] == inline["name"]
    assert f"Attached files:\n- {inline['name']}\n" in params["taskPrompt"]


@pytest.mark.parametrize("name", ["session_cancel", "session_close"])
def test_cancel_and_close_name_the_thread(name: str) -> None:
    _, body = load(name, thread="draft:1786594999000002-4")
    assert body["params"] == {
        "sessionId": "draft:1786594999000002-4",
        "threadId": "draft:1786594999000002-4",
    }


def test_gateway_calls_share_one_runtime() -> None:
    gateway = [n for n in NAMES if n.startswith("gateway_")]
    runtime_ids = {load(n)[1]["params"]["runtimeId"] for n in gateway}
    assert len(runtime_ids) == 1
    for name in gateway:
        _, body = load(name)
        if not name.startswith("gateway_request_"):
            continue
        params = body["params"]
        assert body["method"] == "xworkmate.gateway.request"
        assert set(params) == {"runtimeId", "method", "params", "timeoutMs"}
        assert name == "gateway_request_" + params["method"].replace(".", "_")
        assert isinstance(params["params"], dict)
        assert isinstance(params["timeoutMs"], int)


def test_loader_rejects_unknown_names_and_values() -> None:
    with pytest.raises(KeyError):
        load("no_such_request")
    with pytest.raises(TypeError):
        load("session_start_agent", providr="codex")
