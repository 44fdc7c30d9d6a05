"""Caddy: the public side on its port; its admin API a unix socket, no TCP listener. With
--internal-ca it serves the certificate of aiws's site CA (tests/unit/test_site_ca.py: what
that CA may vouch for), given only that certificate and its key, never the CA's key; on an
installed host the CA's key is root's alone."""

from __future__ import annotations

from aiws.model.resolve import resolve_layout
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG
from tests.helpers.hosts import inside
from tests.helpers.render import Renders

LAYOUT = resolve_layout(CATALOG, CATALOG.component("caddy"))
SECRETS = {s.key: s.name for s in CATALOG.component("caddy").all_secrets}


def test_with_the_internal_ca_caddy_gets_the_site_certificate_and_clients_the_ca(
    rendered: Renders,
) -> None:
    caddy = rendered["MOCK_ONLY"]["caddy"]  # --domain bridge.example.com --internal-ca
    files = {dest: (f["content"], f["mode"], f.get("group")) for dest, f in caddy.files.items()}
    assert files[LAYOUT["certificate"]] == (
        f"@AIWS_SECRET({SECRETS['site_certificate']})@\n",
        "0640",
        "aiws-caddy",
    )
    assert files[LAYOUT["key"]] == (f"@AIWS_SECRET({SECRETS['site_key']})@\n", "0640", "aiws-caddy")
    assert files[LAYOUT["ca_root"]] == (f"@AIWS_SECRET({SECRETS['ca']})@\n", "0644", None)
    assert not [f for f in caddy.files.values() if SECRETS["ca_key"] in f["content"]]
    caddyfile = caddy.text(LAYOUT["caddyfile"])
    site = caddyfile.split("bridge.example.com {", 1)[1].split("\n}", 1)[0]
    assert f"tls {LAYOUT['certificate']} {LAYOUT['key']}" in site and "tls internal" not in site


def test_without_the_internal_ca_no_site_ca_file(rendered: Renders) -> None:
    caddy = rendered["WITH_MODELS"]["caddy"]
    assert LAYOUT["ca_root"] not in caddy.files and LAYOUT["key"] not in caddy.files


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("caddy").listen
    assert listen is not None
    ports = {line.split()[3].rpartition(":")[2] for line in
             inside(sandbox, "ss", "-Hltn").splitlines()}  # fmt: skip
    assert str(listen.port) in ports
    assert "2019" not in ports  # Caddy's default admin port: aiws's admin is a socket
    assert inside(sandbox, "stat", "-c", "%F %U", LAYOUT["admin"]) == "socket aiws-caddy"
    # With --internal-ca: the CA's key is root's alone; Caddy reads the site's certificate.
    secrets = CATALOG.paths.secrets
    ca_key = f"{secrets}/{SECRETS['ca_key']}"
    if inside(sandbox, "sh", "-c", f"test -e {ca_key} && echo yes || echo no") == "yes":
        assert inside(sandbox, "stat", "-c", "%a %U", ca_key) == "600 root"
        assert inside(sandbox, "stat", "-c", "%a %G", LAYOUT["key"]) == "640 aiws-caddy"
