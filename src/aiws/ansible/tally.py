"""What a run did per component, counted the same way wherever it is counted: by the CLI's
driver from ansible-runner's events, and inside ansible-playbook by the aiws_run callback
(for the run record the play's last task writes, aiws_finish).

A phase is the time its role's tasks took, from each task's start to its last host's
result, so roles whose tasks interleave never overlap. Tasks of the shared component
skeleton end in "[<component>]" and count for that component.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiws.timing import PhaseTime

PLAY_LEVEL = "play"  # the role name given to tasks that belong to no role
SKELETON_ROLE = "component"  # roles/component: its tasks name their component
SKELETON_TASK = re.compile(r"^(?P<task>.+) \[(?P<component>[a-z0-9_-]+)\]$")


def attribute(role: str | None, task: str) -> tuple[str, str]:
    """(role, task) a task counts for."""
    match = SKELETON_TASK.match(task)
    if (role or PLAY_LEVEL) == SKELETON_ROLE and match:
        return match.group("component"), match.group("task")
    return role or PLAY_LEVEL, task


@dataclass
class RunTally:
    changed: dict[str, int] = field(default_factory=dict)  # per role, over all hosts
    times: list[list[Any]] = field(default_factory=list)  # [role, started, last result]
    running: dict[str, int] = field(default_factory=dict)  # task uuid -> its times row

    def task_started(self, task_uuid: str, role: str) -> None:
        now = time.monotonic()
        self.running[task_uuid] = len(self.times)
        self.times.append([role, now, now])

    def task_result(self, task_uuid: str, role: str, changed: bool) -> None:
        row = self.running.get(task_uuid)
        if row is not None:
            self.times[row][2] = time.monotonic()
        self.changed[role] = self.changed.get(role, 0) + int(changed)

    def phases(self) -> list[PhaseTime]:
        totals: dict[str, float] = {}
        for role, started, ended in self.times:
            totals[role] = totals.get(role, 0.0) + (ended - started)
        return [PhaseTime(name=role, seconds=round(total, 3)) for role, total in totals.items()]


# The one tally of the ansible-playbook process this module is loaded in (the callback
# fills it; a task's worker, forked after the tasks before it ended, reads it).
TALLY = RunTally()
