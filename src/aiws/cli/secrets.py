"""`aiws secrets list | show NAME`."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from aiws import secrets as secrets_logic
from aiws.catalog import load_catalog
from aiws.cli.options import InventoryOpt, JsonOpt
from aiws.output import Output
from aiws.target import require_root, resolve_target

app = typer.Typer(
    help="The secrets aiws generated (one per purpose): list them, show one.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(inventory: InventoryOpt = None, json_output: JsonOpt = False) -> None:
    """Every secret aiws generated: name, file, the run that created it. No values."""
    out = Output(json_mode=json_output)
    target = resolve_target(inventory)
    require_root(target, "aiws secrets list")
    records = secrets_logic.list_secrets(target, load_catalog())
    if json_output:
        out.data([record.model_dump() for record in records])
        return
    table = Table(title_justify="left")
    for column in ("host", "name", "file", "created by run", "present"):
        table.add_column(column)
    for r in records:
        table.add_row(
            escape(r.host),
            escape(r.name),
            escape(r.path),
            escape(r.created_run),
            "yes" if r.exists else "[red]no[/]",
        )
    out.print(table if records else "no secrets recorded")


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help="The secret's name (see `aiws secrets list`)."),
    inventory: InventoryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Print one secret's value on stdout (with several hosts: one `host: value` line each)."""
    out = Output(json_mode=json_output)
    target = resolve_target(inventory)
    require_root(target, "aiws secrets show")
    values = secrets_logic.show_secret(target, load_catalog(), name)
    if json_output:
        out.data({"name": name, "values": values})
    elif len(values) == 1:
        print(next(iter(values.values())))
    else:
        for host, value in values.items():
            print(f"{host}: {value}")
