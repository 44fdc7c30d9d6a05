"""Every install's phase times, kept on the controller, and `aiws report`'s statistics.

One JSON line per run in `<log root>/history.jsonl` (0600; the log root is what a purge of
this host keeps): when, how long each phase took, on which platform, whether the bundle was
cold (a host still had to unpack something) or cached, and whether it was a first install,
a rerun (everything already installed) or partial. `aiws report` groups the runs by those
four and gives count/min/max/avg/P50/P90/P95/P99 of each phase and of the whole run.
"""

from __future__ import annotations

import math
import os
import statistics
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from aiws.errors import UsageError
from aiws.timing import PhaseTime

HISTORY_NAME = "history.jsonl"
MAX_LINES = 5000  # the oldest runs are dropped beyond this
MAX_BYTES = 8 << 20
PERCENTILES = (50, 90, 95, 99)
TOTAL = "total"


class RunEntry(BaseModel):
    id: str
    verb: str
    mode: str
    ok: bool
    started_at: datetime
    seconds: float
    platform: str
    arch: str
    bundle: Literal["cold", "cached"]
    run: Literal["first", "rerun", "partial"]
    hosts: int
    phases: list[PhaseTime]


class Stats(BaseModel):
    count: int
    min: float
    max: float
    avg: float
    p50: float
    p90: float
    p95: float
    p99: float


class Group(BaseModel):
    platform: str
    arch: str
    bundle: str
    run: str
    phases: dict[str, Stats]


class Report(BaseModel):
    file: str
    runs: int
    skipped_lines: int
    groups: list[Group]


def history_file(log_root: Path) -> Path:
    return log_root / HISTORY_NAME


def append(path: Path, entry: RunEntry) -> None:
    """Add one run, keeping the last MAX_LINES: written whole to a new file, then renamed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = _read_lines(path)[-(MAX_LINES - 1) :]
    kept.append(entry.model_dump_json())
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(kept) + "\n")
        out.flush()
        os.fsync(out.fileno())
    scratch.replace(path)


def _read_lines(path: Path) -> list[str]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path} is larger than {MAX_BYTES >> 20} MB", "move it away")
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def load(path: Path) -> tuple[list[RunEntry], int]:
    """The recorded runs, and how many lines were not a run (skipped, counted)."""
    entries, skipped = [], 0
    for line in _read_lines(path):
        try:
            entries.append(RunEntry.model_validate_json(line))
        except ValidationError:
            skipped += 1
    return entries, skipped


def percentile(samples: list[float], p: int) -> float:
    """Nearest-rank percentile of `samples` (sorted here)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def stats(samples: list[float]) -> Stats:
    return Stats(
        count=len(samples),
        min=round(min(samples), 3),
        max=round(max(samples), 3),
        avg=round(statistics.fmean(samples), 3),
        **{f"p{p}": round(percentile(samples, p), 3) for p in PERCENTILES},
    )


def build_report(path: Path) -> Report:
    entries, skipped = load(path)
    grouped: dict[tuple[str, str, str, str], list[RunEntry]] = {}
    for entry in entries:
        if entry.ok:
            key = (entry.platform, entry.arch, entry.bundle, entry.run)
            grouped.setdefault(key, []).append(entry)
    groups = []
    for (platform, arch, bundle, run), runs in sorted(grouped.items()):
        samples: dict[str, list[float]] = {}
        for entry in runs:
            for phase in entry.phases:
                samples.setdefault(phase.name, []).append(phase.seconds)
            samples.setdefault(TOTAL, []).append(entry.seconds)
        groups.append(
            Group(
                platform=platform,
                arch=arch,
                bundle=bundle,
                run=run,
                phases={name: stats(values) for name, values in samples.items()},
            )
        )
    return Report(file=str(path), runs=len(entries), skipped_lines=skipped, groups=groups)
