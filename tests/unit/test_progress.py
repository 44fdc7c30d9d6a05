"""Progress displays: what a human at a terminal sees, and what a log or CI sees."""

from __future__ import annotations

import io

from rich.console import Console

from aiws.cli.progress import LineProgress, RunProgress


def test_line_progress_prints_each_component_once_with_position() -> None:
    sink = io.StringIO()
    progress = LineProgress(Console(file=sink, width=120, color_system=None), ["base", "vault"])
    for role, task in [("base", "a"), ("base", "b"), ("play", "x"), ("vault", "c")]:
        progress.task_started(role, task)
    progress.retrying("Wait until no one holds the package manager lock", 59, 5)
    assert sink.getvalue().splitlines() == [
        "==> [1/2] base",
        "==> [2/2] vault",
        "    waiting: Wait until no one holds the package manager lock (59 tries left, every 5s)",
    ]


def test_run_progress_tracks_component_and_task() -> None:
    sink = io.StringIO()
    console = Console(file=sink, width=120, force_terminal=True, color_system=None)
    with RunProgress(console, ["base", "bridge"], "install local") as progress:
        progress.task_started("base", "Create the aiws directories")
        progress.task_started("bridge", "Write the unit")
        task = progress._progress.tasks[0]
        assert task.completed == 1 and task.total == 2
        assert task.description == "bridge: Write the unit"
        progress.retrying("Wait for lock", 3, 5)
        assert progress._progress.tasks[0].description.startswith("waiting: Wait for lock")
        progress.finish()
        assert progress._progress.tasks[0].completed == 2
    assert "install local" in sink.getvalue()
