"""Counts, inside ansible-playbook, what each component changed and how long its tasks took
(aiws.ansible.tally), so that the play's last task (aiws_finish) can record the run on the host
without a second Ansible run."""

from __future__ import annotations

from typing import Any

from ansible.plugins.callback import CallbackBase

from aiws.ansible.tally import TALLY, attribute

DOCUMENTATION = r"""
name: aiws_run
type: aggregate
short_description: Tally changes and task times per aiws component for the run record
requirements:
  - enabled by the aiws CLI (ANSIBLE_CALLBACKS_ENABLED)
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]  # Ansible is untyped
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "aiws_run"
    CALLBACK_NEEDS_ENABLED = True

    def _role(self, task: Any) -> str:
        role = task._role.get_name() if task._role else None
        return attribute(role, task.get_name())[0]

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        TALLY.task_started(task._uuid, self._role(task))

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        TALLY.task_started(task._uuid, self._role(task))

    def _result(self, result: Any, counts_change: bool) -> None:
        changed = bool(counts_change) and bool(result._result.get("changed"))
        TALLY.task_result(result._task._uuid, self._role(result._task), changed)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result(result, True)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result(result, ignore_errors)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result(result, False)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result(result, False)
