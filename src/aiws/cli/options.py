"""Options shared by several commands, defined once so their names and help agree."""

from __future__ import annotations

import typer

INVENTORY = typer.Option(
    None,
    "--inventory",
    "-i",
    help="Ansible inventory file of the target hosts. Default: this host (local connection).",
    dir_okay=False,
)
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout instead of text.")
