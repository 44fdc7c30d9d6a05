"""JSON-RPC 2.0 envelopes in the hybrid shape the XWorkmate app reads (type/ok/payload/event
beside the standard fields), and the error codes of the contract."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
UNAUTHORIZED = -32001  # also PROVIDER_NOT_FOUND
EXECUTION_FAILED = -32002
ORIGIN_REFUSED = -32003


class RpcError(Exception):
    """A method's failure, sent as an error envelope."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def result(request_id: Any, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0", "id": request_id, "result": value, "type": "res", "ok": True,
        "payload": value,
    }  # fmt: skip


def error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": body, "type": "res", "ok": False}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0", "method": method, "params": params, "type": "event", "event": method,
        "payload": params,
    }  # fmt: skip


def keepalive(interval_ms: int) -> dict[str, Any]:
    """Sent on SSE while a method runs; plain JSON-RPC (no hybrid fields)."""
    return {
        "jsonrpc": "2.0", "method": "xworkmate.bridge.keepalive",
        "params": {"intervalMs": interval_ms},
    }  # fmt: skip


class Request:
    """A decoded request: `id` is None for a notification (no response is sent)."""

    def __init__(self, data: Any):
        if not isinstance(data, dict):
            raise RpcError(PARSE_ERROR, "invalid json: not an object")
        method = data.get("method")
        if not isinstance(method, str) or not method.strip():
            raise RpcError(PARSE_ERROR, "missing method")
        params = data.get("params")
        self.method = method
        self.params: dict[str, Any] = params if isinstance(params, dict) else {}
        self.id = data.get("id")

    @property
    def is_notification(self) -> bool:
        return self.id is None
