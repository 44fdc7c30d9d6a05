"""`aiws rollback`."""

from __future__ import annotations

import typer
from rich.markup import escape

from aiws.ansible import runlock
from aiws.cli.options import InventoryOpt, JsonOpt, WaitOpt
from aiws.cli.output import Output
from aiws.commands import rollback as rollback_logic
from aiws.errors import ExitCode
from aiws.model.catalog import load_catalog
from aiws.model.hosts import resolve_hosts


def rollback(
    components: list[str] = typer.Argument(
        None, help="Components to roll back (default: every one with a saved generation)."
    ),
    with_data: bool = typer.Option(
        False,
        "--with-data",
        help="Also restore their databases from the dump taken before the upgrade "
        "(what was written since is lost).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be rolled back; change nothing."
    ),
    inventory: InventoryOpt = None,
    json_output: JsonOpt = False,
    wait: WaitOpt = runlock.DEFAULT_WAIT_SECONDS,
) -> None:
    """Return components to the version their last upgrade replaced, health-gated.

    Configuration, units and runtime tree go back; data stays unless --with-data. Each
    upgrade saves one previous generation; a rollback uses it up (docs/upgrade.md).
    """
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    named = list(components or [])
    command = "aiws rollback" + (" --dry-run" if dry_run else "")
    with runlock.held(command, wait, out.err):
        outcome = rollback_logic.rollback(
            target, load_catalog(), named, with_data=with_data, dry_run=dry_run
        )
    if json_output:
        out.data(outcome.as_json())
    else:
        _render(out, outcome)
    raise typer.Exit(int(ExitCode.OK if outcome.run.ok else ExitCode.FAILED))


def _render(out: Output, outcome: rollback_logic.RollbackOutcome) -> None:
    verb = "would roll back" if outcome.dry_run else "rolled back"
    plans = [(host, p) for host, items in sorted(outcome.rolled_back.items()) for p in items]
    for host, p in plans:
        data = " with its data" if p.get("with_data") else ""
        out.print(
            f"  {verb} {escape(p['component'])} {escape(p['from'])} -> {escape(p['to'])}"
            f"{data}  [dim]({escape(host)})[/]"
        )
    for failure in outcome.run.failures:
        out.error(failure.line)
    if not plans and outcome.run.ok:
        out.print("nothing to roll back: no component has a saved generation")
    out.print(f"rollback: {'[green]ok[/]' if outcome.run.ok else '[red]failed[/]'}")
