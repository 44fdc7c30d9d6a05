"""One output sink for every command: human (Rich), JSON, or quiet.

Data goes to stdout; progress, warnings and errors go to stderr, so `--json` output and
pipes stay machine-readable. Progress bars are drawn only on a terminal.

`info`, `warn` and `error` take plain text (it may hold user input such as a mode name or a
path) and escape it, so `[` in a message is printed as is, never read as Rich markup. Whoever
passes markup to `print` escapes the user's part of it with `rich.markup.escape`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self.out = Console(soft_wrap=True, highlight=False)
        self.err = Console(stderr=True, soft_wrap=True, highlight=False)

    @property
    def interactive(self) -> bool:
        """Live progress only for a human at a terminal."""
        return not self.json_mode and not self.quiet and self.err.is_terminal

    def data(self, payload: BaseModel | dict[str, Any] | list[Any]) -> None:
        """Emit one JSON document on stdout."""
        if isinstance(payload, BaseModel):
            text = payload.model_dump_json(indent=2)
        else:
            text = json.dumps(payload, indent=2, sort_keys=False, default=str)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def print(self, *renderables: Any) -> None:
        if not self.quiet:
            self.out.print(*renderables)

    def info(self, message: str) -> None:
        if not self.quiet and not self.json_mode:
            self.err.print(escape(message))

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(message)}", markup=True)

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/] {escape(message)}", markup=True)
