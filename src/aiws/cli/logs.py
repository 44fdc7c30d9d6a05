"""`aiws logs`."""

from __future__ import annotations

import os

import typer

from aiws.commands import logs as logs_logic
from aiws.model.catalog import load_catalog


def logs(
    component: str | None = typer.Argument(
        None, help="A component (e.g. bridge, litellm); every aiws unit when omitted."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new entries."),
    since: str | None = typer.Option(
        None, "--since", help="Only entries since then (journalctl's form: -1h, today, a date)."
    ),
    lines: int = typer.Option(200, "--lines", "-n", help="The last N entries (1-100000)."),
) -> None:
    """Show the journal of aiws's units on this host (journalctl's own output, plain text
    when piped): a component's service, its timers, and for the Bridge its sessions."""
    argv = logs_logic.journal_argv(
        logs_logic.unit_patterns(load_catalog(), component), follow, since, lines
    )
    # journalctl takes over this process: its output, its exit code, Ctrl-C ends it cleanly.
    os.execv(argv[0], argv)
