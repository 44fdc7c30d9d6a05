"""The CLI's contract on a real host beyond the lifecycle: a run that fails exits 1 and
names the task and the host, with one JSON document on stdout and nothing else; the next
run, once the operator fixed the cause, converges. That run is a connected install: no
--bundle, so this controller builds the bundle for the network-less host's platform (the
rerun reuses it from its cache), verifies it and installs from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiws.bundle.verify import read_target
from aiws.commands.summary import DeploySummary
from aiws.resources import cache_root
from aiws.sandbox.state import SandboxState
from tests.helpers.cli import aiws
from tests.helpers.hosts import inside, install

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ["--mode", "core", "--only", "postgresql"]
# Without --bundle (aiws.commands.connected).
CONNECTED = ["--mode", "local", "--only", "postgresql"]
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
    summary, _ = install(sandbox, None, *CONNECTED)
    assert {row.name: row.health for row in summary.components}["postgresql"] == "healthy"
    assert summary.bundle is not None and summary.bundle.target == "debian-12-amd64"
    built = Path(summary.bundle.file)
    assert built.parent.parent == cache_root() / "bundles", built
    assert read_target(built) == ("debian-12", "amd64")
    rerun, _ = install(sandbox, None, *CONNECTED)
    assert rerun.run.changed_total == 0
    assert rerun.bundle is not None and rerun.bundle.file == str(built)  # reused

    purge = aiws("uninstall", "--purge", "--yes", "-i", inventory)
    assert purge.returncode == 0, purge.stderr
