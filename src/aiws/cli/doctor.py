"""`aiws doctor`."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from aiws.cli.options import ConfigOpt, InventoryOpt, JsonOpt
from aiws.cli.output import Output
from aiws.commands import doctor as doctor_logic
from aiws.model.catalog import load_catalog
from aiws.model.hosts import require_root, resolve_hosts

COLOURS = {"ok": "green", "warning": "yellow", "error": "red"}


def doctor(
    inventory: InventoryOpt = None,
    config: ConfigOpt = None,
    acp: bool = typer.Option(
        False,
        "--acp",
        help="Also start one session per agent through the Bridge's sockets and check that "
        "it answers ACP initialize (a few seconds each; the workspace is removed after).",
    ),
    timeout: float = typer.Option(3.0, "--timeout", help="Seconds allowed for each probe."),
    json_output: JsonOpt = False,
) -> None:
    """Check an installed runtime: the guard, every probe, disk and memory headroom,
    certificates, the clock (and with --acp each agent). Changes nothing.

    Each finding comes with its fix. Exit 0 when all is well, 3 on warnings only, 1 on any
    error.
    """
    out = Output(json_mode=json_output)
    target = resolve_hosts(inventory)
    require_root(target, "aiws doctor")
    report = doctor_logic.diagnose(target, load_catalog(), config, acp, timeout)
    if json_output:
        out.data({"worst": report.worst, **report.model_dump()})
    else:
        _render(out, report)
    raise typer.Exit(int(report.exit_code))


def _render(out: Output, report: doctor_logic.DoctorReport) -> None:
    multi_host = len({check.host for check in report.checks}) > 1
    table = Table(title="aiws doctor", title_justify="left")
    if multi_host:
        table.add_column("host")
    for column in ("check", "result", "finding", "fix"):
        table.add_column(column)
    for check in report.checks:
        cells = [
            escape(check.check),
            f"[{COLOURS[check.severity]}]{check.severity}[/]",
            escape(check.line),
            escape(check.fix),
        ]
        table.add_row(*([escape(check.host)] if multi_host else []), *cells)
    out.print(table)
    colour = COLOURS[report.worst]
    out.print(f"doctor: [{colour}]{report.worst}[/] ({report.seconds:.2f}s)")
