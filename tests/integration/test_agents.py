"""The ACP agents (codex, opencode, hermes, gemini) on one fresh network-less Debian 12 host,
from the bundle, driven the way the Bridge will drive them: each launcher run as its own
account in a workspace over stdio ACP by a real ACP client on this machine (initialize,
session/new, a prompt streaming the mock's answer to end_turn, a prompt cancelled), every
model call through the real LiteLLM to aiws's offline mocks under the agent's own key, with
no connection attempt beyond the host's loopback (strace). Then a rerun that changes
nothing, status without the agents running, and a purge that leaves the host as it was."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiws.catalog import load_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers import acp, outbound, snapshot
from tests.helpers.cli import aiws
from tests.helpers.hosts import inside, install, left_behind, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CATALOG = load_catalog()
# Each agent and the name it gives itself in ACP's initialize.
AGENTS = {
    "codex": "codex-acp",
    "opencode": "OpenCode",
    "hermes": "hermes-agent",
    "gemini": "gemini-cli",
}
# Where each agent's LiteLLM key is on the host (readable by its account alone).
KEY_FILES = {"hermes": "/etc/aiws/hermes/config.yaml"}
INSTALLED = ["litellm", "node", *AGENTS]
SELECTION = ("--mode", "local", "--only", ",".join(INSTALLED))
MOCK_TEXT = "aiws mock answer"
LITELLM = CATALOG.component("litellm")
WORKSPACE = "/srv/aiws-test-{agent}"


def launcher(name: str) -> str:
    component = CATALOG.component(name)
    return f"/opt/aiws/{name}/{component.version}/bin/aiws-{name}-acp"


def disk_mb(sandbox: SandboxState, path: str) -> int:
    return int(inside(sandbox, "du", "-sm", path).split()[0])


def test_coding_agents_answer_over_acp_through_litellm_and_nothing_leaves_the_host(
    sandbox: SandboxState, models_bundle_file: Path, tmp_path: Path
) -> None:
    before = snapshot.take(sandbox)
    config = tmp_path / "aiws.yml"
    config.write_text("litellm:\n  test_models: true\n")

    first, seconds = install(sandbox, models_bundle_file, *SELECTION, "--config", str(config))
    rows = {row.name: row for row in first.components}
    assert {name: row.health for name, row in rows.items()} == dict.fromkeys(INSTALLED, "healthy")
    print(f"\n{' + '.join(INSTALLED)} first install: {seconds:.1f} s", flush=True)

    installed = snapshot.take(sandbox)
    for name, agent_name in AGENTS.items():
        component = CATALOG.component(name)
        account = component.user
        assert rows[name].state == "installed" and rows[name].version == component.version
        # Its own account, its home its state directory; its key readable by it alone.
        passwd = inside(sandbox, "getent", "passwd", account).split(":")
        assert passwd[5] == f"/var/lib/aiws/{name}" and passwd[6] == "/usr/sbin/nologin"
        key_file = KEY_FILES.get(name, f"/etc/aiws/{name}/litellm.key")
        assert inside(sandbox, "stat", "-c", "%a %U %G", key_file) == f"640 root {account}"
        key = inside(sandbox, "cat", f"/var/lib/aiws/secrets/litellm-key-{name}")
        held = inside(sandbox, "cat", key_file)
        assert key in held and "AIWS_SECRET" not in held
        # The launcher refuses any other account.
        refused = inside(sandbox, "sh", "-c", f"{launcher(name)} </dev/null; echo $?")
        assert refused.splitlines()[-1] == "2", refused

        workspace = WORKSPACE.format(agent=name)
        inside(sandbox, "install", "-d", "-o", account, "-g", account, "-m", "0750", workspace)
        # LiteLLM's journal from here on (a cursor: exact, where a time has whole seconds).
        cursor = inside(sandbox, "journalctl", "-u", "aiws-litellm", "-n", "0",
                        "--show-cursor", "--no-pager").rpartition("cursor: ")[2]  # fmt: skip
        result = acp.drive(
            sandbox, account, launcher(name), workspace, tmp_path / name, cancel=True
        )
        print(f"{name} over ACP: {result.timings()}", flush=True)
        assert result.agent == agent_name, result
        assert "agent_message_chunk" in result.kinds, result
        assert MOCK_TEXT in result.text, (result.text, result.stderr[-3000:])
        assert result.stop_reason == "end_turn", result
        assert result.cancelled == "cancelled", (result.cancelled, result.stderr[-3000:])

        # Every IP connection attempt went to the host's loopback (LiteLLM), none elsewhere.
        assert LITELLM.listen is not None
        litellm = f'htons({LITELLM.listen.port}), sin_addr=inet_addr("{LITELLM.listen.host}")'
        assert litellm in result.trace, f"{name}: strace saw no connection to LiteLLM"
        assert outbound.attempts(result.trace) == [], name

        # LiteLLM logged the model call under the agent's own consumer key.
        journal = inside(
            sandbox,
            "journalctl",
            "-u",
            "aiws-litellm",
            "--after-cursor",
            cursor,
            "--no-pager",
            "-o",
            "cat",
        )
        calls = [line for line in journal.splitlines() if line.startswith("aiws request:")]
        assert any(f"consumer={name} model=aiws-mock" in line for line in calls), calls
        # Every call is this agent's, or a late one of an agent driven before it.
        driven = list(AGENTS)[: list(AGENTS).index(name) + 1]
        assert all(any(f"consumer={a} " in line for a in driven) for line in calls), calls
        inside(sandbox, "rm", "-r", workspace)

    # The sessions wrote only into the agents' homes (and the workspaces, removed since).
    homes = tuple(f"/var/lib/aiws/{name}/" for name in AGENTS)
    written = snapshot.differences(installed, snapshot.take(sandbox))
    assert [line for line in written if not line.split()[1].startswith(homes)] == [], written

    rerun, seconds = install(sandbox, models_bundle_file, *SELECTION, "--config", str(config))
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    print(f"rerun: {seconds:.1f} s", flush=True)
    for name in AGENTS:
        runtime = f"/opt/aiws/{name}/{CATALOG.component(name).version}"
        home = f"/var/lib/aiws/{name}"
        print(f"{name} disk: runtime {disk_mb(sandbox, runtime)} MB, home after the sessions "
              f"{disk_mb(sandbox, home)} MB", flush=True)  # fmt: skip

    # Status checks the launchers and configurations without starting the agents.
    report = status(sandbox)["by_name"]
    for name in AGENTS:
        assert report[name]["healthy"] is True, report[name]
        assert report[name]["version"] == CATALOG.component(name).version, report[name]
    gone = launcher(next(iter(AGENTS)))
    inside(sandbox, "rm", gone)
    report = status(sandbox)["by_name"]
    assert report[next(iter(AGENTS))]["healthy"] is False
    assert gone in report[next(iter(AGENTS))]["detail"]

    # A plain uninstall keeps the agents' data and accounts: not installed any more.
    done = aiws("uninstall", "--yes", "-i", str(sandbox.inventory), "--json")
    assert done.returncode == 0, done.stderr
    report = status(sandbox)["by_name"]
    assert report["hermes"]["installed"] is False, report["hermes"]
    assert report["hermes"]["detail"].startswith("uninstalled; data kept"), report["hermes"]
    inside(sandbox, "getent", "passwd", CATALOG.component("hermes").user)

    started = time.monotonic()
    purge = aiws("uninstall", "--purge", "--yes", "-i", str(sandbox.inventory), "--json")
    assert purge.returncode == 0, purge.stderr
    print(f"uninstall --purge: {time.monotonic() - started:.1f} s", flush=True)
    for name in AGENTS:
        account = CATALOG.component(name).user
        assert inside(sandbox, "sh", "-c", f"getent passwd {account} || echo none") == "none"
    assert left_behind(sandbox, before) == []
