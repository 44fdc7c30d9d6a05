"""Hermes on a fresh network-less Debian 12 host, from the bundle, driven the way the Bridge
will drive it: its launcher run as its own account over stdio ACP (initialize, session/new,
session/prompt) by a real ACP client on this machine, every model call through the real
LiteLLM to aiws's offline mock, under Hermes's own key, with no connection attempt beyond
the host's loopback (strace). Then a rerun that changes nothing, status without the agent
running, and a purge that leaves the host as it was."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from aiws.catalog import load_catalog
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers import acp, outbound, snapshot
from tests.helpers.cli import aiws
from tests.helpers.hosts import inside, install, left_behind, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ("--mode", "local", "--only", "litellm,hermes")
MOCK_TEXT = "aiws mock answer"
HERMES = load_catalog().component("hermes")
LITELLM = load_catalog().component("litellm")
ACCOUNT = HERMES.user
WORKSPACE = "/srv/aiws-test-workspace"


def test_hermes_answers_over_acp_through_litellm_and_nothing_leaves_the_host(
    sandbox: SandboxState, models_bundle_file: Path, tmp_path: Path
) -> None:
    strace = shutil.which("strace")
    assert strace, "strace is missing on this machine: run `make setup` as root"
    before = snapshot.take(sandbox)
    config = tmp_path / "aiws.yml"
    config.write_text("litellm:\n  test_models: true\n")

    first, seconds = install(sandbox, models_bundle_file, *SELECTION, "--config", str(config))
    rows = {row.name: row for row in first.components}
    assert {name: row.health for name, row in rows.items()} == {
        "litellm": "healthy",
        "hermes": "healthy",
    }
    assert rows["hermes"].state == "installed" and rows["hermes"].version == HERMES.version
    print(f"\nlitellm + hermes first install: {seconds:.1f} s", flush=True)

    # Its own account, HERMES_HOME its home; its configuration readable by it alone.
    passwd = inside(sandbox, "getent", "passwd", ACCOUNT).split(":")
    assert passwd[5] == f"/var/lib/aiws/{HERMES.name}" and passwd[6] == "/usr/sbin/nologin"
    settings = f"/etc/aiws/{HERMES.name}/config.yaml"
    assert inside(sandbox, "stat", "-c", "%a %U %G", settings) == f"640 root {ACCOUNT}"
    key = inside(sandbox, "cat", "/var/lib/aiws/secrets/litellm-key-hermes")
    text = inside(sandbox, "cat", settings)
    assert f'api_key: "{key}"' in text and "AIWS_SECRET" not in text
    assert 'default: "aiws-mock"' in text and "context_length:" in text

    inside(sandbox, "install", "-d", "-o", ACCOUNT, "-g", ACCOUNT, "-m", "0750", WORKSPACE)
    launcher = f"/opt/aiws/{HERMES.name}/{HERMES.version}/bin/aiws-hermes-acp"
    since = inside(sandbox, "date", "+%Y-%m-%d %H:%M:%S")
    result = acp.drive(sandbox, ACCOUNT, launcher, WORKSPACE, tmp_path / "acp")
    print(f"hermes over ACP: {result.timings()}", flush=True)
    assert result.agent == "hermes-agent", result
    assert "agent_message_chunk" in result.kinds, result
    assert MOCK_TEXT in result.text, (result, result.stderr[-3000:])
    assert result.stop_reason == "end_turn", result

    # Every IP connection attempt went to the host's loopback (LiteLLM), none to a resolver.
    seen = result.trace
    assert LITELLM.listen is not None
    litellm = f'htons({LITELLM.listen.port}), sin_addr=inet_addr("{LITELLM.listen.host}")'
    assert litellm in seen, f"strace saw no connection to LiteLLM, so it watched nothing: {seen}"
    assert outbound.attempts(seen) == []
    # The same watch does see an attempt to leave the host (it fails: no network).
    control = tmp_path / "control.trace"
    attempt = "import socket; socket.socket().connect_ex(('192.0.2.1', 443))"
    probe = host.in_container(sandbox, ["runuser", "-u", ACCOUNT, "--", "python3", "-c", attempt])
    subprocess.run([strace, "-f", "-qq", "-e", f"trace={outbound.TRACED}", "-o", str(control),
                    *probe], check=True, timeout=60)  # fmt: skip
    assert "192.0.2.1" in " ".join(outbound.attempts(control.read_text()))

    # LiteLLM logged the model call under Hermes's consumer key.
    journal = inside(
        sandbox, "journalctl", "-u", "aiws-litellm", "--since", since, "--no-pager", "-o", "cat"
    )
    calls = [line for line in journal.splitlines() if line.startswith("aiws request:")]
    assert any("consumer=hermes model=aiws-mock" in line for line in calls), journal[-3000:]

    rerun, seconds = install(sandbox, models_bundle_file, *SELECTION, "--config", str(config))
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    print(f"litellm + hermes rerun: {seconds:.1f} s", flush=True)

    # Status checks the launcher and the configuration without starting the agent.
    report = status(sandbox)["by_name"]
    assert report["hermes"]["healthy"] is True, report["hermes"]
    inside(sandbox, "rm", launcher)
    report = status(sandbox)["by_name"]
    assert report["hermes"]["healthy"] is False and launcher in report["hermes"]["detail"]

    # A plain uninstall keeps its data and account: not installed any more.
    done = aiws("uninstall", "--yes", "-i", str(sandbox.inventory), "--json")
    assert done.returncode == 0, done.stderr
    report = status(sandbox)["by_name"]
    assert report["hermes"]["installed"] is False, report["hermes"]
    assert report["hermes"]["detail"].startswith("uninstalled; data kept"), report["hermes"]
    inside(sandbox, "getent", "passwd", ACCOUNT)

    inside(sandbox, "rm", "-r", WORKSPACE)
    started = time.monotonic()
    purge = aiws("uninstall", "--purge", "--yes", "-i", str(sandbox.inventory), "--json")
    assert purge.returncode == 0, purge.stderr
    print(f"uninstall --purge: {time.monotonic() - started:.1f} s", flush=True)
    assert inside(sandbox, "sh", "-c", f"getent passwd {ACCOUNT} || echo none") == "none"
    assert left_behind(sandbox, before) == []
