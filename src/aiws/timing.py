"""Phase timings: one type for what the driver measures, the ledger records and the summary
shows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class PhaseTime(BaseModel):
    name: str
    seconds: float


class Timer:
    """Measures named phases in the order they run."""

    def __init__(self) -> None:
        self.phases: list[PhaseTime] = []

    def measure(self, name: str, func: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return func()
        finally:
            self.phases.append(PhaseTime(name=name, seconds=round(time.monotonic() - started, 3)))
