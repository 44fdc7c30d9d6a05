"""`aiws logs`: the journals of aiws's units on this host, read by journalctl.

Which units belong to a component comes from the catalog: its unit and every unit named
after it (a timer and its service, e.g. aiws-qmd-index), and for the Bridge its sessions'
units. journalctl's output passes through untouched: no Rich, so it pipes cleanly.
"""

from __future__ import annotations

import re
import shutil

from aiws.errors import UsageError
from aiws.model.catalog import Catalog

# What journalctl's --since accepts that aiws passes on: dates, times, "yesterday",
# "-1h", "2 hours ago". One argv element, never a shell.
SINCE = re.compile(r"^[A-Za-z0-9 :.+-]{1,64}$")
MAX_LINES = 100_000


def unit_patterns(catalog: Catalog, component: str | None) -> list[str]:
    """journalctl -u patterns for `component`, or for every component with a unit."""
    names = [component] if component else list(catalog.components)
    patterns: list[str] = []
    for name in names:
        found = catalog.components.get(name)
        if found is None:
            raise UsageError(
                f"unknown component '{name}'",
                f"choose from: {', '.join(c.name for c in catalog.components.values() if c.unit)}",
            )
        if found.unit:
            patterns.append(found.unit.rsplit(".", 1)[0] + "*")
        if found.sessions:
            patterns.append(found.sessions)
    if not patterns:
        raise UsageError(
            f"{component} has no unit of its own",
            "an agent's sessions run under the Bridge: aiws logs bridge",
        )
    return patterns


def journal_argv(patterns: list[str], follow: bool, since: str | None, lines: int) -> list[str]:
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        raise UsageError(
            "journalctl is not on this host", "aiws logs reads systemd's journal on aiws's host"
        )
    if since is not None and not SINCE.match(since):
        raise UsageError(
            f"--since '{since}' is not a time journalctl reads",
            "give e.g. --since '-1h', --since today or --since '2026-11-22 10:00'",
        )
    if not 0 < lines <= MAX_LINES:
        raise UsageError(f"--lines {lines} is out of range", f"give 1 to {MAX_LINES}")
    argv = [journalctl, "--no-pager", f"--lines={lines}"]
    argv += [f"--unit={pattern}" for pattern in patterns]
    if since is not None:
        argv.append(f"--since={since}")
    if follow:
        argv.append("--follow")
    return argv
