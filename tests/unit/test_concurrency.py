"""The bounded, load-aware pool: bound, shrink under load, grow back, order, errors."""

from __future__ import annotations

import threading
import time

import pytest

from aiws.concurrency import AdaptiveLimiter, limit_for_load, run_bounded


class Tracker:
    """Counts how many tasks run at the same moment."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def task(self, item: int) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        return item * 2


def test_results_keep_input_order() -> None:
    limiter = AdaptiveLimiter(cpus=2, load=lambda: 0.0)
    assert run_bounded(lambda x: x * x, range(20), limiter) == [x * x for x in range(20)]


def test_never_more_than_two_per_cpu_when_idle() -> None:
    tracker = Tracker()
    run_bounded(tracker.task, range(30), AdaptiveLimiter(cpus=2, load=lambda: 0.0))
    assert tracker.peak == 4


def test_shrinks_to_one_worker_under_heavy_load_and_logs_it() -> None:
    tracker = Tracker()
    limiter = AdaptiveLimiter(cpus=2, load=lambda: 9.0)
    run_bounded(tracker.task, range(10), limiter)
    assert tracker.peak == 1
    (adjustment,) = limiter.adjustments
    assert (adjustment.before, adjustment.after) == (4, 1)
    assert "load 9.00 on 2 cpus" in adjustment.reason
    assert adjustment.at > 0


def test_grows_back_when_the_load_falls() -> None:
    loads = iter([9.0] + [0.1] * 1000)
    limiter = AdaptiveLimiter(cpus=2, load=lambda: next(loads), recheck_seconds=0.0)
    run_bounded(lambda x: time.sleep(0.01), range(12), limiter)
    assert [(a.before, a.after) for a in limiter.adjustments] == [(4, 1), (1, 4)]


@pytest.mark.parametrize(
    ("load", "current", "expected"),
    [(0.0, 1, 4), (0.9, 4, 4), (1.5, 4, 4), (1.5, 1, 1), (2.0, 4, 2), (3.9, 4, 2), (4.0, 4, 1)],
)
def test_limit_for_load_has_hysteresis(load: float, current: int, expected: int) -> None:
    assert limit_for_load(load, cpus=2, ceiling=4, current=current) == expected


def test_first_error_is_raised_after_all_tasks_finished() -> None:
    finished: list[int] = []

    def task(item: int) -> None:
        time.sleep(0.01 * item)
        if item == 0:
            raise ValueError("boom")
        finished.append(item)

    with pytest.raises(ValueError, match="boom"):
        run_bounded(task, range(4), AdaptiveLimiter(cpus=1, load=lambda: 0.0))
    assert sorted(finished) == [1, 2, 3]
