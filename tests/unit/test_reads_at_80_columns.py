"""`aiws --help`, every command's help and `aiws status` read well in an 80-column terminal:
descriptions flow as paragraphs (no line ends where the next word would have fitted), flags
show no `<bool>`, nothing is wider than the terminal, and status never cuts an address."""

from __future__ import annotations

import pytest
import typer.main
from rich.console import Console
from typer.testing import CliRunner

from aiws.ansible.ledger import Ledger
from aiws.cli import status as status_cli
from aiws.cli.helptext import paragraphs
from aiws.cli.main import app
from aiws.cli.output import Output
from aiws.commands.status import ComponentStatus, HostStatus, StatusReport
from aiws.model.catalog import load_catalog
from aiws.modules.aiws_status import http_probe
from tests.helpers.width import WIDTH, description_blocks, early_breaks, panel_cells, too_wide


def _commands() -> list[list[str]]:
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("args", _commands(), ids=lambda a: " ".join(["aiws", *a]))
def test_help_flows_as_paragraphs_and_flags_show_no_type(args: list[str]) -> None:
    text = _help(args)
    assert "<bool>" not in text
    assert too_wide(text) == []
    for block in description_blocks(text):
        assert early_breaks(block, WIDTH - 1) == [], block
    if "╭─ Commands " in text:
        offset, rows = panel_cells(text, "Commands")
        for row in rows:
            assert early_breaks(row, WIDTH - 2 - offset) == [], row


def test_the_paragraph_rule() -> None:
    assert paragraphs("One line\n    broken here.\n\n    - a list item\n    - another") == (
        "One line broken here.\n\n- a list item\n- another"
    )


def _status(width: int) -> tuple[str, list[ComponentStatus]]:
    """`aiws status` for every catalog component, with the catalog's addresses and versions
    and each HTTP probe's real answer from this machine's loopback (nothing listens there:
    the longest detail a probe gives)."""
    rows = []
    for c in load_catalog().components.values():
        health = c.health.model_dump() if c.health else {}
        detail = ""
        if c.listen and health.get("type") in ("http", "https"):
            detail = http_probe(health["type"], c.listen.host, 1, health.get("path", "/"),
                                [200], 0.2)[1]  # fmt: skip
        rows.append(ComponentStatus(
            name=c.name, kind=c.kind, installed=True, version=c.version, unit=c.unit or "",
            unit_state="active" if c.unit else "", public=c.public, listening=True,
            address=f"{c.listen.host}:{c.listen.port}" if c.listen else "",
            healthy=not detail, detail=detail, seconds=0.01,
            models=["aiws-mock", "aiws-mock-gemini"] if c.name == "litellm" else [],
            sessions=2 if c.name == "bridge" else None,
        ))  # fmt: skip
    report = StatusReport(
        hosts=[HostStatus(host="localhost", components=rows, ledger=Ledger())], seconds=0.4
    )
    out = Output()
    out.out = Console(width=width, record=True, highlight=False, soft_wrap=True)
    status_cli._render(out, report, show_all=False)
    return out.out.export_text(), rows


def test_status_reads_at_80_columns_and_cuts_no_address() -> None:
    text, rows = _status(WIDTH)
    assert too_wide(text) == []
    lines = text.splitlines()
    for row in rows:
        mine = [n for n, line in enumerate(lines) if line.lstrip().startswith(row.name + " ")]
        assert mine, row.name
        assert row.address in lines[mine[0]] and row.version in lines[mine[0]], lines[mine[0]]
        if row.detail:
            # its own lines below the table: the detail in full, no word of it cut
            assert len(mine) == 2, (row.name, mine)
            wrapped = [lines[mine[1]].split(row.name, 1)[1]]
            wrapped += [line for line in lines[mine[1] + 1 :] if line.startswith("    ")]
            said = " ".join(" ".join(line.split()) for line in wrapped)
            assert said.startswith(row.detail), (row.name, said)
