"""The Bridge's named tokens as the installer writes them (aiws_bridge_tokens) and as the
Bridge reads them (aiws_bridge.auth.TokenStore): made once and shown once, stored hashed,
listed without digests, revoked without a restart."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from aiws.modules.aiws_bridge_tokens import run
from aiws_bridge.auth import TokenStore
from tests.helpers.cli import aiws


def tokens(path: Path, **params: str) -> dict:
    return run({"file": str(path), "group": "root", **params})


def test_add_shows_the_token_once_and_stores_only_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    added = tokens(path, state="add", name="laptop")
    token = added["token"]
    assert added["changed"] and len(token) >= 40
    stored = path.read_text()
    assert token not in stored and json.loads(stored)["tokens"][0]["name"] == "laptop"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # no Bridge group on this machine
    listed = tokens(path)
    assert listed["tokens"][0]["name"] == "laptop" and "sha256" not in listed["tokens"][0]
    assert "token" not in listed and not listed["changed"]
    store = TokenStore(path)
    assert store.name_of(token) == "laptop" and store.name_of(token + "x") is None


def test_first_makes_one_only_when_none_exists(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    assert "token" in tokens(path, state="first", name="first")
    again = tokens(path, state="first", name="first")
    assert not again["changed"] and "token" not in again


def test_first_with_a_digest_stores_it_and_says_whether_it_did(tmp_path: Path) -> None:
    """The installer's way: it makes the token, the host only ever sees its digest."""
    path = tmp_path / "tokens.json"
    token = "made-by-the-installer-0123456789abcdef"
    digest = hashlib.sha256(token.encode()).hexdigest()
    made = tokens(path, state="first", name="first", sha256=digest)
    assert made["changed"] and "token" not in made
    assert made["ansible_facts"]["aiws_bridge_first_token"] == {"name": "first", "created": True}
    assert TokenStore(path).name_of(token) == "first" and token not in path.read_text()
    other = hashlib.sha256(b"another").hexdigest()
    again = tokens(path, state="first", name="first", sha256=other)
    assert not again["changed"]
    assert again["ansible_facts"]["aiws_bridge_first_token"]["created"] is False
    assert TokenStore(path).name_of(token) == "first"
    assert tokens(path, state="first", name="first", sha256="XYZ")["failed"]
    assert tokens(path, state="add", name="x", sha256=digest)["failed"]


def test_revoke_is_seen_by_the_bridge_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    keep = tokens(path, state="add", name="keep")["token"]
    drop = tokens(path, state="add", name="drop")["token"]
    store = TokenStore(path)
    assert store.name_of(drop) == "drop"
    assert tokens(path, state="revoke", name="drop")["changed"]
    assert store.name_of(drop) is None and store.name_of(keep) == "keep"


def test_refusals(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    tokens(path, state="add", name="a")
    assert "exists" in tokens(path, state="add", name="a")["msg"]
    assert "no token named b" in tokens(path, state="revoke", name="b")["msg"]
    assert tokens(path, state="add", name="../x")["failed"]
    path.write_text("[]")
    assert "not a tokens file" in tokens(path)["msg"]


def test_the_cli_refuses_an_inventory(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[all]\nh ansible_host=192.0.2.1\n")
    done = aiws("bridge", "tokens", "add", "x", "-i", str(inventory))
    assert done.returncode == 2 and "Bridge's host only" in done.stderr
