"""The Bridge served in-process on the loopback for its tests, with a real ACP agent
(tests/fixtures/acp_echo_agent.py) as each session's child, and a client's calls of its
contract (plain JSON, SSE, WebSocket), directly or over TLS through Caddy (TRUST)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.sync.client import ClientConnection, connect

from aiws_bridge.app import create_app
from aiws_bridge.auth import digest
from aiws_bridge.settings import Settings
from tests.helpers.paths import FIXTURES

TOKEN = "bridge-test-token-0123456789"
AGENT = [sys.executable, str(FIXTURES / "acp_echo_agent.py")]
SSE = {"Accept": "text/event-stream, application/json"}


def workspace_of(tmp: Path, session: str, provider: str = "codex", token: str = "first") -> Path:
    """Where the Bridge puts a thread whose device path names no owner (workspaces.py)."""
    return tmp / "workspaces" / provider / token / "threads" / session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_settings(tmp: Path, tokens: bool = True, **changes: Any) -> Settings:
    tokens_file = tmp / "tokens.json"
    if tokens:
        entry = {"name": "first", "sha256": digest(TOKEN), "created": "2026-11-22T00:00:00Z"}
        tokens_file.write_text(json.dumps({"tokens": [entry]}))
    (tmp / "workspaces").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "port": free_port(), "tokens_file": str(tokens_file),
        "workspace_root": str(tmp / "workspaces"),
        "agents": {"codex": {"launcher": AGENT}, "hermes": {"launcher": AGENT}},
        "gateways": {"openclaw": {"launcher": AGENT}},
        "origins": ["https://app.example.org", "http://localhost:*"], **changes,
    }  # fmt: skip
    (tmp / "bridge.json").write_text(json.dumps(data))
    return Settings.model_validate(data)


# Clients of a Bridge served over TLS (through Caddy) trust only that Caddy's CA.
TRUST: dict[str, ssl.SSLContext] = {}


def http(method: str, url: str, **kw: Any) -> httpx.Response:
    """One request as a client of this machine sends it: never through a proxy."""
    return httpx.request(method, url, trust_env=False, verify=trust_of(url) or True, **kw)


def ws_connect(url: str, **kw: Any) -> ClientConnection:
    context = trust_of(url.replace("wss://", "https://", 1))
    return connect(url, **({"ssl": context} if context else {}), **kw)


def trust_of(url: str) -> ssl.SSLContext | None:
    return next((ctx for base, ctx in TRUST.items() if url.startswith(base)), None)


def serve(settings: Settings, log_level: str = "warning") -> Iterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port,
                            log_level=log_level, lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    thread.join(10)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rpc(base: str, method: str, params: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": f"1-{method}-1", "method": method, "params": params or {}}
    headers = {**auth(), **kw.pop("headers", {})}
    return http("POST", f"{base}/acp/rpc", json=body, headers=headers, timeout=30, **kw)


def events(response: httpx.Response | str) -> list[Any]:
    """The SSE events: each exactly one `data:` line and a blank line."""
    text = response if isinstance(response, str) else response.text
    chunks = text.split("\n\n")
    assert chunks[-1] == ""
    out = []
    for chunk in chunks[:-1]:
        assert chunk.startswith("data: ") and "\n" not in chunk, chunk
        payload = chunk[len("data: ") :]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


ROUTING = {"routingMode": "explicit", "explicitExecutionTarget": "agent",
           "explicitProviderId": "codex"}  # fmt: skip


def start_params(session: str, prompt: str, **params: Any) -> dict[str, Any]:
    """A session.start's params: the thread named as the session, routed to codex."""
    return {"sessionId": session, "threadId": session, "taskPrompt": prompt,
            "routing": ROUTING, **params}  # fmt: skip


def start(base: str, session: str, prompt: str, **params: Any) -> httpx.Response:
    return rpc(base, "session.start", start_params(session, prompt, **params), headers=SSE)


def agent_pid(workspace: Path) -> int:
    return int((workspace / "agent.pid").read_text().split()[0])


def gone(pid: int, wait: float = 5) -> bool:
    """The process has ended (a zombie nobody reaped yet counts as ended)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def served(settings: Settings, log_level: str = "warning") -> Iterator[str]:
    """serve() as a context manager: the base URL while the Bridge runs."""
    yield from serve(settings, log_level)


class Background(threading.Thread):
    """One call in a thread of its own: its value, and when it returned."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.value: Any = None
        self.ended: float | None = None

    def run(self) -> None:
        self.value = self.call()
        self.ended = time.monotonic()

    def started(self) -> Background:
        self.start()
        return self


class StreamedTurn(threading.Thread):
    """A session.start streamed in a thread of its own: what has arrived so far, and a wait
    for a piece of it. A test waits for what it needs (the agent running, the turn queued),
    never a fixed time: a fixed sleep loses the race on a loaded machine."""

    def __init__(self, base: str, session: str, prompt: str) -> None:
        super().__init__(daemon=True)
        self.url = base + "/acp/rpc"
        self.body = {"jsonrpc": "2.0", "id": f"start-{session}", "method": "session.start",
                     "params": start_params(session, prompt)}  # fmt: skip
        self.text = ""
        self.done = False
        self._arrived = threading.Condition()

    def run(self) -> None:
        verify = trust_of(self.url) or True
        try:
            with (
                httpx.Client(trust_env=False, verify=verify, timeout=60) as client,
                client.stream("POST", self.url, json=self.body, headers={**auth(), **SSE}) as reply,
            ):
                for chunk in reply.iter_text():
                    with self._arrived:
                        self.text += chunk
                        self._arrived.notify_all()
        finally:
            with self._arrived:
                self.done = True
                self._arrived.notify_all()

    def started(self) -> StreamedTurn:
        self.start()
        return self

    def wait_for(self, piece: str, timeout: float = 30) -> bool:
        """Whether `piece` arrived within `timeout` seconds (False once the answer ended
        without it)."""
        return self.wait_until(lambda text: piece in text, timeout)

    def wait_until(self, arrived: Callable[[str], bool], timeout: float = 30) -> bool:
        with self._arrived:
            self._arrived.wait_for(lambda: arrived(self.text) or self.done, timeout)
            return arrived(self.text)


def bridge_process(settings: Settings, config: Path) -> subprocess.Popen[bytes]:
    """The Bridge as its own process (`python -m aiws_bridge --config`), once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiws_bridge", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            http("GET", f"http://127.0.0.1:{settings.port}/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the Bridge did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def result_of(streamed: list[Any]) -> dict[str, Any]:
    """The result of an SSE answer (its events; the final envelope last but one)."""
    assert "result" in streamed[-2], streamed[-2]
    result: dict[str, Any] = streamed[-2]["result"]
    return result


def statuses(streamed: list[Any]) -> list[dict[str, Any]]:
    """The `session.update` status params of an SSE answer, in order."""
    return [
        e["params"] for e in streamed[:-2]
        if e.get("method") == "session.update" and e["params"].get("type") == "status"
    ]  # fmt: skip


def resumed_with_all(streamed: list[Any]) -> list[str]:
    """How the thread went on, for each `resumed` update of an SSE answer."""
    return [str(u["resumedWith"]) for u in statuses(streamed) if u.get("event") == "resumed"]


def resumed_with(streamed: list[Any]) -> str:
    """How the thread went on, where exactly one `resumed` update came."""
    ways = resumed_with_all(streamed)
    assert len(ways) == 1, ways
    return ways[0]
