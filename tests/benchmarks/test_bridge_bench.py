"""The Bridge behind Caddy on a fresh Debian 12 host from the bundle, reached from this
machine over its veth link as a client would: /api/ping over TLS through Caddy at 1 and 100
concurrent clients, and the same on the host's loopback straight to the Bridge (what Caddy
and the link add); first install, no-change rerun, idle memory of both units.

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import importlib.util
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.catalog import load_catalog
from aiws.resolve import resolve_component
from tests.benchmarks.recording import record, spread
from tests.helpers.bundles import build
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import inside, install, unit_rss_mb

pytestmark = pytest.mark.benchmark
DOMAIN = "bridge.aiws.test"
SELECTION = ("--mode", "core", "--only", "bridge,caddy", "--domain", DOMAIN, "--internal-ca")
RERUNS = 5
IDLE_SECONDS = 20
# (clients, requests) per measurement, after a warm-up.
LEVELS = ((1, 500), (100, 3000))
# The load script the LiteLLM benchmark runs on its host, here on this machine.
_SPEC = importlib.util.spec_from_file_location(
    "load", Path(__file__).parent / "scripts" / "load.py"
)
assert _SPEC is not None and _SPEC.loader is not None
LOAD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(LOAD)
CA_ROOT = resolve_component(load_catalog(), load_catalog().component("caddy"))["layout"]["ca_root"]


@pytest.fixture(scope="module")
def edge_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mktemp = tmp_path_factory.mktemp
    return build("debian-12-amd64", ["bridge", "caddy", CONTROLLER], mktemp("b")).package


def ping_load(address: str, token: str, ca: Path, clients: int, requests: int) -> dict[str, Any]:
    """p50/p99 of GET /api/ping through Caddy, each client thread on its own kept-alive
    connection, checking the certificate against the domain's name."""
    context = ssl.create_default_context(cafile=str(ca))
    mine = threading.local()
    headers = {"Authorization": f"Bearer {token}", "Host": DOMAIN}

    def call() -> bool:
        if not hasattr(mine, "http"):
            mine.http = httpx.Client(verify=context, trust_env=False, timeout=60)
        reply = mine.http.get(f"https://{address}/api/ping", headers=headers,
                              extensions={"sni_hostname": DOMAIN})  # fmt: skip
        return reply.status_code == 200

    result: dict[str, Any] = LOAD.measure_calls(call, clients, requests)
    assert result["failures"] == 0, result
    return result


def test_bridge_behind_caddy_latency_and_memory(
    make_sandbox: MakeSandbox, edge_bundle: Path, tmp_path: Path
) -> None:
    sandbox = make_sandbox(network="veth")
    assert sandbox.address is not None
    first, first_s = install(sandbox, edge_bundle, *SELECTION)
    token = first.bridge_tokens[0].token
    reruns = []
    for _ in range(RERUNS):
        summary, seconds = install(sandbox, edge_bundle, *SELECTION)
        assert summary.run.changed_total == 0
        reruns.append(seconds)
    ca = tmp_path / "ca.crt"
    ca.write_text(inside(sandbox, "cat", CA_ROOT) + "\n")
    time.sleep(IDLE_SECONDS)
    idle = {
        unit: unit_rss_mb(sandbox, unit) for unit in ("aiws-bridge.service", "aiws-caddy.service")
    }
    through = {}
    for clients, requests in LEVELS:
        ping_load(sandbox.address, token, ca, clients, clients * 5)  # warm-up
        through[f"{clients}_clients"] = ping_load(sandbox.address, token, ca, clients, requests)
    record(
        "bridge-caddy",
        first_install_s=round(first_s, 1),
        rerun_s=spread(reruns),
        idle_rss_mb=idle,
        ping_through_caddy=through,
    )
