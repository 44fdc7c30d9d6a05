"""`aiws bridge tokens list | add NAME | revoke NAME`."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from aiws.cli.options import InventoryOpt, JsonOpt
from aiws.cli.output import Output
from aiws.commands import bridge as bridge_logic
from aiws.model.catalog import load_catalog
from aiws.model.hosts import require_root, resolve_hosts

app = typer.Typer(help="The Bridge: its access tokens.", no_args_is_help=True)
tokens = typer.Typer(
    help="The Bridge's named tokens (stored hashed; a new one is shown once).",
    no_args_is_help=True,
)
app.add_typer(tokens, name="tokens")


@tokens.command("list")
def list_command(inventory: InventoryOpt = None, json_output: JsonOpt = False) -> None:
    """Every token's name and creation time (never a value or a digest)."""
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws bridge tokens list")
    found = bridge_logic.list_tokens(target, load_catalog())
    if json_output:
        out.data(found)
        return
    table = Table(title_justify="left")
    table.add_column("name")
    table.add_column("created")
    for token in found:
        table.add_row(escape(token["name"]), escape(token["created"]))
    out.print(table if found else "no Bridge token")


@tokens.command("add")
def add_command(
    name: str = typer.Argument(..., help="A name for who uses it, e.g. laptop-alice."),
    inventory: InventoryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Make a token; it is printed this once (stored hashed, it cannot be shown again)."""
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws bridge tokens add")
    token = bridge_logic.add_token(target, load_catalog(), name)
    if json_output:
        out.data({"name": name, "token": token})
        return
    out.print(f"token {escape(name)} (shown once; store it now):")
    print(token)


@tokens.command("revoke")
def revoke_command(
    name: str = typer.Argument(..., help="The token's name."),
    inventory: InventoryOpt = None,
) -> None:
    """Revoke a token: the Bridge refuses it from now on (no restart)."""
    out = Output()
    target = resolve_hosts(inventory)
    require_root(target, "aiws bridge tokens revoke")
    bridge_logic.revoke_token(target, load_catalog(), name)
    out.print(f"revoked {escape(name)}")
