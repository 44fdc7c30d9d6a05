"""The install's last task: probe every component and record the run on the host, in one
module call (aiws_status with `run`), with what the aiws_run callback counted."""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase

from aiws.ansible.tally import TALLY


class ActionModule(ActionBase):  # type: ignore[misc]  # Ansible is untyped
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        run = args.pop("run", None)
        if run:  # not in check mode
            run = dict(run)
            started = float(run.pop("started_epoch"))
            # Every task before this one succeeded on this host (a failure stops the play).
            run.update(
                ok=True,
                changed=dict(TALLY.changed),
                phases=[*run.get("phases", []), *(p.model_dump() for p in TALLY.phases())],
                seconds=round(time.time() - started, 3),
            )
            args["run"] = run
        result.update(
            self._execute_module(module_name="aiws_status", module_args=args, task_vars=task_vars)
        )
        return result
