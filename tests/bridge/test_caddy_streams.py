"""Caddy passes every streamed response whole, also when clients go from one stream to the
next on fresh connections, several at a time: the Bridge's clients do exactly that
(session.start, then session.message; docs/bridge.md).

Debian's Caddy 2.6.2 (Debian 12's and Debian 13's builds alike) closed its connection to the
upstream in the middle of such streams and ended the client's response as if it were
complete: 13 to 33 of 300 pairs of streams here, under load. The bundle's Caddy must cut
none. The upstream is a minimal HTTP/1.1 server that streams the way the Bridge does
(chunked Server-Sent Events, a few events, `data: [DONE]`, then the last chunk)."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers.caddy import SITE, caddy_binary, running_caddy

EVENTS = 3
CLIENTS = 4
PAIRS = 75  # per client: 300 pairs, 600 streams in all


class StreamingUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves the Bridge

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for number in range(EVENTS):
            self._chunk(f'data: {{"n": {number}}}\n\n')
            time.sleep(0.01)  # the agent thinking between two updates
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StreamingUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def stream(port: int, context: ssl.SSLContext) -> list[str]:
    """One streamed request on a fresh connection: its data lines up to [DONE]; the client
    hangs up once it has [DONE], as the Bridge's clients may."""
    raw = socket.create_connection(("127.0.0.1", port), 10)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.sock = context.wrap_socket(raw, server_hostname=SITE)
    try:
        conn.request("POST", "/acp/rpc", "{}", {"Host": SITE, "Content-Type": "application/json"})
        response = conn.getresponse()
        seen = []
        for line in response:
            if line.startswith(b"data: "):
                seen.append(line[6:].strip().decode())
                if seen[-1] == "[DONE]":
                    break
        return seen
    except (http.client.HTTPException, OSError) as cut:
        return [f"error: {cut!r}"]
    finally:
        conn.close()


def pairs_cut_short(port: int, context: ssl.SSLContext) -> list[list[str]]:
    whole = [f'{{"n": {n}}}' for n in range(EVENTS)] + ["[DONE]"]
    cut = []
    for _ in range(PAIRS):
        for seen in (stream(port, context), stream(port, context)):
            if seen != whole:
                cut.append(seen)
    return cut


def test_streams_through_caddy_arrive_whole(upstream: str, tmp_path: Path) -> None:
    with running_caddy(caddy_binary(), upstream, tmp_path / "caddy") as (base, context):
        port = int(base.rsplit(":", 1)[1])
        with ThreadPoolExecutor(CLIENTS) as clients:
            cut = [s for found in clients.map(lambda _: pairs_cut_short(port, context),
                                              range(CLIENTS)) for s in found]  # fmt: skip
    assert cut == [], f"{len(cut)} of {2 * PAIRS * CLIENTS} streams cut short: {cut[:5]}"
