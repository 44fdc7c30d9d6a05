"""`aiws status`."""

from __future__ import annotations

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from aiws.cli.options import InventoryOpt, JsonOpt
from aiws.cli.output import Output
from aiws.commands import status as status_logic
from aiws.errors import ExitCode
from aiws.model.catalog import load_catalog
from aiws.model.hosts import require_root, resolve_hosts


def status(
    inventory: InventoryOpt = None,
    show_all: bool = typer.Option(
        False, "--all", "-a", help="Also list catalog components that are not installed."
    ),
    timeout: float = typer.Option(3.0, "--timeout", help="Seconds allowed for each probe."),
    json_output: JsonOpt = False,
) -> None:
    """Unit state, address, health and version of every component. Probes run in parallel.

    Exit 0 when every installed component is healthy, 1 otherwise.
    """
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws status")
    report = status_logic.probe(target, load_catalog(), timeout)
    if json_output:
        out.data(
            {
                "healthy": report.healthy,
                "seconds": report.seconds,
                "hosts": [
                    {
                        "host": h.host,
                        "components": [
                            {**c.model_dump(), "state": c.state, "health": c.health}
                            for c in h.components
                            if show_all or c.installed
                        ],
                    }
                    for h in report.hosts
                ],
            }
        )
    else:
        _render(out, report, show_all)
    raise typer.Exit(int(ExitCode.OK if report.healthy else ExitCode.FAILED))


def _render(out: Output, report: status_logic.StatusReport, show_all: bool) -> None:
    """One table per host that fits an 80-column terminal (no cell wraps: an address or a
    version is never cut), then each component's details on a line of their own."""
    for host in report.hosts:
        rows = host.components if show_all else host.installed
        if not rows:
            out.print(f"{escape(host.host)}: nothing installed by aiws")
            continue
        table = Table(title=escape(host.host), title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("component", "state", "address", "health", "version"):
            table.add_column(column, no_wrap=True)
        for c in rows:
            colour = {"healthy": "green", "unhealthy": "red"}.get(c.health, "dim")
            table.add_row(
                c.name,
                c.state,
                escape(c.address or "-"),
                f"[{colour}]{escape(c.health)}[/]",
                escape(c.version or "-"),
            )
        out.print(table)
        details = Table.grid(padding=(0, 2))
        details.add_column(no_wrap=True)
        details.add_column(overflow="fold")
        for c in rows:
            if detail := _detail(c):
                details.add_row(f"  {c.name}", escape(detail))
        if details.row_count:
            out.print(details)
    verdict = "[green]healthy[/]" if report.healthy else "[red]unhealthy[/]"
    out.print(f"status: {verdict} ({report.seconds:.2f}s)")


def _detail(component: status_logic.ComponentStatus) -> str:
    models = f"models: {', '.join(component.models)}" if component.models else ""
    sessions = f"{component.sessions} active sessions" if component.sessions is not None else ""
    asked = (
        f"runs {component.version}, the last install asked for {component.asked} "
        f"({component.asked_outcome})"
        if component.asked
        else ""
    )
    return "; ".join(part for part in (component.detail, models, sessions, asked) if part)
