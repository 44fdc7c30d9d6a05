"""`aiws report`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aiws.ansible import driver
from aiws.cli.options import JsonOpt
from aiws.cli.output import Output
from aiws.commands import report as report_logic

COLUMNS = ("count", "min", "max", "avg", "p50", "p90", "p95", "p99")


def report(
    history: Path | None = typer.Option(
        None, "--history", help="The history file (default: history.jsonl in aiws's log dir)."
    ),
    json_output: JsonOpt = False,
) -> None:
    """Phase times of every install this controller ran: count, min, max, average and
    P50/P90/P95/P99 per phase, grouped by OS, architecture, cold or cached bundle, and
    first install, rerun or partial."""
    out = Output(json_mode=json_output)
    path = history or report_logic.history_file(driver.log_root())
    result = report_logic.build_report(path)
    if json_output:
        out.data(result.model_dump(mode="json"))
        return
    if not result.groups:
        out.print(f"no completed install recorded in {escape(str(path))} yet")
    for group in result.groups:
        title = f"{group.platform}-{group.arch}, {group.bundle} bundle, {group.run} (seconds)"
        table = Table(title=escape(title), title_justify="left")
        table.add_column("phase")
        for column in COLUMNS:
            table.add_column(column, justify="right")
        for name, stats in group.phases.items():
            values = stats.model_dump()
            table.add_row(escape(name), *(str(values[c]) for c in COLUMNS))
        out.print(table)
    if result.skipped_lines:
        out.print(
            f"[yellow]warning:[/] {result.skipped_lines} line(s) of {escape(str(path))} "
            "are not a run and were skipped"
        )
