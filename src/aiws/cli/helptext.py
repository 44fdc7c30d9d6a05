"""Help that reads well at any width: docstrings become paragraphs, flags show no type.

Typer keeps a docstring's hard line breaks, so a description written at 100 columns wraps
mid-sentence in an 80-column terminal; and it shows `<bool>` beside every flag, which takes
no value. `tidy(app)` rewrites every command's and group's help into paragraphs (a blank
line separates them; list items and indented lines keep their own line) and gives every
flag an empty metavar. main.py calls it once, for every command.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def paragraphs(text: str | None) -> str | None:
    """`text` with the line breaks inside each paragraph joined into spaces."""
    if not text:
        return text
    blocks = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(_join(block) for block in blocks)


def _join(block: str) -> str:
    lines: list[str] = []
    for line in block.splitlines():
        own_line = line.startswith(("- ", "* ", "  ", "\b"))
        if lines and not own_line:
            lines[-1] = f"{lines[-1]} {line.strip()}"
        else:
            lines.append(line)
    return "\n".join(lines)


def tidy(app: typer.Typer) -> None:
    """Every command and group of `app`, recursively: help as paragraphs, flags untyped."""
    app.info.help = paragraphs(app.info.help)
    app.info.cls = _Group
    for command in app.registered_commands:
        callback = command.callback
        command.help = paragraphs(command.help or (callback.__doc__ if callback else None))
        command.cls = _Command
    for group in app.registered_groups:
        group.help = paragraphs(group.help)
        group.cls = _Group
        if group.typer_instance is not None:
            tidy(group.typer_instance)


def _untyped_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False):  # Typer's own click: no isinstance here
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))
