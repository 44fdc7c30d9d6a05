"""aiws_postgres: the SCRAM-SHA-256 verifier it sends instead of a password, and SQL quoting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from aiws.module_utils.aiws_common import Failure
from aiws.module_utils.aiws_postgres import ident, literal, scram_verifier, verifier_matches

# RFC 7677 section 3: user "user", password "pencil", this salt and i=4096.
RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC_CLIENT_FIRST_BARE = "n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = f"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s={RFC_SALT},i=4096"
RFC_CLIENT_FINAL_BARE = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

FORMAT = re.compile(
    r"^SCRAM-SHA-256\$4096:(?P<salt>[A-Za-z0-9+/]+=*)"
    r"\$(?P<stored>[A-Za-z0-9+/]+=*):(?P<server>[A-Za-z0-9+/]+=*)$"
)


def _keys(verifier: str) -> tuple[bytes, bytes]:
    match = FORMAT.match(verifier)
    assert match, verifier
    return base64.b64decode(match["stored"]), base64.b64decode(match["server"])


def test_the_verifier_has_postgresqls_format() -> None:
    verifier = scram_verifier("s3cret")
    match = FORMAT.match(verifier)
    assert match, verifier
    assert len(base64.b64decode(match["salt"])) == 16
    stored, server = _keys(verifier)
    assert len(stored) == len(server) == 32
    assert stored != server


def test_each_verifier_gets_a_fresh_salt() -> None:
    first, second = scram_verifier("s3cret"), scram_verifier("s3cret")
    assert first != second
    assert verifier_matches(first, "s3cret") and verifier_matches(second, "s3cret")


def test_the_verifier_reproduces_the_rfc_7677_exchange() -> None:
    """An external known value: the ServerKey yields the RFC's server signature, and the
    StoredKey accepts the RFC's client proof."""
    verifier = scram_verifier("pencil", base64.b64decode(RFC_SALT), 4096)
    assert verifier.startswith(f"SCRAM-SHA-256$4096:{RFC_SALT}$")
    stored, server = _keys(verifier)
    auth = f"{RFC_CLIENT_FIRST_BARE},{RFC_SERVER_FIRST},{RFC_CLIENT_FINAL_BARE}".encode()
    signature = hmac.new(server, auth, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == RFC_SERVER_SIGNATURE
    client_signature = hmac.new(stored, auth, hashlib.sha256).digest()
    proof = base64.b64decode(RFC_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored


def test_the_stored_key_matches_rfc_5802_derived_independently() -> None:
    salt = bytes(range(16))
    salted = hashlib.pbkdf2_hmac("sha256", b"correct horse", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored, server = _keys(scram_verifier("correct horse", salt, 4096))
    assert stored == hashlib.sha256(client_key).digest()
    assert server == server_key


def test_the_iteration_count_is_used() -> None:
    salt = bytes(16)
    low = scram_verifier("pw", salt, 1)
    assert low.startswith("SCRAM-SHA-256$1:")
    assert low.split("$", 2)[2] != scram_verifier("pw", salt, 4096).split("$", 2)[2]
    assert verifier_matches(low, "pw")


def test_a_verifier_matches_its_password_only() -> None:
    verifier = scram_verifier("right horse")
    assert verifier_matches(verifier, "right horse")
    assert not verifier_matches(verifier, "wrong horse")
    assert not verifier_matches(verifier, "right horse ")
    assert not verifier_matches(scram_verifier("other"), "right horse")


def test_a_tampered_verifier_does_not_match() -> None:
    verifier = scram_verifier("pw", bytes(16))
    head, keys = verifier.rsplit("$", 1)
    stored, server = keys.split(":")
    other_server = base64.b64encode(bytes(32)).decode()
    assert other_server != server
    assert verifier_matches(f"{head}${stored}:{server}", "pw")
    assert not verifier_matches(f"{head}${stored}:{other_server}", "pw")
    other_salt = verifier.replace(base64.b64encode(bytes(16)).decode(), "AQ" * 10 + "AA==")
    assert other_salt != verifier
    assert not verifier_matches(other_salt, "pw")


@pytest.mark.parametrize(
    "verifier",
    [
        "",
        None,
        "md5" + "0" * 32,
        "SCRAM-SHA-256$4096:c2FsdA==",
        "SCRAM-SHA-1$4096:c2FsdA==$YQ==:Yg==",
        "SCRAM-SHA-256$many:c2FsdA==$YQ==:Yg==",
        "SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==",
    ],
)
def test_a_malformed_verifier_does_not_match(verifier: str | None) -> None:
    assert verifier_matches(verifier, "pw") is False


@pytest.mark.parametrize(
    "verifier",
    ["SCRAM-SHA-256$4096:abc$YQ==:Yg==", "SCRAM-SHA-256$0:c2FsdA==$YQ==:Yg=="],
)
def test_a_verifier_with_bad_fields_does_not_match_and_does_not_raise(verifier: str) -> None:
    assert verifier_matches(verifier, "pw") is False


@pytest.mark.parametrize("name", ["aiws_vault", "_x", "a", "litellm2", "a" * 63])
def test_ident_quotes_a_valid_name(name: str) -> None:
    assert ident(name) == f'"{name}"'


@pytest.mark.parametrize(
    "name",
    ["", "Vault", "1abc", "a-b", "a b", 'a"b', "a;drop", "a.b", "é", "a" * 64, "$x"],
)
def test_ident_refuses_a_name_outside_the_pattern(name: str) -> None:
    with pytest.raises(Failure, match="invalid PostgreSQL identifier"):
        ident(name)


def test_ident_refuses_a_trailing_newline() -> None:
    with pytest.raises(Failure):
        ident("vault\n")


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "'plain'"),
        ("", "''"),
        ("it's", "'it''s'"),
        ("''", "''''''"),
        ("'; DROP ROLE x; --", "'''; DROP ROLE x; --'"),
        ("back\\slash", "'back\\slash'"),
    ],
)
def test_literal_doubles_single_quotes(value: str, quoted: str) -> None:
    assert literal(value) == quoted
