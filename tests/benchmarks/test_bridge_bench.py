"""The Bridge behind Caddy on fresh Debian 12 hosts from the bundle, reached from this machine
over a veth link as a client would: /api/ping over TLS through Caddy at 1 and 100 concurrent
clients (first install, no-change rerun, idle memory of both units); and 10 concurrent codex
sessions through Caddy on 2 cores (time to the first update, memory per session, every
session's answer its own).

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_component
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


SESSIONS = 10
MOCK_TEXT = "aiws mock answer"
CLIENT = Path(__file__).parents[1] / "fixtures" / "bridge_client.py"
# The resident memory of every process of one account, in MB (the sandbox has no procps).
ACCOUNT_RSS = r"""
import os, pwd, sys
uid, total = pwd.getpwnam(sys.argv[1]).pw_uid, 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open("/proc/%s/status" % pid).read().splitlines()
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    if int(fields["Uid"].split()[0]) == uid and "VmRSS" in fields:
        total += int(fields["VmRSS"].split()[0])
print(round(total / 1024))
"""


@pytest.fixture(scope="module")
def sessions_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    components = ["litellm", "node", "codex", "bridge", "caddy", CONTROLLER]
    return build("debian-12-amd64", components, tmp_path_factory.mktemp("s")).package


def test_ten_concurrent_sessions_through_caddy(
    make_sandbox: MakeSandbox, sessions_bundle: Path, tmp_path: Path
) -> None:
    sandbox = make_sandbox(network="veth")
    assert sandbox.address is not None
    config = tmp_path / "aiws.yml"
    config.write_text(f"litellm:\n  test_models: true\nbridge:\n  max_sessions: {SESSIONS}\n")
    selection = ("--mode", "all-in-one", "--only", "litellm,node,codex,bridge,caddy",
                 "--domain", DOMAIN, "--internal-ca", "--config", str(config))  # fmt: skip
    first, _ = install(sandbox, sessions_bundle, *selection)
    (tmp_path / "token").write_text(first.bridge_tokens[0].token)
    ca = tmp_path / "ca.crt"
    ca.write_text(inside(sandbox, "cat", CA_ROOT) + "\n")
    base = [sys.executable, str(CLIENT), "--ca", str(ca), "--connect", sandbox.address,
            f"https://{DOMAIN}", str(tmp_path / "token")]  # fmt: skip
    account = load_catalog().component("codex").user
    idle_bridge = unit_rss_mb(sandbox, "aiws-bridge.service")

    started = time.monotonic()
    clients = [
        subprocess.Popen([*base, "--session", f"s{i}", "codex", "open"], stdout=subprocess.PIPE)
        for i in range(SESSIONS)
    ]
    seen = [json.loads(client.communicate(timeout=600)[0]) for client in clients]
    wall = time.monotonic() - started
    for i, one in enumerate(seen):  # each answer complete and its own: nothing lost or mixed
        assert one["updates_with_ids"] and one["text"] == MOCK_TEXT, (i, one)
        assert one["result"]["sessionId"] == f"s{i}", (i, one["result"])
    agents_mb = int(inside(sandbox, "python3", "-c", ACCOUNT_RSS, account))
    open_units = inside(sandbox, "sh", "-c", "systemctl list-units --no-legend --plain "
                        "--state=active 'aiws-acp-codex@*' | wc -l")  # fmt: skip
    assert int(open_units) == SESSIONS
    busy_bridge = unit_rss_mb(sandbox, "aiws-bridge.service")
    for i in range(SESSIONS):
        closed = subprocess.run([*base, "--session", f"s{i}", "codex", "close"],
                                capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        assert json.loads(closed.stdout)["close"]["closed"] is True
    firsts = [one["first_delta_seconds"] for one in seen]
    record(
        "bridge-sessions",
        sessions=SESSIONS,
        wall_s=round(wall, 2),
        first_delta_s=spread(firsts),
        agent_rss_mb_per_session=round(agents_mb / SESSIONS, 1),
        bridge_rss_mb={"idle": idle_bridge, "with_sessions": busy_bridge},
    )
