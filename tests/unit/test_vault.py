"""aiws_vault without a Vault server: what it reports when nothing answers, and names it
will not use as paths. No download, no network; the tests against a real OpenBao server are
in tests/integration/test_vault_server.py, the socket checks in test_vault_socket.py."""

from __future__ import annotations

import json
from pathlib import Path

from aiws.modules import aiws_vault


def args(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "socket": str(tmp_path / "run" / "vault.sock"),
        "owner": "root",
        "unseal_key_file": "/nonexistent/k",
        "root_token_file": "/nonexistent/r",
        "token_file": "/nonexistent/t",
        "wait_seconds": 1,
        **extra,
    }


def test_no_answer_is_reported_with_the_socket(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    result = aiws_vault.run(args(tmp_path))
    assert result["failed"] and "unix:" + str(tmp_path / "run" / "vault.sock") in result["msg"]


def test_unsafe_secret_names_from_the_ledger_are_refused_before_any_call(tmp_path: Path) -> None:
    ledger = tmp_path / "state.json"
    ledger.write_text(json.dumps({"schema": 1, "components": {}, "runs": [],
                                  "secrets": {"../../etc/shadow": {}}}))  # fmt: skip
    result = aiws_vault.run(args(tmp_path, ledger=str(ledger)))
    assert result["failed"] and "unsafe secret name" in result["msg"]
    assert "no answer" not in result["msg"]  # refused before waiting for Vault
