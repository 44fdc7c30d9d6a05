"""`aiws secrets list | show NAME | set NAME`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aiws.cli.options import InventoryOpt, JsonOpt
from aiws.cli.output import Output
from aiws.commands import secrets as secrets_logic
from aiws.errors import UsageError
from aiws.model.catalog import load_catalog
from aiws.model.hosts import require_root, resolve_hosts

app = typer.Typer(
    help="aiws's secrets (one per purpose): list them, show one, set one you bring.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(inventory: InventoryOpt = None, json_output: JsonOpt = False) -> None:
    """Every secret aiws generated: name, file, the run that created it. No values."""
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws secrets list")
    records = secrets_logic.list_secrets(target, load_catalog())
    if json_output:
        out.data([record.model_dump() for record in records])
        return
    table = Table(title_justify="left")
    for column in ("host", "name", "belongs to", "file", "created by run", "present"):
        table.add_column(column)
    for r in records:
        table.add_row(
            escape(r.host),
            escape(r.name),
            escape(r.component),
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
    target = resolve_hosts(inventory)
    require_root(target, "aiws secrets show")
    values = secrets_logic.show_secret(target, load_catalog(), name)
    if json_output:
        out.data({"name": name, "values": values})
    elif len(values) == 1:
        print(next(iter(values.values())))
    else:
        for host, value in values.items():
            print(f"{host}: {value}")


@app.command("set")
def set_command(
    name: str = typer.Argument(..., help="The secret's name, e.g. openai-api-key."),
    from_file: Path | None = typer.Option(
        None, "--from-file", help="Read the value from this file (else stdin; never argv)."
    ),
    inventory: InventoryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Store a secret you bring (a model provider's API key): read from stdin or a file,
    never echoed, 0600 root, mirrored into Vault's KV and used by the next `aiws install`."""
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws secrets set")
    if from_file is not None:
        try:
            data = from_file.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read {from_file}: {exc.strerror}", "give a readable file"
            ) from None
        value = secrets_logic.read_value(data, str(from_file))
    elif sys.stdin.isatty():
        value = secrets_logic.read_value(
            getpass.getpass(f"value for {name} (not echoed): ").encode(), "the prompt"
        )
    else:
        value = secrets_logic.read_value(sys.stdin.buffer.read(), "stdin")
    catalog = load_catalog()
    changed = secrets_logic.set_secret(target, catalog, name, value)
    path = f"{catalog.paths.secrets}/{name}"
    if json_output:
        out.data({"name": name, "path": path, "changed": changed})
    elif changed:
        out.print(f"stored {escape(name)} in {escape(path)} (0600 root); `aiws install` applies it")
    else:
        out.print(f"{escape(name)} already holds this value; nothing changed")
