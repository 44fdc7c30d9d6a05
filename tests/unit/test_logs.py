"""`aiws logs`: which units a component's journal covers (from the catalog), and every bad
input refused in one line with exit 2 before journalctl runs."""

from __future__ import annotations

import pytest

from aiws.commands.logs import journal_argv, unit_patterns
from aiws.model.catalog import load_catalog
from tests.helpers.cli import aiws

CATALOG = load_catalog()


def test_a_component_covers_its_unit_its_timers_and_for_the_bridge_its_sessions() -> None:
    assert unit_patterns(CATALOG, "qmd") == ["aiws-qmd*"]
    assert unit_patterns(CATALOG, "bridge") == ["aiws-bridge*", "aiws-acp-*@*.service"]
    every = unit_patterns(CATALOG, None)
    assert every[0] == "aiws-postgresql*" and "aiws-caddy*" in every
    assert not any("codex" in p for p in every)  # agents have no unit: the Bridge's sessions


def test_the_journalctl_call_is_one_argv_with_each_value_one_element() -> None:
    argv = journal_argv(["aiws-bridge*"], follow=True, since="2026-11-22 10:00", lines=5)
    assert argv[1:] == ["--no-pager", "--lines=5", "--unit=aiws-bridge*",
                        "--since=2026-11-22 10:00", "--follow"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["nope"], "unknown component 'nope'; choose from: postgresql"),
        (["[red]x"], "unknown component '[red]x'"),
        (["codex"], "codex has no unit of its own; an agent's sessions run under the Bridge"),
        (["bridge", "--since", "$(id)"], "--since '$(id)' is not a time journalctl reads"),
        (["bridge", "--since", "x" * 65], "is not a time journalctl reads"),
        (["bridge", "-n", "0"], "--lines 0 is out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], problem: str) -> None:
    result = aiws("logs", *args)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr and result.stderr.count("\n") == 1, result.stderr
