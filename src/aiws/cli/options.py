"""Options shared by several commands, declared once so their names, flags and help agree.

Each is a `typing.Annotated` type; a command gives only the default, e.g.
`inventory: InventoryOpt = None`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        "-m",
        help="Run mode: all-in-one, core or local (see `aiws versions`). Default: the "
        "configuration file's mode, else the mode and components of the hosts' last install.",
    ),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        "-b",
        help="Offline bundle file from `aiws bundle build`. install verifies it before any "
        "change; preflight checks that its target matches each host.",
        dir_okay=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The operator's configuration file (models, settings; docs/config.md). "
        "Default: /etc/aiws/aiws.yml when it exists.",
        dir_okay=False,
    ),
]
TrustKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--trust-key",
        help="Ed25519 public key (PEM, from `aiws bundle keygen`) the bundle must be signed "
        "with: without a <bundle>.sig that verifies against it, nothing is done (exit 1).",
        dir_okay=False,
    ),
]
Sha256Opt = Annotated[
    str | None,
    typer.Option(
        "--sha256",
        metavar="HEX",
        help="The bundle's SHA256, obtained out of band (not from the file beside it): "
        "a package with any other hash is refused before anything is done (exit 1).",
    ),
]
SignKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--sign-key",
        help="Ed25519 private key (PEM, from `aiws bundle keygen`): also write <bundle>.sig, "
        "the signature hosts check with --trust-key.",
        dir_okay=False,
    ),
]
InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Ansible inventory file of the target hosts. Default: this host (local connection).",
        dir_okay=False,
    ),
]
DomainOpt = Annotated[
    str | None,
    typer.Option(
        "--domain",
        "-d",
        help="Public FQDN of the Bridge (HTTPS certificate for it). Default: the "
        "configuration file's domain, else the hosts' last one.",
    ),
]
InternalCaOpt = Annotated[
    bool | None,
    typer.Option(
        "--internal-ca/--acme",
        help="--internal-ca: sign the --domain site's certificate with a CA aiws makes for that "
        "domain alone (no :80, the host's trust store untouched; the summary names the CA "
        "file clients trust). --acme: get it "
        "by ACME. Default: the configuration file's tls, else what the site had.",
        show_default=False,
    ),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="Only these components of the mode (comma-separated, repeatable).",
    ),
]
BackendOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--backend", help="Runtime backend: systemd (default), docker or k3s (repeatable)."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-e",
        help="<component>.version=X: override a pinned version for this run (repeatable). "
        "No other key is accepted.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")
]
AllowDowngradeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-downgrade",
        help="Let the bundle take an installed component back to an older version (refused "
        "otherwise: an older release may not read what a newer one wrote; docs/upgrade.md).",
    ),
]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        metavar="SECONDS",
        help="How long to wait for another install or uninstall on this machine to finish "
        "(its run lock); 0: do not wait. Still busy then: exit 2 naming that run.",
    ),
]
