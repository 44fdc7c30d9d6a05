"""The CLI's contract on a real host beyond the lifecycle: a run that fails exits 1 and
names the task and the host, with one JSON document on stdout and nothing else; the next
run, once the operator fixed the cause, converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiws.sandbox.state import SandboxState
from aiws.summary import DeploySummary
from tests.helpers.cli import aiws
from tests.helpers.hosts import inside, install

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ["--mode", "core", "--only", "postgresql"]
CONFIG = "/etc/aiws/postgresql"


def test_a_failed_run_names_task_and_host_then_converges_once_fixed(
    sandbox: SandboxState, core_bundle_file: Path
) -> None:
    inventory = str(sandbox.inventory)
    # Something the operator left where aiws puts PostgreSQL's configuration.
    inside(sandbox, "sh", "-c", f"mkdir -p /etc/aiws && echo notes > {CONFIG}")
    done = aiws("install", *SELECTION, "--bundle", str(core_bundle_file), "-i", inventory, "--json")
    assert done.returncode == 1 and done.stderr == ""
    failed = DeploySummary.model_validate_json(done.stdout)
    assert failed.run.failures == [
        "task 'postgresql: Converge secrets, databases, packages, files, unit and record' "
        f"failed on {sandbox.name}: postgresql: {CONFIG} exists and is not a directory; "
        "move it away and rerun"
    ]
    assert inside(sandbox, "cat", CONFIG) == "notes"  # what was there is untouched

    inside(sandbox, "rm", CONFIG)
    summary, _ = install(sandbox, core_bundle_file, *SELECTION)
    assert {row.name: row.health for row in summary.components}["postgresql"] == "healthy"
    rerun, _ = install(sandbox, core_bundle_file, *SELECTION)
    assert rerun.run.changed_total == 0

    purge = aiws("uninstall", "--purge", "--yes", "-i", inventory)
    assert purge.returncode == 0, purge.stderr
