"""LiteLLM on fresh Debian 12 hosts from the bundle: first install and no-change rerun of
the role, cold start to healthy, idle memory, and what the proxy adds to one request: chat
completions through LiteLLM (key check, routing, the aiws-mock model) against the same
client calling a stand-in that returns the same answer with no proxy (scripts/load.py), at
1 and 20 concurrent clients, all inside the host.

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.sandbox.state import SandboxState
from tests.benchmarks.recording import record, spread
from tests.helpers.bundles import build
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import copy_in, inside, install, unit_rss_mb

pytestmark = pytest.mark.benchmark
SELECTION = ("--mode", "core", "--only", "litellm")
FIRST_INSTALLS = 2
RERUNS = 5
COLD_STARTS = 3
IDLE_SECONDS = 30
LOAD = Path(__file__).parent / "scripts" / "load.py"
DIRECT_PORT = 4101
# (clients, requests) per measurement, after a warm-up.
LEVELS = ((1, 200), (20, 600))

# Restart the unit and poll its health until it answers: seconds from restart to healthy.
COLD_START = r"""
import subprocess, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
started = time.monotonic()
subprocess.run(["systemctl", "restart", "aiws-litellm"], check=True)
while time.monotonic() - started < 300:
    try:
        with opener.open("http://127.0.0.1:4000/health/liveliness", timeout=2) as reply:
            if reply.status == 200:
                break
    except OSError:
        pass
    time.sleep(0.05)
print(round(time.monotonic() - started, 2))
"""


@pytest.fixture(scope="module")
def litellm_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("debian-12-amd64", ["litellm", CONTROLLER], tmp_path_factory.mktemp("b")).package


def load(
    sandbox: SandboxState, url: str, key: str, clients: int, requests: int
) -> dict[str, float]:
    inside(sandbox, "python3", "/root/load.py", url, key, "1", "20", timeout=300)  # warm-up
    argv = ["python3", "/root/load.py", url, key, str(clients), str(requests)]
    result: dict[str, float] = json.loads(inside(sandbox, *argv, timeout=900))
    assert result["failures"] == 0, result
    return result


def test_litellm_install_start_memory_and_overhead(
    make_sandbox: MakeSandbox, litellm_bundle: Path, tmp_path: Path
) -> None:
    config = tmp_path / "aiws.yml"
    config.write_text("litellm:\n  test_models: true\n")
    firsts = []
    for _ in range(FIRST_INSTALLS):
        sandbox = make_sandbox()
        summary, seconds = install(sandbox, litellm_bundle, *SELECTION, "--config", str(config))
        firsts.append(seconds)
    reruns = []
    for _ in range(RERUNS):
        summary, seconds = install(sandbox, litellm_bundle, *SELECTION, "--config", str(config))
        assert summary.run.changed_total == 0
        reruns.append(seconds)

    cold = [float(inside(sandbox, "python3", "-c", COLD_START, timeout=400))
            for _ in range(COLD_STARTS)]  # fmt: skip
    time.sleep(IDLE_SECONDS)
    idle_mb = unit_rss_mb(sandbox, "aiws-litellm.service")

    copy_in(sandbox, LOAD, "/root/load.py")
    serve = f"setsid python3 /root/load.py --serve {DIRECT_PORT} >/dev/null 2>&1 & sleep 1"
    inside(sandbox, "sh", "-c", serve)
    key = inside(sandbox, "cat", "/var/lib/aiws/secrets/litellm-key-bridge")
    overhead = {}
    for clients, requests in LEVELS:
        proxied = load(sandbox, "http://127.0.0.1:4000/v1/chat/completions", key, clients, requests)
        direct = load(sandbox, f"http://127.0.0.1:{DIRECT_PORT}/", key, clients, requests)
        overhead[f"{clients}_clients"] = {
            "proxied": proxied,
            "direct": direct,
            "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 2),
            "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 2),
        }
    record(
        "litellm",
        first_install_s=spread(firsts),
        rerun_s=spread(reruns),
        cold_start_s=spread(cold),
        idle_rss_mb=idle_mb,
        overhead=overhead,
    )
