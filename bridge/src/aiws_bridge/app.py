"""HTTP, SSE and WebSocket transports of the contract, in its check order:
/acp/rpc: CORS -> OPTIONS 204 -> non-POST 405 -> origin 403 -> auth 401 -> body 413/400 ->
decode 400 -> dispatch (method errors are HTTP 200 with an error envelope). The token is
checked from the headers before any of the body is read (the original read the body first),
and a body longer than MAX_BODY is refused by its Content-Length, unread.
/acp (WebSocket): origin 403, then auth 401, both before the upgrade.
A token's open WebSockets and streams end within REVOKE_CHECK_S of its revocation."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from aiws_bridge import __version__, rpc
from aiws_bridge.auth import Throttle, TokenStore, origin_allowed, presented_token
from aiws_bridge.methods import Methods
from aiws_bridge.recent import RecentLogs
from aiws_bridge.sessions import Sessions
from aiws_bridge.settings import Settings

# 10 MiB attachments travel base64 (4/3) inside a JSON body: room for 20 MiB of them.
MAX_BODY = 32 << 20
REVOKE_CHECK_S = 1.0
CORS_METHODS = "POST, OPTIONS, GET"
CORS_HEADERS = "Authorization, Content-Type, Accept"

LOG = logging.getLogger("uvicorn.error")


class Bridge:
    """The routes, sharing the settings, the token store, the throttle and the sessions."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.tokens = TokenStore(settings.tokens_file)
        self.throttle = Throttle()
        self.sessions = Sessions(settings)
        self.recent = RecentLogs()
        self.methods = Methods(settings, self.sessions, self.recent)
        # The open WebSockets and streams of each token: each ends when its token goes.
        self.live: dict[str, set[asyncio.Event]] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def authorised(self, conn: HTTPConnection) -> str | None:
        """The name of the request's token when it is one of ours; failures from one address
        are slowed down."""
        address = client_address(conn)
        name = self.tokens.name_of(presented_token(conn.headers.get("authorization")))
        if name is not None:
            self.throttle.succeeded(address)
            return name
        wait = self.throttle.delay(address)
        self.throttle.failed(address)
        if wait:
            await asyncio.sleep(wait)
        return None

    @contextlib.contextmanager
    def held(self, token: str) -> Iterator[asyncio.Event]:
        """An open connection of `token`: its event is set when the token is revoked."""
        revoked = asyncio.Event()
        self.live.setdefault(token, set()).add(revoked)
        try:
            yield revoked
        finally:
            self.live[token].discard(revoked)
            if not self.live[token]:
                del self.live[token]

    async def watch_revocations(self) -> None:
        """Every REVOKE_CHECK_S: the connections and agents of tokens no longer in the
        tokens file end."""
        while True:
            await asyncio.sleep(REVOKE_CHECK_S)
            known = set(self.tokens.names())
            for token in set(self.live) - known:
                for revoked in self.live.get(token, ()):
                    revoked.set()
            for token in self.sessions.tokens_running() - known:
                await self.sessions.stop_token(token)

    async def root(self, request: Request) -> Response:
        return PlainTextResponse("xworkmate-bridge is running")

    async def ping(self, request: Request) -> Response:
        if await self.authorised(request) is None:
            return unauthorised()
        body = {"status": "ok", "version": __version__, "commit": "", "buildDate": ""}
        return JSONResponse(body)

    async def acp_rpc(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        allowed = origin_allowed(origin, self.settings.origins)
        cors = cors_headers(origin) if origin and allowed else {}
        checked = await self._checked_call(request, origin, allowed, cors)
        if isinstance(checked, Response):
            return checked
        call, caller = checked
        if "text/event-stream" in request.headers.get("accept", ""):
            headers = {**cors, "Cache-Control": "no-cache", "Connection": "keep-alive"}
            return StreamingResponse(
                self.sse(call, caller), media_type="text/event-stream", headers=headers
            )
        envelope = await self.dispatch(call, None, caller)
        if envelope is None:
            return Response(status_code=204, headers=cors)
        return JSONResponse(envelope, headers=cors)

    async def _checked_call(  # noqa: PLR0911 (one return per check of the contract)
        self, request: Request, origin: str | None, allowed: bool, cors: dict[str, str]
    ) -> tuple[rpc.Request, str] | Response:
        """The contract's checks in order; the decoded call and its token's name, or the
        response that ends it."""
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        if request.method != "POST":
            return failure(405, rpc.INVALID_REQUEST, "method not allowed", cors)
        if not allowed:
            return failure(403, rpc.ORIGIN_REFUSED, f"origin not allowed: {origin}", {})
        caller = await self.authorised(request)
        if caller is None:
            return unauthorised(cors)
        try:
            body = await read_body(request)
        except BodyTooLarge as exc:
            return failure(413, rpc.INVALID_REQUEST, str(exc), cors)
        except ValueError as exc:
            return failure(400, rpc.INVALID_REQUEST, str(exc), cors)
        try:
            return rpc.Request(json.loads(body)), caller
        except ValueError as exc:
            return failure(400, rpc.PARSE_ERROR, f"invalid json: {exc}", cors)
        except rpc.RpcError as exc:
            return failure(400, exc.code, exc.message, cors)

    async def dispatch(
        self, call: rpc.Request, queue: asyncio.Queue[Any] | None, caller: str
    ) -> dict[str, Any] | None:
        """The call's envelope (None for a notification); its notifications go to `queue`."""

        async def notify(method: str, params: dict[str, Any]) -> None:
            if queue is not None:
                await queue.put(rpc.notification(method, params))

        try:
            envelope = rpc.result(
                call.id, await self.methods.call(call.method, call.params, notify, caller)
            )
        except rpc.RpcError as exc:
            envelope = rpc.error(call.id, exc.code, exc.message, exc.data)
        except Exception:
            # A defect of the Bridge's own: the client still gets an answer (and an SSE stream
            # its [DONE]); the journal gets the traceback (it holds no token or prompt).
            LOG.exception("%s failed", call.method)
            message = "EXECUTION_FAILED: internal error of the Bridge (see its journal)"
            envelope = rpc.error(call.id, rpc.EXECUTION_FAILED, message)
        return None if call.is_notification else envelope

    async def sse(self, call: rpc.Request, caller: str) -> AsyncIterator[str]:
        """Notifications as they come, a keepalive when none came for a while, the result,
        then [DONE]; a revoked token's stream ends at once, without them."""
        with self.held(caller) as revoked:
            async for chunk in self._stream(call, caller, revoked):
                yield chunk

    async def _stream(
        self, call: rpc.Request, caller: str, revoked: asyncio.Event
    ) -> AsyncIterator[str]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(self.dispatch(call, queue, caller))
        ended = asyncio.ensure_future(revoked.wait())
        interval = self.settings.keepalive_s
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, task, ended}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
                )
                if ended in done:
                    getter.cancel()
                    return
                if getter in done:
                    yield event(getter.result())
                    continue
                getter.cancel()
                if task in done:
                    break
                yield event(rpc.keepalive(int(interval * 1000)))
            while not queue.empty():
                yield event(queue.get_nowait())
            envelope = task.result()
            if envelope is not None:
                yield event(envelope)
            yield "data: [DONE]\n\n"
        finally:
            ended.cancel()
            if not task.done():
                task.cancel()

    async def acp_socket(self, websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if not origin_allowed(origin, self.settings.origins):
            refused = failure(403, rpc.ORIGIN_REFUSED, f"origin not allowed: {origin}", {})
            await websocket.send_denial_response(refused)
            return
        caller = await self.authorised(websocket)
        if caller is None:
            await websocket.send_denial_response(unauthorised())
            return
        await websocket.accept()
        with self.held(caller) as revoked:
            calls = asyncio.ensure_future(self._socket_calls(websocket, caller))
            ended = asyncio.ensure_future(revoked.wait())
            await asyncio.wait({calls, ended}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if not calls.done():
                calls.cancel()
                with contextlib.suppress(Exception):
                    await websocket.close(code=4001, reason="token revoked")

    async def _socket_calls(self, websocket: WebSocket, caller: str) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await self._socket_call(websocket, await websocket.receive_text(), caller)

    async def _socket_call(self, websocket: WebSocket, text: str, caller: str) -> None:
        """One frame: its notifications, then its response; a bad frame gets an error."""
        try:
            call = rpc.Request(json.loads(text))
        except ValueError as exc:
            await websocket.send_json(rpc.error(None, rpc.PARSE_ERROR, f"invalid json: {exc}"))
            return
        except rpc.RpcError as exc:
            await websocket.send_json(rpc.error(None, exc.code, exc.message))
            return
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(self.dispatch(call, queue, caller))
        while not (task.done() and queue.empty()):
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await websocket.send_json(getter.result())
            else:
                getter.cancel()
        envelope = task.result()
        if envelope is not None:
            await websocket.send_json(envelope)


def create_app(settings: Settings) -> Starlette:
    bridge = Bridge(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bridge.recent.attach()
        watcher = asyncio.ensure_future(bridge.watch_revocations())
        try:
            yield
        finally:
            watcher.cancel()
            bridge.recent.detach()
            await bridge.sessions.close_all()

    every = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
    app = Starlette(
        routes=[
            Route("/", bridge.root, methods=every),
            Route("/api/ping", bridge.ping, methods=["GET"]),
            Route("/acp/rpc", bridge.acp_rpc, methods=every),
            WebSocketRoute("/acp", bridge.acp_socket),
        ],
        lifespan=lifespan,
    )
    app.state.bridge = bridge
    return app


def event(message: dict[str, Any]) -> str:
    return f"data: {json.dumps(message, separators=(',', ':'))}\n\n"


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS, "Access-Control-Max-Age": "600",
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }  # fmt: skip


def failure(status: int, code: int, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(rpc.error(None, code, message), status_code=status, headers=headers)


def unauthorised(headers: dict[str, str] | None = None) -> JSONResponse:
    return failure(401, rpc.UNAUTHORIZED, "missing bearer authorization", headers or {})


class BodyTooLarge(ValueError):
    pass


async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY bytes: a larger Content-Length is refused before reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(f"request body larger than {MAX_BODY} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise BodyTooLarge(f"request body larger than {MAX_BODY} bytes")
    except OSError as exc:
        raise ValueError(f"unreadable body: {exc}") from None
    return bytes(body)


def client_address(conn: HTTPConnection) -> str:
    """The caller's address: the peer, or (when the peer is loopback: Caddy on this host)
    the last address Caddy put in X-Forwarded-For."""
    peer = conn.client.host if conn.client else ""
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    forwarded = conn.headers.get("x-forwarded-for", "")
    if local and forwarded:
        return forwarded.split(",")[-1].strip()
    return peer
