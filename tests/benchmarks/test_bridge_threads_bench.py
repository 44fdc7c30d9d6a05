"""The Bridge's threads on this machine (the Bridge as its own process, the echo ACP agent as
each thread's child, so the numbers are the Bridge's own work): turn latency with 20 open
threads on `max_sessions` 8 (every turn after the first eight resumes an evicted thread),
time to the first delta of a resumed thread (transcript vs `session/load`), and the Bridge's
memory with 20 threads. The real agents' resume times on an all-in-one host are printed by
tests/integration/test_agents.py (tests/helpers/app_threads.py).

Run with `make bench`; results go to ~/.cache/aiws/bench.jsonl.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.benchmarks.recording import record, spread
from tests.helpers.bridge_server import (
    AGENT,
    SSE,
    auth,
    bridge_process,
    rss_mb,
    write_settings,
)

pytestmark = pytest.mark.benchmark
THREADS = 20
ROUNDS = 3


def first_delta(base: str, method: str, session: str, prompt: str) -> tuple[float, float]:
    """Seconds to the first delta and to the end of one turn, over SSE."""
    params = {"sessionId": session, "threadId": session, "taskPrompt": prompt,
              "provider": "codex"}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": "b", "method": method, "params": params}
    sent = time.monotonic()
    delta = 0.0
    with (
        httpx.Client(trust_env=False, timeout=60) as client,
        client.stream("POST", base + "/acp/rpc", json=body, headers={**auth(), **SSE}) as reply,
    ):
        for line in reply.iter_lines():
            if not delta and '"type":"delta"' in line:
                delta = time.monotonic() - sent
            if line == "data: [DONE]":
                break
    assert delta, f"{method} {session}: no delta"
    return delta, time.monotonic() - sent


@pytest.mark.parametrize("load", [False, True], ids=["transcript", "session-load"])
def test_bridge_threads(tmp_path: Path, load: bool) -> None:
    agent = {"launcher": AGENT, **({"env": {"ACP_ECHO_LOAD": "1"}} if load else {})}
    settings = write_settings(tmp_path, max_sessions=8, state_dir=str(tmp_path / "state"),
                              agents={"codex": agent})  # fmt: skip
    base = f"http://127.0.0.1:{settings.port}"
    bridge = bridge_process(settings, tmp_path / "bridge.json")
    try:
        for n in range(THREADS):
            first_delta(base, "session.start", f"b-{n}", f"open thread {n}")
        turns, resumed = [], []
        for _ in range(ROUNDS):
            for n in range(THREADS):
                delta, total = first_delta(base, "session.message", f"b-{n}", "next turn")
                turns.append(total)
                resumed.append(delta)
        memory = rss_mb(bridge.pid)
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(20)
    # Round-robin over 20 threads on 8 agents: every message resumes an evicted thread.
    record(
        "bridge_threads", continued_with="session/load" if load else "transcript",
        threads=THREADS, max_sessions=8, turns=len(turns),
        turn_seconds=spread(turns), resumed_first_delta_seconds=spread(resumed),
        bridge_rss_mb=round(memory, 1), records=len(list((tmp_path / "state").rglob("*.json"))),
    )  # fmt: skip
    assert json.loads((tmp_path / "state/threads/first/b-0.json").read_text())["agents"] > 1
