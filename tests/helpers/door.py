"""The Bridge's public side as a client on this machine reaches it: Caddy on a veth
sandbox's address, the site's name (the domain before DNS has it), Caddy's internal CA as
the only trust."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_component
from aiws.sandbox.state import SandboxState
from tests.helpers.hosts import inside
from tests.helpers.paths import FIXTURES

CATALOG = load_catalog()
CA_ROOT = resolve_component(CATALOG, CATALOG.component("caddy"))["layout"]["ca_root"]
# What the tests name the site (docs/components/caddy.md: --domain with --internal-ca).
DOMAIN = "bridge.aiws.test"
# The Bridge's health from this machine, through Caddy (no token needed).
HEALTHZ = "/healthz"


def wait_for(check: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


class Door:
    """The Bridge's public side as a client on this machine reaches it: Caddy on the
    sandbox's veth address, the domain's name, the internal CA as the only trust."""

    def __init__(self, sandbox: SandboxState, tmp_path: Path, token: str) -> None:
        assert sandbox.address is not None
        self.address = sandbox.address
        self.ca = tmp_path / "caddy-root.crt"
        self.ca.write_text(inside(sandbox, "cat", CA_ROOT) + "\n")
        self.token = tmp_path / "token"
        self.token.write_text(token)

    def client(self, *args: str) -> Any:
        argv = [sys.executable, str(FIXTURES / "bridge_client.py"), "--ca", str(self.ca),
                "--connect", self.address, f"https://{DOMAIN}", str(self.token), *args]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def healthy(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with (
                socket.create_connection((self.address, 443), 5) as raw,
                context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
            ):
                tls.sendall(f"GET {HEALTHZ} HTTP/1.1\r\nHost: {DOMAIN}\r\n"
                            "Connection: close\r\n\r\n".encode())  # fmt: skip
                return tls.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request to the site by its name, dialled at the sandbox's address."""
        context = ssl.create_default_context(cafile=str(self.ca))
        headers = {"Host": DOMAIN, **kw.pop("headers", {})}
        with httpx.Client(verify=context, trust_env=False, timeout=30) as http:
            return http.request(method, f"https://{self.address}{path}", headers=headers,
                                extensions={"sni_hostname": DOMAIN}, **kw)  # fmt: skip

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """request(), its body read as it comes (SSE)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        headers = {"Host": DOMAIN, **kw.pop("headers", {})}
        with (
            httpx.Client(verify=context, trust_env=False, timeout=kw.pop("timeout", 30)) as http,
            http.stream(method, f"https://{self.address}{path}", headers=headers,
                        extensions={"sni_hostname": DOMAIN}, **kw) as response,
        ):  # fmt: skip
            yield response

    @contextlib.contextmanager
    def websocket(self, token: str) -> Iterator[Any]:
        """The contract's WebSocket through Caddy, open while the block runs."""
        context = ssl.create_default_context(cafile=str(self.ca))
        raw = socket.create_connection((self.address, 443), 10)
        with connect(f"wss://{DOMAIN}/acp", sock=raw, ssl=context, server_hostname=DOMAIN,
                     additional_headers={"Authorization": f"Bearer {token}"},
                     open_timeout=10) as ws:  # fmt: skip
            yield ws

    def websocket_health(self, token: str) -> dict[str, Any]:
        """The contract's WebSocket: one health call and its answer, through Caddy."""
        context = ssl.create_default_context(cafile=str(self.ca))
        raw = socket.create_connection((self.address, 443), 10)
        with connect(f"wss://{DOMAIN}/acp", sock=raw, ssl=context, server_hostname=DOMAIN,
                     additional_headers={"Authorization": f"Bearer {token}"},
                     open_timeout=10) as ws:  # fmt: skip
            ws.send(json.dumps({"jsonrpc": "2.0", "id": "w1", "method": "health"}))
            answer: dict[str, Any] = json.loads(ws.recv(10))
            return answer

    def refuses(self, port: int) -> bool:
        try:
            socket.create_connection((self.address, port), 3).close()
        except OSError:
            return True
        return False


def beyond_loopback(sandbox: SandboxState) -> list[str]:
    """Every listener (TCP and UDP) on an address other than loopback that is not Caddy on
    :443; empty when Caddy is the only public door."""
    found = []
    for line in inside(sandbox, "ss", "-ltunpH").splitlines():
        local, process = line.split()[4], line.split()[-1]
        address = local.rpartition(":")[0].strip("[]")
        public = address not in ("127.0.0.1", "::1") and not address.startswith("127.")
        if public and not ('"caddy"' in process and local.endswith(":443")):
            found.append(line)
    return found
