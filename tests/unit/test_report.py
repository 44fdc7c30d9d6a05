"""`aiws report`: the controller's run history (appended whole and atomically, 0600, bounded,
never through a symlink) and its statistics, grouped by platform, architecture, cold or
cached bundle and first install or rerun."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiws.commands import report as history
from aiws.commands.report import RunEntry, build_report, percentile, stats
from aiws.timing import PhaseTime
from tests.helpers.cli import aiws


def entry(n: int, run: str = "rerun", bundle: str = "cached", ok: bool = True) -> RunEntry:
    return RunEntry(
        id=f"r{n}", verb="install", mode="core", ok=ok, started_at=datetime.now(UTC),
        seconds=10.0 + n, platform="debian-12", arch="amd64", bundle=bundle, run=run, hosts=1,
        phases=[PhaseTime(name="verify", seconds=0.1 * n), PhaseTime(name="postgresql", seconds=n)],
    )  # fmt: skip


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]
    assert [percentile(samples, p) for p in (50, 90, 95, 99)] == [50.0, 90.0, 95.0, 99.0]
    assert percentile([7.0], 99) == 7.0
    one = stats([1.0, 2.0, 3.0, 10.0])
    assert (one.count, one.min, one.max, one.avg, one.p50, one.p99) == (4, 1, 10, 4, 2, 10)


def test_runs_are_grouped_and_failed_runs_and_bad_lines_left_out(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for n in (1, 2):
        history.append(path, entry(n, run="first", bundle="cold"))
    for n in (3, 4, 5):
        history.append(path, entry(n))
    history.append(path, entry(6, ok=False))
    with path.open("a") as out:
        out.write("{not a run\n")
    report = build_report(path)
    assert (report.runs, report.skipped_lines) == (6, 1)
    keys = [(g.bundle, g.run) for g in report.groups]
    assert keys == [("cached", "rerun"), ("cold", "first")]
    rerun = report.groups[0].phases
    assert list(rerun) == ["verify", "postgresql", "total"]
    assert (rerun["postgresql"].count, rerun["postgresql"].p50, rerun["total"].max) == (3, 4, 15)


def test_the_history_is_private_bounded_and_never_follows_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_LINES", 3)
    path = tmp_path / "logs" / "history.jsonl"
    for n in range(5):
        history.append(path, entry(n))
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["r2", "r3", "r4"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with pytest.raises(OSError):
        history.load(link)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no scratch left
    assert target.stat().st_size == 0


def test_the_cli_reports_json_and_tables_with_markup_escaped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    odd = entry(1).model_copy(update={"phases": [PhaseTime(name="[red]x", seconds=1.0)]})
    history.append(path, odd)
    done = aiws("report", "--history", str(path), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["runs"] == 1 and document["groups"][0]["phases"]["[red]x"]["count"] == 1
    table = aiws("report", "--history", str(path))
    assert table.returncode == 0 and "[red]x" in table.stdout
    empty = aiws("report", "--history", str(tmp_path / "none.jsonl"))
    assert empty.returncode == 0 and "no completed install recorded" in empty.stdout
