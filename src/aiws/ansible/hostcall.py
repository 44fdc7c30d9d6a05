"""Call one of aiws's modules on every host of a target.

For this host the module's `run()` is called in-process (no Ansible start-up cost: status
stays fast); for an inventory it runs ad hoc through Ansible. Both paths run the same code.
"""

from __future__ import annotations

import importlib
from typing import Any

from aiws.ansible import driver
from aiws.errors import AiwsError
from aiws.model.hosts import Hosts

LOCAL_HOST = "localhost"


def call_module(
    target: Hosts, module: str, params: dict[str, Any], *, check: bool = False
) -> dict[str, dict[str, Any]]:
    """Return each host's module result; an unreachable or failed host raises AiwsError."""
    if target.is_local:
        code = importlib.import_module(f"aiws.modules.{module}")
        result: dict[str, Any] = code.run(params, check)
        if result.get("failed"):
            raise AiwsError(f"{module} failed on {LOCAL_HOST}: {result.get('msg')}")
        return {LOCAL_HOST: result}
    run = driver.run_module(module, params, target, check=check)
    if run.failures:
        failure = run.failures[0]
        raise AiwsError(
            f"{module} failed on {failure.host}: {failure.message}",
            f"check that the hosts in {target.label} are reachable",
        )
    if not run.results:
        raise AiwsError(f"{module} ran on no host", f"check the inventory {target.label}")
    return run.results
