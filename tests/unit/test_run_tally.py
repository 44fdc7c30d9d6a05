"""The callback that tallies each component's changes and task times (aiws_run): every
outcome Ansible reports is counted without raising (a raising callback loses the run's
record and prints a warning under the failure)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aiws.ansible.plugins.callback.aiws_run import CallbackModule
from aiws.ansible.tally import TALLY


def result(uuid: str, changed: bool) -> Any:
    task = SimpleNamespace(_uuid=uuid, _role=None, get_name=lambda: f"task {uuid}")
    return SimpleNamespace(_task=task, _result={"changed": changed})


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (lambda cb, r: cb.v2_runner_on_ok(r), 1),
        # Ansible passes ignore_errors=None for a failed task that does not ignore errors.
        (lambda cb, r: cb.v2_runner_on_failed(r, ignore_errors=None), 0),
        (lambda cb, r: cb.v2_runner_on_failed(r, ignore_errors=False), 0),
        (lambda cb, r: cb.v2_runner_on_failed(r, ignore_errors=True), 1),
        (lambda cb, r: cb.v2_runner_on_skipped(r), 0),
        (lambda cb, r: cb.v2_runner_on_unreachable(r), 0),
    ],
)
def test_every_outcome_is_tallied_without_raising(outcome: Any, counted: int) -> None:
    callback = CallbackModule()
    done = result("t1", changed=True)
    callback.v2_playbook_on_task_start(done._task, is_conditional=False)
    role = callback._role(done._task)
    before = TALLY.changed.get(role, 0)
    outcome(callback, done)
    assert TALLY.changed.get(role, 0) - before == counted
