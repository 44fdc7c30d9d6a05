"""aiws_vault without a Vault server: what it reports when nothing answers. No download, no
network beyond loopback; the tests against a real OpenBao server are in
tests/integration/test_vault_server.py."""

from __future__ import annotations

import socket

from aiws.modules import aiws_vault


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_answer_is_reported_with_the_address() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = aiws_vault.run(
        {"url": url, "unseal_key_file": "/nonexistent/k", "root_token_file": "/nonexistent/t",
         "wait_seconds": 1}
    )  # fmt: skip
    assert result["failed"] and url in result["msg"]
