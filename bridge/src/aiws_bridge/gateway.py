"""The app's OpenClaw control plane: `xworkmate.gateway.connect|request|disconnect` answer
the app's `{ok, payload, error}` shape (a JSON-RPC error would leave its OpenClaw panels
"Connecting..."), and the gateway's state for `system.logs`.

Chat reaches OpenClaw through its ACP bridge (a gateway provider behind a socket, run as
OpenClaw's account). The app's OpenClaw panels call read-only gateway methods (READ_METHODS):
the Bridge passes those, and only those, to OpenClaw's gateway on the loopback, one WebSocket
a request, as a backend client with the gateway's token (`control_token_file`, readable by
the Bridge's group) asking for read scopes only. Any other method is refused without being
sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from aiws_bridge import __version__
from aiws_bridge.settings import Agent, Settings

PROBE_TIMEOUT = 2.0
# The gateway methods the app's OpenClaw panels call; all read-only.
READ_METHODS = frozenset({
    "health", "status", "agents.list", "sessions.list", "skills.status", "models.list",
    "cron.list", "device.pair.list", "chat.history",
})  # fmt: skip
SCOPES = ["operator.read", "operator.pairing"]
PROTOCOL = 4
DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S = 15.0, 30.0
MAX_FRAME = 26 << 20


class GatewayFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _answer(ok: bool, payload: dict[str, Any], code: str = "", message: str = "") -> dict[str, Any]:
    error = {"code": code, "message": message} if not ok else None
    return {"ok": ok, "payload": payload, "error": error}


class GatewayControl:
    def __init__(self, settings: Settings):
        self.settings = settings

    def _provider(self, params: dict[str, Any]) -> str | None:
        asked = params.get("gatewayProviderId") or params.get("providerId") or ""
        installed = self.settings.gateway_ids()
        if asked:
            return asked if asked in installed else None
        return installed[0] if installed else None

    async def status(self) -> str:
        """`running` while the gateway provider's service answers its health URL; `ready`
        when it has none to ask; else `stopped` or `not-installed`."""
        ids = self.settings.gateway_ids()
        if not ids:
            return "not-installed"
        health = self.settings.gateways[ids[0]].health
        if health is None:
            return "ready"
        return "running" if await _answers_200(health) else "stopped"

    async def connect(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        provider = self._provider(params)
        if provider is None:
            return _answer(False, {}, "GATEWAY_NOT_INSTALLED",
                           "no gateway provider is installed on this Bridge")  # fmt: skip
        state = await self.status()
        if state == "stopped":
            return _answer(False, {"providerId": provider, "status": state},
                           "GATEWAY_UNAVAILABLE", f"{provider} is not running")  # fmt: skip
        # The app reads `snapshot.status` at the top of the result: "connected" brings its
        # gateway panels online (their requests then get ok: false, see `request`).
        snapshot = {"status": "connected", "providerId": provider, "gatewayStatus": state}
        return {**_answer(True, {"providerId": provider, "snapshot": snapshot}),
                "snapshot": snapshot, "auth": {}, "returnedDeviceToken": ""}  # fmt: skip

    async def request(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        method = params.get("method") or ""
        provider = self._provider(params)
        if provider is None:
            return _answer(False, {}, "GATEWAY_NOT_INSTALLED",
                           "no gateway provider is installed on this Bridge")  # fmt: skip
        gateway = self.settings.gateways[provider]
        if method not in READ_METHODS or gateway.control_url is None:
            return _answer(
                False, {"method": method}, "GATEWAY_METHOD_UNSUPPORTED",
                f"{method or 'this request'} is not offered through this Bridge (read-only "
                f"methods: {', '.join(sorted(READ_METHODS))})",
            )  # fmt: skip
        given = params.get("params")
        timeout = _timeout(params.get("timeoutMs"))
        try:
            payload = await asyncio.wait_for(
                _gateway_call(gateway, method, given if isinstance(given, dict) else {}),
                timeout,
            )
        except GatewayFailed as exc:
            return _answer(False, {"method": method}, exc.code, exc.message)
        except TimeoutError:
            return _answer(False, {"method": method}, "GATEWAY_TIMEOUT",
                           f"{provider} did not answer {method} in {timeout:.0f} s")  # fmt: skip
        except (OSError, ValueError) as exc:
            return _answer(False, {"method": method}, "GATEWAY_UNAVAILABLE",
                           f"{provider}: {str(exc)[:200] or type(exc).__name__}")  # fmt: skip
        return _answer(True, payload)

    async def disconnect(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        return _answer(True, {"status": "disconnected", "connected": False})


def _timeout(asked: Any) -> float:
    try:
        return min(max(float(asked) / 1000, 1.0), MAX_TIMEOUT_S)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT_S


async def _gateway_call(gateway: Agent, method: str, params: dict[str, Any]) -> Any:
    """One read-only method on the gateway: its challenge, our connect (token, read scopes),
    the request; pushed events are passed over. The payload, or GatewayFailed."""
    assert gateway.control_url is not None and gateway.control_token_file is not None
    token = Path(gateway.control_token_file).read_text().strip()
    async with ws_connect(gateway.control_url, max_size=MAX_FRAME, proxy=None,
                          open_timeout=PROBE_TIMEOUT * 2) as socket:  # fmt: skip
        await _reply(socket, None)  # connect.challenge (a nonce only devices sign)
        hello = await _ask(socket, "connect", {
            "minProtocol": PROTOCOL, "maxProtocol": PROTOCOL,
            "client": {"id": "gateway-client", "version": __version__, "platform": "linux",
                       "mode": "backend"},
            "role": "operator", "scopes": SCOPES, "auth": {"token": token},
        })  # fmt: skip
        granted = (hello or {}).get("auth", {}).get("scopes") or []
        if not granted:
            raise GatewayFailed("GATEWAY_UNAUTHORIZED", "the gateway granted no scope")
        return await _ask(socket, method, params)


async def _ask(socket: Any, method: str, params: dict[str, Any]) -> Any:
    request_id = uuid.uuid4().hex
    await socket.send(json.dumps({"type": "req", "id": request_id, "method": method,
                                  "params": params}))  # fmt: skip
    frame = await _reply(socket, request_id)
    if not frame.get("ok"):
        error = frame.get("error") or {}
        raise GatewayFailed(str(error.get("code") or "GATEWAY_ERROR"),
                            str(error.get("message") or f"{method} failed")[:300])  # fmt: skip
    return frame.get("payload")


async def _reply(socket: Any, request_id: str | None) -> dict[str, Any]:
    """The response to `request_id` (None: the first event), events between passed over."""
    while True:
        frame = json.loads(await socket.recv())
        if not isinstance(frame, dict):
            continue
        if request_id is None and frame.get("type") == "event":
            return frame
        if frame.get("type") == "res" and frame.get("id") == request_id:
            return frame


async def _answers_200(url: str) -> bool:
    """One HTTP/1.0 GET on the loopback (settings allow only http://127.0.0.1 URLs)."""
    parts = urllib.parse.urlsplit(url)
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 80), PROBE_TIMEOUT
        )
        writer.write(f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT)
        return status.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError, IndexError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
