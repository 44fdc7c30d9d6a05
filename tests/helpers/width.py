"""What "reads well in an 80-column terminal" means, checked on rendered text."""

from __future__ import annotations

import itertools
import re

WIDTH = 80


def too_wide(text: str, width: int = WIDTH) -> list[str]:
    return [line for line in text.splitlines() if len(line) > width]


def early_breaks(lines: list[str], width: int) -> list[str]:
    """Lines of one wrapped paragraph that end before they had to: the next line's first
    word would have fitted (a hard line break in the source, not the terminal's width)."""
    found = []
    for line, following in itertools.pairwise(lines):
        words = following.split()
        if line.strip() and words and len(line.rstrip()) + 1 + len(words[0]) <= width:
            found.append(line)
    return found


def description_blocks(help_text: str) -> list[list[str]]:
    """The paragraphs of a command's description: between `Usage:` and the first panel."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    blocks: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b and not b[0].lstrip().startswith(("-", "*"))]


def panel_cells(help_text: str, panel: str) -> tuple[int, list[list[str]]]:
    """The second column of each row of a Rich help panel (e.g. the command list), each row
    with its continuation lines, box drawing removed; and the column where that text starts."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {panel} "))
    rows: list[list[str]] = []
    offset = 0
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        inner = line.strip("│").rstrip()
        match = re.match(r"^ (\S+)?(\s+)(.*)$", inner)
        if match is None:
            continue
        if match.group(1):
            rows.append([match.group(3)])
            offset = line.index(match.group(3))
        elif rows:
            rows[-1].append(match.group(3))
    return offset, rows
