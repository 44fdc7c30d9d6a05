"""The uninstall report renders every path status aiws_remove reports, and any path."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from aiws.ansible.driver import PathReport, RunResult
from aiws.cli.output import Output
from aiws.cli.uninstall import _render
from aiws.commands.uninstall import UninstallOutcome


def outcome(paths: list[PathReport]) -> UninstallOutcome:
    run = RunResult(
        run_id="r", playbook="uninstall", rc=0, status="successful",
        started_at=datetime.now(UTC), duration=1.0, counts={}, stats={}, failures=[],
        phases=[], facts={}, results={}, paths=paths, log_dir=None,
    )  # fmt: skip
    return UninstallOutcome(run=run, components=["vault"], purge=True, dry_run=False)


@pytest.mark.parametrize("status", ["removed", "absent", "would remove", "kept", "odd[/]"])
def test_each_status_and_odd_paths_render(status: str) -> None:
    out = Output()
    buffer = io.StringIO()
    out.out = Console(file=buffer, width=200)
    paths = [PathReport("h[/]ost", "/var/lib/aiws/[weird]", status)]
    _render(out, outcome(paths))
    text = buffer.getvalue()
    assert status in text and "/var/lib/aiws/[weird]" in text and "h[/]ost" in text
