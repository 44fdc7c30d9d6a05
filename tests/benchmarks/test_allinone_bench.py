"""all-in-one with aiws on the host itself (bootstrapped from the full bundle, the air-gapped
way): the first install, bare no-change reruns, `aiws status` and `aiws doctor`, and the
footprint at rest (idle RSS of every unit, disk of every component); and, beside them, the
physical floor: the same install done by hand (scripts/floor-allinone.sh).

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl. AIWS_BENCH_BUNDLE=FILE uses
a full bundle built beforehand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.commands.summary import DeploySummary
from aiws.model.catalog import load_catalog
from tests.benchmarks.conftest import SELECTION, timed
from tests.benchmarks.recording import record, spread
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import bootstrap, copy_in, inside, unit_rss_mb
from tests.helpers.resilience import service_units

pytestmark = pytest.mark.benchmark
CATALOG = load_catalog()
COMPONENTS = list(CATALOG.modes["all-in-one"].components)
RERUNS = 5
STATUS_SAMPLES = 10
FLOOR_RUNS = 3  # each on a fresh host: the median
FLOOR_SCRIPT = Path(__file__).parent / "scripts" / "floor-allinone.sh"


def test_all_in_one_with_aiws_on_the_host(make_sandbox: MakeSandbox, full_bundle: Path) -> None:
    sandbox = make_sandbox()
    bundle = bootstrap(sandbox, full_bundle)
    first_s, out = timed(sandbox, "install", *SELECTION, "--bundle", bundle, "--json")
    first = DeploySummary.model_validate_json(out)
    assert {row.name for row in first.components if row.health == "healthy"} == set(COMPONENTS)
    reruns = []
    for _ in range(RERUNS):
        seconds, out = timed(sandbox, "install", "--bundle", bundle, "--json")
        rerun = DeploySummary.model_validate_json(out)
        assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
        reruns.append(seconds)
    statuses = []
    for _ in range(STATUS_SAMPLES):
        seconds, out = timed(sandbox, "status", "--json")
        assert json.loads(out)["healthy"]
        statuses.append(seconds)
    doctor_s, out = timed(sandbox, "doctor", "--json")
    assert json.loads(out)["worst"] == "ok", out
    rss = {name: unit_rss_mb(sandbox, unit) for name, unit in service_units(COMPONENTS).items()}
    disk = {}
    for name in COMPONENTS:
        paths = CATALOG.component_paths(name)
        sizes = inside(sandbox, "sh", "-c", f"du -sm {paths['runtime']} {paths['state']} "
                       "2>/dev/null | cut -f1 || true")  # fmt: skip
        disk[name] = sum(int(n) for n in sizes.split())
    record(
        "install.all_in_one.on_host",
        bundle_mb=round(full_bundle.stat().st_size / 1e6),
        first_install_s=round(first_s, 1),
        first_install_phases={p.name: p.seconds for p in first.phases},
        rerun_s=spread(reruns),
        rerun_phases={p.name: p.seconds for p in rerun.phases},
        status_s=spread(statuses),
        doctor_s=round(doctor_s, 2),
        idle_rss_mb=rss,
        idle_rss_total_mb=sum(rss.values()),
        disk_mb=disk,
        disk_total_mb=sum(disk.values()),
    )


@pytest.mark.timeout(1800)  # three fresh hosts, one after the other
def test_all_in_one_physical_floor(make_sandbox: MakeSandbox, full_bundle: Path) -> None:
    """The same work by hand on the same kind of fresh host: every runtime tarball unpacked
    at once, the apt closure from the bundle's repository, then PostgreSQL (role, database)
    and Vault (init, unseal) beside LiteLLM, OpenClaw, the Bridge and Caddy, each up on its
    health probe. aiws's first all-in-one install is compared with this."""
    runs = []
    for _ in range(FLOOR_RUNS):
        sandbox = make_sandbox()
        copy_in(sandbox, full_bundle, "/root/bundle.tar")
        copy_in(sandbox, FLOOR_SCRIPT, "/root/floor-allinone.sh")
        copy_in(sandbox, FLOOR_SCRIPT.with_name("vault_init.py"), "/root/vault_init.py")
        out = inside(sandbox, "sh", "/root/floor-allinone.sh", "/root/bundle.tar", timeout=600)
        runs.append(json.loads(out))
    record(
        "install.all_in_one.floor",
        total_s=spread([r["total"] for r in runs]),
        steps={step: spread([r[step] for r in runs]) for step in runs[0] if step != "total"},
    )
