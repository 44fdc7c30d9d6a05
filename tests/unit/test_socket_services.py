"""A service reached through a unix socket instead of a port (QMD): the catalog admits it
only without a port, resolves who may connect, the install waits for its socket, and status
asks it a real MCP `initialize` over the socket and believes only the server it expects.
The servers here are real unix-socket servers in tmp_path speaking line-delimited JSON-RPC."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiws.model.catalog import Component, load_catalog
from aiws.model.resolve import resolve_component
from aiws.module_utils import aiws_units
from aiws.modules import aiws_ledger, aiws_status

CATALOG = load_catalog()
Answer = Callable[[dict[str, object]], bytes]


def serve(path: Path, answer: Answer) -> Iterator[str]:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    seen: list[dict[str, object]] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                line = lines.readline()
                if line:
                    seen.append(json.loads(line))
                    conn.sendall(answer(seen[-1]))

    threading.Thread(target=loop, daemon=True).start()
    yield str(path)
    server.close()
    assert all(request["method"] == "initialize" for request in seen)


def mcp_reply(name: str) -> Answer:
    def answer(request: dict[str, object]) -> bytes:
        server = {"name": name, "version": "2.8.3"}
        result = {"protocolVersion": "2025-06-18", "serverInfo": server}
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        return json.dumps(reply).encode() + b"\n"

    return answer


@pytest.fixture
def qmd_like(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path / "qmd.sock", mcp_reply("qmd"))


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path / "other.sock", mcp_reply("evil"))


@pytest.fixture
def babbler(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path / "babble.sock", lambda _: b"HTTP/1.1 400 Bad Request\r\n\r\n")


def spec(path: str, name: str = "qmd") -> dict[str, object]:
    return {
        "name": name,
        "kind": "service",
        "unit": "",
        "listen": None,
        "socket": {"path": path},
        "health": {"type": "mcp", "summary": "keyword search only"},
    }


def test_status_asks_the_socket_a_real_mcp_initialize(
    tmp_path: Path, qmd_like: str, impostor: str, babbler: str
) -> None:
    ledger = tmp_path / "state.json"
    aiws_ledger.update(str(ledger), "qmd", {"version": "2.8.3"})
    rows = [
        aiws_status.probe_all(str(ledger), [spec(path)], timeout=2)["components"][0]
        for path in (qmd_like, impostor, babbler, str(tmp_path / "absent.sock"))
    ]
    good, other, babble, absent = rows
    assert good["healthy"] and good["listening"] and good["address"] == qmd_like
    assert good["detail"] == f"keyword search only: MCP qmd 2.8.3 on {qmd_like}"
    assert other["healthy"] is False and other["detail"].startswith("another server answers")
    assert babble["healthy"] is False and babble["detail"].startswith("no MCP answer")
    assert absent["healthy"] is False and absent["listening"] is False
    assert "No such file" in absent["detail"]


def test_the_install_waits_for_the_socket(tmp_path: Path, qmd_like: str) -> None:
    assert aiws_units._answers({"type": "unix", "path": qmd_like})
    assert not aiws_units._answers({"type": "unix", "path": str(tmp_path / "none.sock")})


def test_qmd_resolves_to_a_socket_of_its_own_group_and_no_port() -> None:
    qmd = resolve_component(CATALOG, CATALOG.component("qmd"))
    assert qmd["listen"] is None and qmd["unit"] == "aiws-qmd.socket"
    assert qmd["socket"] == {
        "path": "/run/aiws-qmd/mcp.sock",
        "group": "aiws-qmd",
        "mode": "0660",
        "instance": "aiws-qmd@.service",
    }
    assert qmd["ready"]["type"] == "unix" and qmd["ready"]["path"] == "/run/aiws-qmd/mcp.sock"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"listen": {"host": "127.0.0.1", "port": 1}}, "a socket is for a service without a port"),
        ({"kind": "agent"}, "a socket is for a service without a port"),
        ({"socket": None}, "an mcp health probe needs its socket"),
        ({"socket": {"path": "/tmp/qmd.sock"}}, "String should match pattern"),
    ],
)
def test_the_catalog_refuses_a_socket_it_cannot_serve(
    change: dict[str, object], error: str
) -> None:
    entry = CATALOG.component("qmd").model_dump() | {"name": "qmd"} | change
    with pytest.raises(ValidationError, match=error):
        Component.model_validate(entry)
