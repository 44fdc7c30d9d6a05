"""`aiws versions`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from aiws import __version__, resources
from aiws.cli.options import JsonOpt
from aiws.cli.output import Output
from aiws.model.catalog import load_catalog


def versions(json_output: JsonOpt = False) -> None:
    """Show the pinned version of every component, and which modes include it."""
    out = Output(json_mode=json_output)
    catalog = load_catalog()
    rows: list[dict[str, Any]] = [
        {
            "component": c.name,
            "version": c.version,
            "kind": c.kind,
            "port": c.listen.port if c.listen else None,
            "modes": [m.name for m in catalog.modes.values() if c.name in m.components],
            "installable": resources.has_role(c.name),
        }
        for c in catalog.components.values()
    ]
    if json_output:
        out.data({"aiws": __version__, "components": rows})
        return
    table = Table(title=f"aiws {__version__}: pinned versions", title_justify="left")
    for column in ("component", "version", "kind", "port", "modes", "role"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["component"],
            row["version"],
            row["kind"],
            str(row["port"] or "-"),
            ", ".join(row["modes"]),
            "yes" if row["installable"] else "not yet",
        )
    out.print(table)
