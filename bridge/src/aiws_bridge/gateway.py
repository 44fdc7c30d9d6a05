"""The app's OpenClaw control plane: `xworkmate.gateway.connect|request|disconnect` answer
the app's `{ok, payload, error}` shape (a JSON-RPC error would leave its OpenClaw panels
"Connecting..."), and the gateway's state for `system.logs`. The Bridge holds no gateway
token: chat reaches OpenClaw through its ACP bridge (a gateway provider behind a socket, run
as OpenClaw's account); requests for the app's OpenClaw panels are answered `ok: false`
with a code that says they are not offered through this Bridge."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from typing import Any

from aiws_bridge.settings import Settings

PROBE_TIMEOUT = 2.0


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
        if self._provider(params) is None:
            return _answer(False, {}, "GATEWAY_NOT_INSTALLED",
                           "no gateway provider is installed on this Bridge")  # fmt: skip
        return _answer(
            False, {"method": method}, "GATEWAY_METHOD_UNSUPPORTED",
            f"{method or 'this request'} is not offered through this Bridge; chat with the "
            "gateway target works",
        )  # fmt: skip

    async def disconnect(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        return _answer(True, {"status": "disconnected", "connected": False})


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
