"""`aiws uninstall`."""

from __future__ import annotations

import typer
from rich.markup import escape

from aiws.ansible import runlock
from aiws.cli.options import InventoryOpt, JsonOpt, WaitOpt
from aiws.cli.output import Output
from aiws.commands import uninstall as uninstall_logic
from aiws.errors import ExitCode, UsageError
from aiws.model.catalog import load_catalog
from aiws.model.hosts import resolve_hosts

# How each path status of aiws_remove is shown ("kept": the running controller uses it).
_STATUS_STYLE = {"removed": "green", "absent": "dim", "would remove": "yellow", "kept": "cyan"}


def uninstall(
    purge: bool = typer.Option(
        False,
        "--purge",
        help="Also delete data, config, secrets, users, the packages aiws "
        "installed and the ledger.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before purging."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be removed; change nothing."
    ),
    inventory: InventoryOpt = None,
    json_output: JsonOpt = False,
    wait: WaitOpt = runlock.DEFAULT_WAIT_SECONDS,
) -> None:
    """Stop and remove aiws units and runtime trees; data is kept unless --purge.

    One install or uninstall runs at a time on this machine; a second one waits (--wait).
    """
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    if purge and not dry_run and not yes:
        _confirm_purge(out, target.label)
    command = "aiws uninstall" + (" --purge" if purge else "") + (" --dry-run" if dry_run else "")
    with runlock.held(command, wait, out.err):
        outcome = uninstall_logic.uninstall(target, load_catalog(), purge=purge, dry_run=dry_run)
    if json_output:
        out.data(outcome.as_json())
    else:
        _render(out, outcome)
    raise typer.Exit(int(ExitCode.OK if outcome.run.ok else ExitCode.FAILED))


def _confirm_purge(out: Output, label: str) -> None:
    if not out.err.is_terminal:
        raise UsageError("--purge deletes all aiws data and secrets", "add --yes to confirm")
    answer = typer.prompt(f"Purge deletes every aiws data file and secret on {label}. Type 'purge'")
    if answer.strip() != "purge":
        raise UsageError("purge not confirmed", "type 'purge', or pass --yes")


def _render(out: Output, outcome: uninstall_logic.UninstallOutcome) -> None:
    verb = "would remove" if outcome.dry_run else "uninstall"
    out.print(f"[bold]{verb}[/]: {', '.join(outcome.components) or 'no components recorded'}")
    for item in outcome.paths:
        style = _STATUS_STYLE.get(item.status, "default")
        out.print(
            f"  [{style}]{escape(f'{item.status:<12}')}[/] {escape(item.path)}"
            f"  [dim]({escape(item.host)})[/]"
        )
    for failure in outcome.run.failures:
        out.error(failure.line)
    done = (
        "dry run: nothing changed" if outcome.dry_run else f"{outcome.run.totals().changed} changed"
    )
    out.print(
        f"uninstall{' --purge' if outcome.purge else ''}: "
        f"{'[green]ok[/]' if outcome.run.ok else '[red]failed[/]'} ({done})"
    )
