"""--internal-ca asks clients to trust aiws's own CA for the site: it may vouch for the site's
name and nothing else (a critical name constraint), its key is not Caddy's, and the site's
certificate is renewed before its end while the CA clients trust stays the same.

The CA and certificates are made by the host's openssl (aiws.module_utils.aiws_pki) in a
tmp_path secrets directory; a real TLS server on loopback presents them and a real client
(Python's ssl, i.e. OpenSSL's verifier) trusting only that CA judges them.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from aiws.module_utils.aiws_common import Failure
from aiws.module_utils.aiws_pki import SITE_DAYS, ensure_site_ca, permitted_names
from aiws.modules import aiws_site_ca

DOMAIN = "bridge.example.com"
NAMES = {"ca_key": "caddy-site-ca-key", "ca": "caddy-site-ca", "key": "caddy-site-key",
         "certificate": "caddy-site-certificate"}  # fmt: skip


def paths_in(secrets: Path) -> dict[str, str]:
    return {part: str(secrets / name) for part, name in NAMES.items()}


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return tmp_path / "secrets"


def handshake(paths: dict[str, str], name: str, certificate: str | None = None,
              key: str | None = None) -> str:  # fmt: skip
    """A TLS server on loopback with `certificate`; a client trusting only the CA connects
    for `name`: "ok" or the client's verification error."""
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(certificate or paths["certificate"], key or paths["key"])
    client_side = ssl.create_default_context(cafile=paths["ca"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_side.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), 5) as raw,
            client_side.wrap_socket(raw, server_hostname=name) as tls,
        ):
            tls.sendall(b"x")
        return "ok"
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message)
    finally:
        thread.join(5)
        listener.close()


def sign_with_the_ca(paths: dict[str, str], work: Path, name: str) -> tuple[str, str]:
    """What a thief of the CA's key (or Caddy, were it given that key) could make: a
    certificate for `name`, signed by the site CA."""
    key, csr, cert, ext = (str(work / f"other.{s}") for s in ("key", "csr", "pem", "ext"))
    Path(ext).write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
    run = ["openssl"]
    subprocess.run([*run, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", key], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run, "req", "-new", "-key", key, "-subj", f"/CN={name}", "-out", csr],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run, "x509", "-req", "-in", csr, "-CA", paths["ca"], "-CAkey",
                    paths["ca_key"], "-set_serial", "7", "-days", "30", "-extfile", ext,
                    "-out", cert], check=True, capture_output=True)  # fmt: skip
    return cert, key


def test_the_site_ca_vouches_for_the_site_and_names_under_it_only(
    secrets: Path, tmp_path: Path
) -> None:
    paths = paths_in(secrets)
    assert ensure_site_ca(paths, DOMAIN) == (True, True)
    assert permitted_names(paths["ca"]) == [DOMAIN]
    assert handshake(paths, DOMAIN) == "ok"
    # The CA's key signs a certificate for another site: clients refuse it.
    other = sign_with_the_ca(paths, tmp_path, "bank.example.org")
    said = handshake(paths, "bank.example.org", *other)
    assert "permitted subtree violation" in said, said
    # A name under the site's is within the constraint.
    below = sign_with_the_ca(paths, tmp_path, f"api.{DOMAIN}")
    assert handshake(paths, f"api.{DOMAIN}", *below) == "ok"


def test_every_file_is_roots_alone_and_a_rerun_changes_nothing(secrets: Path) -> None:
    paths = paths_in(secrets)
    ensure_site_ca(paths, DOMAIN)
    before = {part: Path(path).read_bytes() for part, path in paths.items()}
    for path in paths.values():
        info = Path(path).stat()
        assert (info.st_mode & 0o777, info.st_uid) == (0o600, 0), path
    assert ensure_site_ca(paths, DOMAIN) == (False, False)
    assert {part: Path(path).read_bytes() for part, path in paths.items()} == before
    assert [p.name for p in secrets.iterdir() if p.name.startswith(".")] == []  # no scratch


def test_the_site_certificate_is_renewed_near_its_end_under_the_same_ca(secrets: Path) -> None:
    paths = paths_in(secrets)
    ensure_site_ca(paths, DOMAIN)
    ca = Path(paths["ca"]).read_bytes()
    site = Path(paths["certificate"]).read_bytes()
    # Asked to renew with more days ahead than the certificate has: it is issued again.
    assert ensure_site_ca(paths, DOMAIN, renew_days=SITE_DAYS + 1) == (False, True)
    assert Path(paths["ca"]).read_bytes() == ca  # clients keep their trust
    assert Path(paths["certificate"]).read_bytes() != site
    assert handshake(paths, DOMAIN) == "ok"


def test_a_site_key_that_does_not_match_is_replaced(secrets: Path) -> None:
    paths = paths_in(secrets)
    ensure_site_ca(paths, DOMAIN)
    Path(paths["key"]).write_bytes(Path(paths["ca_key"]).read_bytes())
    assert ensure_site_ca(paths, DOMAIN) == (False, True)
    assert handshake(paths, DOMAIN) == "ok"


def test_another_domain_gets_a_new_ca(secrets: Path) -> None:
    paths = paths_in(secrets)
    ensure_site_ca(paths, DOMAIN)
    old_ca = Path(paths["ca"]).read_bytes()
    assert ensure_site_ca(paths, "ws.example.net") == (True, True)
    assert permitted_names(paths["ca"]) == ["ws.example.net"]
    assert Path(paths["ca"]).read_bytes() != old_ca
    assert handshake(paths, "ws.example.net") == "ok"


def test_the_module_plans_without_writing_and_refuses_odd_input(secrets: Path) -> None:
    params = {"domain": DOMAIN, "dir": str(secrets), "names": NAMES}
    planned = aiws_site_ca.run(params, check_mode=True)
    assert planned == {"changed": True, "ca_changed": True, "site_changed": True}
    assert not secrets.exists()
    assert aiws_site_ca.run(params)["changed"] is True
    assert aiws_site_ca.run(params)["changed"] is False
    odd = aiws_site_ca.run({**params, "domain": "x/../../etc"})
    assert odd["failed"] and "not a DNS name" in odd["msg"]
    wrong = aiws_site_ca.run({**params, "names": {**NAMES, "ca": "../escape"}})
    assert wrong["failed"], wrong
    with pytest.raises(Failure, match="not a DNS name"):
        ensure_site_ca(paths_in(secrets), "-bad.example.com")
