"""Shared by the benchmarks: append one JSON line per measurement to ~/.cache/aiws/bench.jsonl."""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime
from typing import Any

from aiws import __version__
from aiws.resources import cache_root

# Resolved at import, before any benchmark points the cache somewhere else.
BENCH_FILE = cache_root() / "bench.jsonl"


def spread(samples: list[float]) -> dict[str, float]:
    return {
        "min": round(min(samples), 3),
        "median": round(statistics.median(samples), 3),
        "max": round(max(samples), 3),
    }


def record(name: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bench": name,
        "aiws": __version__,
        "cpus": os.cpu_count(),
        **fields,
    }
    BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    with BENCH_FILE.open("a") as out:
        out.write(json.dumps(entry) + "\n")
    print(json.dumps(entry))
    return entry
