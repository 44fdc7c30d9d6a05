"""Live progress for a human at a terminal: component N of M, current task, elapsed time.

Never used for `--json` or when stderr is not a terminal (aiws.cli.output decides).
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class RunProgress:
    def __init__(self, console: Console, components: list[str], title: str):
        self.components = components
        self.seen: list[str] = []
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[title]}[/]"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=len(components) or 1, title=title)

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def task_started(self, role: str, task: str) -> None:
        if role in self.components and role not in self.seen:
            self.seen.append(role)
            self._progress.update(self._task, completed=len(self.seen) - 1)
        self._progress.update(self._task, description=f"{role}: {task}")

    def retrying(self, task: str, retries_left: int, delay: float) -> None:
        self._progress.update(
            self._task, description=f"waiting: {task} ({retries_left} tries left, every {delay:g}s)"
        )

    def finish(self) -> None:
        self._progress.update(self._task, completed=len(self.components) or 1)


class LineProgress:
    """Non-interactive progress: one line on stderr per component, for logs and CI."""

    def __init__(self, console: Console, components: list[str]):
        self.console = console
        self.components = components
        self.seen: set[str] = set()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def task_started(self, role: str, task: str) -> None:
        if role in self.components and role not in self.seen:
            self.seen.add(role)
            position = self.components.index(role) + 1
            self.console.print(f"==> [{position}/{len(self.components)}] {role}", highlight=False)

    def retrying(self, task: str, retries_left: int, delay: float) -> None:
        self.console.print(f"    waiting: {task} ({retries_left} tries left, every {delay:g}s)")
