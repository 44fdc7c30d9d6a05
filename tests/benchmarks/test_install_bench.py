"""PostgreSQL + Vault install, no-change rerun and status times, through the real CLI on
fresh Debian 12 hosts from the full bundle, with aiws running on the host itself (local
connection, bootstrapped from the bundle) and over a sandbox inventory; and, beside them,
the physical floor: the same install done by hand (scripts/floor.sh).

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl. AIWS_BENCH_BUNDLE=FILE uses
a full bundle built beforehand.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.commands.summary import DeploySummary
from aiws.model.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.benchmarks.recording import record, spread
from tests.helpers.bundles import build
from tests.helpers.cli import aiws
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import bootstrap, copy_in, inside, install, on_host

pytestmark = pytest.mark.benchmark
SELECTION = ["--mode", "core", "--only", "postgresql,vault"]
RERUNS = 5
STATUS_SAMPLES = 5
FIRST_INSTALLS = 3  # each on a fresh host: the first install's median
FLOOR_SCRIPT = Path(__file__).parent / "scripts" / "floor.sh"


@pytest.fixture(scope="module")
def full_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AIWS_BENCH_BUNDLE")
    if given:
        return Path(given)
    components = [*load_catalog().components, CONTROLLER]
    return build("debian-12-amd64", components, tmp_path_factory.mktemp("full")).package


def timed_on_host(sandbox: SandboxState, bundle: str) -> tuple[float, DeploySummary]:
    started = time.monotonic()
    rc, out, err = on_host(sandbox, "install", *SELECTION, "--bundle", bundle, "--json")
    seconds = time.monotonic() - started
    assert rc == 0, err[-2000:]
    return seconds, DeploySummary.model_validate_json(out)


def test_core_install_with_aiws_on_the_host(make_sandbox: MakeSandbox, full_bundle: Path) -> None:
    firsts: list[float] = []
    for _ in range(FIRST_INSTALLS):
        sandbox = make_sandbox()
        bundle = bootstrap(sandbox, full_bundle)
        first_s, first = timed_on_host(sandbox, bundle)
        firsts.append(first_s)
    reruns = []
    for _ in range(RERUNS):
        seconds, summary = timed_on_host(sandbox, bundle)
        assert summary.run.changed_total == 0
        reruns.append(seconds)
    statuses = []
    for _ in range(STATUS_SAMPLES):
        started = time.monotonic()
        rc, out, _ = on_host(sandbox, "status", "--json")
        statuses.append(time.monotonic() - started)
        assert rc == 0 and json.loads(out)["healthy"]
    record(
        "install.core.on_host",
        bundle_mb=round(full_bundle.stat().st_size / 1e6),
        first_install_s=spread(firsts),
        first_install_phases={p.name: p.seconds for p in first.phases},
        rerun_s=spread(reruns),
        rerun_phases={p.name: p.seconds for p in summary.phases},
        status_s=spread(statuses),
    )


def test_core_install_over_an_inventory(make_sandbox: MakeSandbox, full_bundle: Path) -> None:
    sandbox = make_sandbox()
    first, first_s = install(sandbox, full_bundle, *SELECTION)
    reruns = []
    for _ in range(RERUNS):
        summary, seconds = install(sandbox, full_bundle, *SELECTION)
        assert summary.run.changed_total == 0
        reruns.append(seconds)
    statuses = []
    for _ in range(STATUS_SAMPLES):
        started = time.monotonic()
        done = aiws("status", "-i", str(sandbox.inventory), "--json")
        statuses.append(time.monotonic() - started)
        assert done.returncode == 0 and json.loads(done.stdout)["healthy"]
    record(
        "install.core.inventory",
        first_install_s=first_s,
        first_install_phases={p.name: p.seconds for p in first.phases},
        rerun_s=spread(reruns),
        rerun_phases={p.name: p.seconds for p in summary.phases},
        status_s=spread(statuses),
    )


def test_core_install_physical_floor(make_sandbox: MakeSandbox, full_bundle: Path) -> None:
    """The same work by hand on the same kind of fresh host: unpack the two tarballs, apt
    the closure from the local repository, PostgreSQL up, role + database, bao up, init,
    unseal. The installer's first install is compared with this."""
    runs = []
    for _ in range(FIRST_INSTALLS):
        sandbox = make_sandbox()
        copy_in(sandbox, full_bundle, "/root/bundle.tar")
        copy_in(sandbox, FLOOR_SCRIPT, "/root/floor.sh")
        copy_in(sandbox, FLOOR_SCRIPT.with_name("vault_init.py"), "/root/vault_init.py")
        runs.append(
            json.loads(inside(sandbox, "sh", "/root/floor.sh", "/root/bundle.tar", timeout=900))
        )
    record(
        "install.core.floor",
        total_s=spread([r["total"] for r in runs]),
        steps={step: spread([r[step] for r in runs]) for step in runs[0] if step != "total"},
    )
