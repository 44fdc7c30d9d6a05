"""A bounded, load-aware worker pool for I/O- and hash-heavy steps (verify, unpack, probes).

At most 2 x online CPUs tasks run at once. Before a task starts, the pool looks at the
1-minute load average (at most once per `recheck_seconds`): when the machine is busier than
its CPUs it shrinks, when it is idle again it grows back. A running task is never
interrupted; a new limit only applies to tasks that have not started yet. Every change of
the limit is recorded (time, reason, before, after) and logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def online_cpus() -> int:
    return max(1, os.sysconf("SC_NPROCESSORS_ONLN"))


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Adjustment:
    at: float  # time.time()
    reason: str
    before: int
    after: int


def limit_for_load(load: float, cpus: int, ceiling: int, current: int) -> int:
    """The worker limit the load allows.

    Busier than 2 x CPUs: one worker. Busier than the CPUs: shrink to the CPU count.
    Grow back to the ceiling only below half the CPUs, so that our own load (which the
    average includes) does not make the limit flap.
    """
    if load >= 2 * cpus:
        return 1
    if load >= cpus:
        return min(current, cpus)
    if load < cpus / 2:
        return ceiling
    return current


@dataclass
class AdaptiveLimiter:
    """A semaphore whose capacity follows the load; shared by every task of a pool."""

    cpus: int = field(default_factory=online_cpus)
    load: Callable[[], float] = load_average
    recheck_seconds: float = 1.0
    adjustments: list[Adjustment] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ceiling = 2 * self.cpus
        self.limit = self.ceiling
        self._active = 0
        self._checked_at = float("-inf")
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            self._maybe_adjust()
            while self._active >= self.limit:
                self._cond.wait(timeout=self.recheck_seconds)
                self._maybe_adjust()
            self._active += 1

    def release(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def _maybe_adjust(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_seconds:
            return
        self._checked_at = now
        load = self.load()
        wanted = limit_for_load(load, self.cpus, self.ceiling, self.limit)
        if wanted != self.limit:
            reason = f"load {load:.2f} on {self.cpus} cpus"
            self.adjustments.append(Adjustment(time.time(), reason, self.limit, wanted))
            log.info("workers %d -> %d (%s)", self.limit, wanted, reason)
            self.limit = wanted
            self._cond.notify_all()


def run_bounded(
    task: Callable[[T], R], items: Iterable[T], limiter: AdaptiveLimiter | None = None
) -> list[R]:
    """`[task(item) for item in items]`, run in parallel within the limiter's bound.

    Results keep the order of `items`; the first exception is raised after every
    started task has finished (nothing is left running behind the caller).
    """
    limiter = limiter or AdaptiveLimiter()

    def bounded(item: T) -> R:
        limiter.acquire()
        try:
            return task(item)
        finally:
            limiter.release()

    with ThreadPoolExecutor(max_workers=limiter.ceiling) as pool:
        futures = [pool.submit(bounded, item) for item in items]
        return [future.result() for future in futures]
