"""Install, rerun, status and preflight times on a fresh sandbox, through the real CLI.

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import json
import time

import pytest

from aiws.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from aiws.status import probe
from aiws.summary import DeploySummary
from aiws.target import Target
from tests.benchmarks.recording import record, spread
from tests.cli import aiws
from tests.integration.test_cli_e2e import SELECTION

pytestmark = pytest.mark.benchmark
RERUNS = 3
STATUS_SAMPLES = 5


def timed(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = aiws(*args)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started, done.stdout


def test_install_rerun_status_times(sandbox: SandboxState) -> None:
    inventory = str(sandbox.inventory)
    preflight_s, _ = timed("preflight", *SELECTION, "-i", inventory)
    first_s, out = timed("install", *SELECTION, "-i", inventory, "--json")
    first = DeploySummary.model_validate_json(out)
    reruns = []
    for _ in range(RERUNS):
        seconds, out = timed("install", *SELECTION, "-i", inventory, "--json")
        assert DeploySummary.model_validate_json(out).run.changed_total == 0
        reruns.append(seconds)
    cli_status = []
    for _ in range(STATUS_SAMPLES):
        seconds, out = timed("status", "-i", inventory, "--json")
        assert json.loads(out)["healthy"]
        cli_status.append(seconds)
    probes = [
        probe(Target(sandbox.inventory), load_catalog()).seconds for _ in range(STATUS_SAMPLES)
    ]
    record(
        "install.stand_in_bridge",
        distro=sandbox.distro,
        preflight_cli_s=round(preflight_s, 3),
        first_install_cli_s=round(first_s, 3),
        first_install_phases={p.name: p.seconds for p in first.phases},
        rerun_cli_s=spread(reruns),
        status_cli_s=spread(cli_status),
        status_probe_s=spread(probes),
    )
