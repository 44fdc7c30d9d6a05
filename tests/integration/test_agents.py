"""all-in-one end to end on one fresh Debian 12 host, from the full bundle, with --domain and
--internal-ca, its only link a veth pair to this machine. The install is driven from this
machine through an inventory, as a connected install (no --bundle: this controller reuses
the all-in-one bundle it has cached for the host's platform, the one the full bundle's build
made, verifies it and installs from it); later aiws, bootstrapped on the host from the same
bundle, takes over (both air-gapped flows and the connected one on one host).

Before any change, preflight and a check-mode plan that changes nothing. Then the install and
each component's own check (tests/components/<name>.py). Each ACP agent (codex, opencode,
hermes, gemini) run as its own account in a workspace over stdio ACP by a real ACP client on
this machine (initialize, session/new, a prompt streaming the mock's answer to end_turn, a
prompt cancelled), every model call through the real LiteLLM to aiws's offline mocks under
the agent's own key, with no connection attempt beyond the host's loopback (strace). Then
every agent through the Bridge's HTTP contract from this machine, over TLS through Caddy
with the internal CA as the only trust (401 without the token, each session an instance of
the agent's socket unit: start, streamed updates, cancel, close, nothing left running,
-32002 after), only Caddy listening beyond loopback, and a kill -9 of the Bridge. Then the
Node services on the same host (tests/helpers/node_services.py: QMD over MCP, OpenClaw with
QMD as its MCP server, a turn through OpenClaw's ACP launcher under strace, the gateway
target through the Bridge), and aiws doctor (each agent's ACP initialize).

Then aiws on the host: check and bootstrap from the bundle, a bare rerun that repeats the
install from outside and changes nothing (no file rewritten, no unit restarted, every secret
byte-identical), a dry-run purge that changes nothing, a reboot and a kill -9 of every
service's main process (healthy again with no action), status without the agents running,
an uninstall that keeps every component's data, and a purge that leaves the host as it was
but for what aiws on a host keeps (its run logs, the controller). Timings, idle memory of
every unit and disk of every component are printed (-s)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiws.model.catalog import load_catalog
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.components import check_components
from tests.helpers import acp, app_threads, node_services, outbound, snapshot
from tests.helpers.cli import aiws
from tests.helpers.door import CA_ROOT, DOMAIN, Door, beyond_loopback, wait_for
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import (
    bootstrap,
    exists,
    fingerprint,
    inside,
    install,
    left_behind,
    on_host,
    on_host_install,
    purge_on_host,
    status,
    unit_rss_mb,
)
from tests.helpers.resilience import reboot_then_kill_every_service, service_units

# The whole product on one host, after the full bundle's build on an empty cache (~7 min of
# setup): more than the suite's 900 s per test.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]
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
# The Bridge too: it reaches each agent through the agent's socket (docs/components/bridge.md);
# and Caddy, its public side, with a certificate from aiws's site CA for the domain.
INSTALLED = list(CATALOG.modes["all-in-one"].components)
SERVICES = service_units(INSTALLED)
SELECTION = ("--mode", "all-in-one", "--domain", DOMAIN, "--internal-ca")
MOCK_TEXT = "aiws mock answer"
LITELLM = CATALOG.component("litellm")
WORKSPACE = "/srv/aiws-test-{agent}"


def launcher(name: str) -> str:
    component = CATALOG.component(name)
    return f"/opt/aiws/{name}/{component.version}/bin/aiws-{name}-acp"


def packages(taken: snapshot.Snapshot) -> set[str]:
    return {line.split()[1] for line in taken.packages}


def disk_mb(sandbox: SandboxState, path: str) -> int:
    return int(inside(sandbox, "du", "-sm", path).split()[0])


@dataclass
class Scenario:
    """What the steps of the scenario share, filled in as they go."""

    sandbox: SandboxState
    bundle_file: Path
    tmp: Path
    config: Path
    before: snapshot.Snapshot
    first: Any = None  # the first install's DeploySummary
    installed: Any = None  # the host's snapshot right after it
    bundle_on_host: str = ""
    unchanged: Any = None  # the host's fingerprint after the bare rerun

    @property
    def rows(self) -> dict[str, Any]:
        return {row.name: row for row in self.first.components}

    @property
    def token(self) -> str:
        return str(self.first.bridge_tokens[0].token)


@pytest.fixture(scope="module")
def scenario(
    make_module_sandbox: MakeSandbox,
    models_bundle_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """One fresh Debian 12 host on a veth link, shared by the steps below, in order."""
    sandbox = make_module_sandbox(network="veth")
    node_services.operators_notes(sandbox)
    tmp = tmp_path_factory.mktemp("agents")
    config = tmp / "aiws.yml"
    config.write_text("litellm:\n  test_models: true\n" + node_services.CONFIG)
    return Scenario(sandbox, models_bundle_file, tmp, config, snapshot.take(sandbox))


@pytest.mark.steps
def test_preflight_and_a_check_mode_plan_change_nothing(scenario: Scenario) -> None:
    """Before any change: preflight accepts the host and the request, and a check-mode plan
    says that every component would change, and changes nothing."""
    sandbox = scenario.sandbox
    request = (*SELECTION, "--config", str(scenario.config), "-i", str(sandbox.inventory),
               "--json")  # fmt: skip
    preflight = aiws("preflight", *request, "--bundle", str(scenario.bundle_file))
    assert preflight.returncode == 0, preflight.stdout[-2000:] + preflight.stderr[-2000:]
    started = time.monotonic()
    plan = aiws("install", *request, "--check")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    planned = {row["name"]: row["changed"] for row in json.loads(plan.stdout)["components"]}
    assert [name for name in INSTALLED if not planned.get(name)] == [], planned
    assert left_behind(sandbox, scenario.before) == []
    print(f"\npreflight + check-mode plan: {time.monotonic() - started:.1f} s", flush=True)


@pytest.mark.steps
def test_the_connected_install_then_every_components_own_check(scenario: Scenario) -> None:
    """No --bundle: the cached bundle reused (not built again), verified, installed from;
    every component healthy and passing its own check (tests/components)."""
    sandbox = scenario.sandbox
    built = scenario.bundle_file.stat().st_mtime_ns
    first, seconds = install(sandbox, None, *SELECTION, "--config", str(scenario.config))
    scenario.first = first
    assert first.bundle is not None and first.bundle.file == str(scenario.bundle_file)
    assert scenario.bundle_file.stat().st_mtime_ns == built
    health = {name: row.health for name, row in scenario.rows.items()}
    assert health == dict.fromkeys(INSTALLED, "healthy")
    print(f"{' + '.join(INSTALLED)} first install: {seconds:.1f} s", flush=True)
    assert sorted(check_components(sandbox, INSTALLED)) == sorted(INSTALLED)
    scenario.installed = snapshot.take(sandbox)


@pytest.mark.steps
def test_each_agent_over_acp_through_litellm_and_nothing_leaves_the_host(
    scenario: Scenario,
) -> None:
    sandbox, rows = scenario.sandbox, scenario.rows
    for name, agent_name in AGENTS.items():
        component = CATALOG.component(name)
        account = component.user
        assert rows[name].state == "installed" and rows[name].version == component.version
        # Its LiteLLM key where it reads it (its configuration, or the skeleton's key file).
        key_file = KEY_FILES.get(name, f"/etc/aiws/{name}/litellm.key")
        assert inside(sandbox, "stat", "-c", "%a %U %G", key_file) == f"640 root {account}"
        key = inside(sandbox, "cat", f"/var/lib/aiws/secrets/litellm-key-{name}")
        held = inside(sandbox, "cat", key_file)
        assert key in held and "AIWS_SECRET" not in held
        workspace = WORKSPACE.format(agent=name)
        inside(sandbox, "install", "-d", "-o", account, "-g", account, "-m", "0750", workspace)
        # LiteLLM's journal from here on (a cursor: exact, where a time has whole seconds).
        cursor = inside(sandbox, "journalctl", "-u", "aiws-litellm", "-n", "0",
                        "--show-cursor", "--no-pager").rpartition("cursor: ")[2]  # fmt: skip
        result = acp.drive(
            sandbox, account, launcher(name), workspace, scenario.tmp / name, cancel=True
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
        journal = inside(sandbox, "journalctl", "-u", "aiws-litellm", "--after-cursor", cursor,
                         "--no-pager", "-o", "cat")  # fmt: skip
        calls = [line for line in journal.splitlines() if line.startswith("aiws request:")]
        assert any(f"consumer={name} model=aiws-mock" in line for line in calls), calls
        # Every call is this agent's, or a late one of an agent driven before it.
        driven = list(AGENTS)[: list(AGENTS).index(name) + 1]
        assert all(any(f"consumer={a} " in line for a in driven) for line in calls), calls
        inside(sandbox, "rm", "-r", workspace)

    # The sessions wrote only into the agents' homes (and the workspaces, removed since);
    # the services running meanwhile, into their own state.
    homes = tuple(f"{CATALOG.component_paths(name)['state']}/" for name in [*AGENTS, *SERVICES])
    written = snapshot.differences(scenario.installed, snapshot.take(sandbox))
    assert [line for line in written if not line.split()[1].startswith(homes)] == [], written


@pytest.mark.steps
def test_the_summary_gives_the_first_token_the_trust_anchor_and_one_public_address(
    scenario: Scenario,
) -> None:
    first, rows = scenario.first, scenario.rows
    made = [(t.name, t.host) for t in first.bridge_tokens]
    assert made == [("first", rows["bridge"].host)], first.bridge_tokens
    (ca,) = first.trust
    assert (ca.host, ca.ca_certificate) == (rows["caddy"].host, CA_ROOT)
    public = [(a.component, a.url) for a in first.access if a.public]
    assert public == [("bridge", f"https://{DOMAIN}/")], first.access


@pytest.mark.steps
def test_every_agent_through_the_bridge_over_tls(scenario: Scenario) -> None:
    through_the_bridge(scenario.sandbox, scenario.tmp, scenario.token)


@pytest.mark.steps
def test_the_apps_own_requests_and_threads_that_continue(scenario: Scenario) -> None:
    """tests/helpers/app_threads: the app's requests, files in and out, restarts."""
    door = Door(scenario.sandbox, scenario.tmp, scenario.token)
    app_threads.check(scenario.sandbox, door, [*AGENTS, "openclaw"])


@pytest.mark.steps
def test_the_node_services_qmd_openclaw_and_the_gateway_target(scenario: Scenario) -> None:
    node_services.check_qmd_and_openclaw(scenario.sandbox, scenario.tmp, scenario.token)


@pytest.mark.steps
def test_doctor_finds_nothing_wrong_and_each_agent_answers_initialize(
    scenario: Scenario,
) -> None:
    """Each agent answers a real ACP initialize through the socket the Bridge uses (a
    session as the Bridge opens one; its workspace removed)."""
    sandbox = scenario.sandbox
    found = doctor(sandbox, "--acp")
    assert found["worst"] == "ok", [c for c in found["checks"] if c["severity"] != "ok"]
    checks = {c["check"]: c["line"] for c in found["checks"]}
    assert {f"acp:{name}" for name in AGENTS} <= set(checks), checks
    assert {"guard", "clock", "memory", "disk", "probe:caddy", "probe:bridge"} <= set(checks)
    certificates = [c["line"] for c in found["checks"] if c["check"] == "certificate"]
    assert any(line.startswith(f"{CA_ROOT} valid until") for line in certificates), certificates
    # Doctor's sessions took their workspaces with them (each agent's directory holds only
    # the Bridge tests' token's threads).
    for name in AGENTS:
        left = inside(sandbox, "ls", "-A", f"{BRIDGE_WORKSPACES}/{name}").split()
        assert left == ["first"], left
    print(f"doctor --acp: {found['seconds']:.1f} s: "
          + ", ".join(checks[f"acp:{name}"] for name in AGENTS), flush=True)  # fmt: skip


@pytest.mark.steps
def test_aiws_on_the_host_takes_over_and_a_bare_rerun_changes_nothing(
    scenario: Scenario,
) -> None:
    """aiws on the host itself, bootstrapped from the same bundle (the air-gapped way), takes
    over the install driven from this machine. Its bare rerun (no mode, components, domain,
    TLS choice or configuration file) repeats the last install as the ledger recorded it:
    with defaults instead, Caddy would turn to ACME and LiteLLM would drop the test models,
    and this would not be changed=0."""
    sandbox = scenario.sandbox
    started = time.monotonic()
    scenario.bundle_on_host = bootstrap(sandbox, scenario.bundle_file)
    print(f"check + bootstrap on the host: {time.monotonic() - started:.1f} s", flush=True)
    scenario.unchanged = fingerprint(sandbox)
    rerun, seconds = on_host_install(sandbox, "--bundle", scenario.bundle_on_host)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert rerun.repeated == ["the operator configuration", "mode all-in-one",
                              f"domain {DOMAIN}", "the site CA"], rerun.repeated  # fmt: skip
    assert {r.name for r in rerun.components} == set(INSTALLED)
    assert rerun.bridge_tokens == []
    # No file rewritten, no unit restarted, every secret byte-identical.
    assert fingerprint(sandbox) == scenario.unchanged
    print(f"bare rerun on the host: {seconds:.1f} s", flush=True)
    footprint(sandbox, packages(scenario.installed) - packages(scenario.before))


@pytest.mark.steps
def test_a_dry_run_purge_lists_everything_and_changes_nothing(scenario: Scenario) -> None:
    sandbox = scenario.sandbox
    rc, out, err = on_host(sandbox, "uninstall", "--purge", "--dry-run", "--json")
    dry_run = json.loads(out)
    assert rc == 0 and dry_run["dry_run"] and set(dry_run["components"]) == set(INSTALLED), err
    assert "removed" not in {path["status"] for path in dry_run["paths"]}
    assert fingerprint(sandbox) == scenario.unchanged and status(sandbox)["healthy"] is True


@pytest.mark.steps
def test_a_reboot_and_a_kill_of_every_service_heal_by_themselves(scenario: Scenario) -> None:
    door = Door(scenario.sandbox, scenario.tmp, scenario.token)
    rebooted, killed = reboot_then_kill_every_service(scenario.sandbox, door, INSTALLED,
                                                      SERVICES)  # fmt: skip
    print(f"reboot to healthy: {rebooted:.1f} s; kill -9 of {len(SERVICES)} services to "
          f"healthy: {killed:.1f} s", flush=True)  # fmt: skip


@pytest.mark.steps
def test_status_checks_the_agents_files_without_starting_them(scenario: Scenario) -> None:
    sandbox = scenario.sandbox
    report = status(sandbox)["by_name"]
    for name in AGENTS:
        assert report[name]["healthy"] is True, report[name]
        assert report[name]["version"] == CATALOG.component(name).version, report[name]
    gone = launcher(next(iter(AGENTS)))
    inside(sandbox, "rm", gone)
    report = status(sandbox)["by_name"]
    assert report[next(iter(AGENTS))]["healthy"] is False
    assert gone in report[next(iter(AGENTS))]["detail"]
    broken = doctor(sandbox, expect=1)
    (finding,) = [c for c in broken["checks"] if c["severity"] != "ok"]
    assert finding["check"] == f"probe:{next(iter(AGENTS))}" and gone in finding["line"]
    assert "rerun aiws install" in finding["fix"], finding


@pytest.mark.steps
def test_an_uninstall_on_the_host_keeps_every_components_data(scenario: Scenario) -> None:
    """A plain uninstall keeps every component's configuration and data and the agents'
    accounts, and takes units and runtime trees."""
    sandbox = scenario.sandbox
    kept = [path for name in INSTALLED for key, path in CATALOG.component_paths(name).items()
            if key != "runtime" and exists(sandbox, path)]  # fmt: skip
    rc, out, err = on_host(sandbox, "uninstall", "--yes", "--json")
    assert rc == 0, (out[-2000:], err[-2000:])
    report = status(sandbox)["by_name"]
    for name in INSTALLED:
        assert report[name]["installed"] is False, report[name]
        unit = CATALOG.component(name).unit
        assert unit is None or not exists(sandbox, f"/etc/systemd/system/{unit}"), unit
    assert [path for path in kept if not exists(sandbox, path)] == []
    assert exists(sandbox, f"{CATALOG.paths.secrets}/postgresql-aiws_vault")
    assert inside(sandbox, "ls", "/opt/aiws").split() == ["controller"]  # runtime trees gone
    assert report["hermes"]["detail"].startswith("uninstalled; data kept"), report["hermes"]
    inside(sandbox, "getent", "passwd", CATALOG.component("hermes").user)


@pytest.mark.steps
def test_a_purge_on_the_host_leaves_it_as_it_was(scenario: Scenario) -> None:
    """The host as it was before the install, but for what aiws on a host keeps by design
    (its run logs, the controller that ran it); a second purge finds nothing to do."""
    sandbox, bundle = scenario.sandbox, scenario.bundle_on_host
    inside(sandbox, "rm", bundle, f"{bundle}.sha256")  # the operator's copy
    print(f"uninstall --purge on the host: {purge_on_host(sandbox, scenario.before)} s",
          flush=True)  # fmt: skip
    for name in [name for name in INSTALLED if CATALOG.component(name).user]:
        account = CATALOG.component(name).user
        assert inside(sandbox, "sh", "-c", f"getent passwd {account} || echo none") == "none"


BRIDGE = CATALOG.component("bridge")
CADDY = CATALOG.component("caddy")
BRIDGE_WORKSPACES = "/var/lib/aiws/workspaces"


def agent_processes(sandbox: SandboxState) -> str:
    """The processes of every agent's account, one "pid account" per line (none once their
    sessions ended). From /proc: the sandbox has no procps. A process that exits while find
    walks /proc makes find complain about its vanished directory; that is not a failure."""
    owners = " -o ".join(f"-user {CATALOG.component(name).user}" for name in AGENTS)
    command = (f"find /proc -mindepth 1 -maxdepth 1 -regex '/proc/[0-9]+' "
               f"\\( {owners} \\) -printf '%f %u\\n'")  # fmt: skip
    done = host.run_in(sandbox, ["sh", "-c", command], timeout=60)
    complaints = [line for line in done.stderr.splitlines() if not VANISHED.fullmatch(line)]
    assert done.returncode in (0, 1) and complaints == [], f"{command}: {done.stdout}{done.stderr}"
    assert done.returncode == 0 or done.stderr, f"{command}: exit {done.returncode}"
    return done.stdout.strip()


# find's complaint about a /proc/PID that was gone by the time it looked inside.
VANISHED = re.compile(r"find: .?/proc/[0-9]+.?: No such file or directory")


def bridge_journal(sandbox: SandboxState) -> str:
    return inside(sandbox, "journalctl", "-u", BRIDGE.unit or "", "--no-pager", "-n", "60",
                  "-o", "cat")  # fmt: skip


def session_journal(sandbox: SandboxState, name: str) -> str:
    """The journal of the agent's session units (their stderr), for failure messages."""
    pattern = f"aiws-acp-{name}@*"
    return inside(sandbox, "journalctl", "-u", pattern, "--no-pager", "-n", "60", "-o", "cat")


def footprint(sandbox: SandboxState, added_packages: set[str]) -> None:
    """all-in-one at rest: each unit's resident memory and each component's disk, printed
    and held against the guard's estimates in the catalog (what preflight reserves): each
    at least what was measured, and not more than twice it (+64 MB)."""
    rss = {name: unit_rss_mb(sandbox, unit) for name, unit in SERVICES.items()}
    print(f"idle RSS (MB): {rss}, total {sum(rss.values())} MB", flush=True)
    for name, mb in rss.items():
        estimate = CATALOG.component(name).memory_mb
        assert mb <= estimate <= 2 * mb + 64, f"{name}: {mb} MB idle, catalog memory_mb {estimate}"
    disk = {}
    for name in INSTALLED:
        paths = CATALOG.component_paths(name)
        present = [p for p in (paths["runtime"], paths["state"]) if exists(sandbox, p)]
        disk[name] = sum(disk_mb(sandbox, p) for p in present)
    sizes = inside(
        sandbox, "dpkg-query", "-W", "-f", "${Installed-Size}\\n", *sorted(added_packages)
    )
    debs = sum(int(kib) for kib in sizes.split()) // 1024
    print(f"disk (MB, runtime + state): {disk}, total {sum(disk.values())} MB; "
          f"{len(added_packages)} Debian packages added: {debs} MB", flush=True)  # fmt: skip
    for name, mb in disk.items():
        component = CATALOG.component(name)
        assert mb <= component.disk_mb, (
            f"{name}: {mb} MB on disk, catalog disk_mb {component.disk_mb}"
        )
        # Debian's packages (PostgreSQL's, Caddy's) are counted together below.
        assert component.apt_packages or component.disk_mb <= 2 * mb + 64, (name, mb)
    assert sum(disk.values()) + debs <= sum(CATALOG.component(n).disk_mb for n in INSTALLED)


def doctor(sandbox: SandboxState, *args: str, expect: int = 0) -> dict[str, Any]:
    done = aiws("doctor", "-i", str(sandbox.inventory), "--json", *args)
    assert done.returncode == expect, (done.stdout[-3000:], done.stderr[-2000:])
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def through_the_bridge(sandbox: SandboxState, tmp_path: Path, token: str) -> None:
    """Every agent through the Bridge as the app drives it: from this machine, over TLS
    through Caddy on the sandbox's veth address."""
    bridge = BRIDGE.unit
    assert bridge is not None and BRIDGE.listen is not None
    # The public service holds no capability: systemd starts the agents, not the Bridge.
    assert inside(sandbox, "systemctl", "show", "-p", "CapabilityBoundingSet", "--value",
                  bridge) == ""  # fmt: skip
    # Caddy may bind low ports and nothing else.
    assert inside(sandbox, "systemctl", "show", "-p", "CapabilityBoundingSet", "--value",
                  CADDY.unit or "") == "cap_net_bind_service"  # fmt: skip
    for name in AGENTS:
        socket_file = f"/run/aiws-acp/{name}.sock"
        assert inside(sandbox, "stat", "-c", "%a %U %G", socket_file) == "660 root aiws-bridge"

    # Only Caddy listens beyond loopback (TCP and UDP); from outside the Bridge's port and
    # :80 (no ACME with the internal CA) are closed, 443 answers.
    assert beyond_loopback(sandbox) == []
    door = Door(sandbox, tmp_path, token)
    assert door.refuses(BRIDGE.listen.port) and door.refuses(80)
    assert door.healthy()
    # The contract's refusals and the WebSocket through the installed Caddy (the whole
    # contract suite runs through Caddy in tests/bridge/test_contract.py).
    unauthorised = door.request("GET", "/api/ping")
    assert unauthorised.status_code == 401 and unauthorised.json()["error"]["code"] == -32001
    health = {"jsonrpc": "2.0", "id": "h", "method": "health"}
    evil = door.request("POST", "/acp/rpc", json=health, headers={
        "Authorization": f"Bearer {token}", "Origin": "https://evil.example"})  # fmt: skip
    assert evil.status_code == 403 and evil.json()["error"]["code"] == -32003
    assert door.request("GET", "/acp-server/x").status_code == 404
    assert door.websocket_health(token)["result"]["status"] == "ok"

    # The host holds the first token's digest only.
    held = inside(sandbox, "cat", "/etc/aiws/bridge/tokens.json")
    assert token not in held and hashlib.sha256(token.encode()).hexdigest() in held
    assert inside(sandbox, "stat", "-c", "%a %U %G", "/etc/aiws/bridge/tokens.json") == (
        "640 root aiws-bridge"
    )

    offered = door.client("--capabilities")
    assert offered == {"agents": ["codex", "opencode", "gemini", "hermes"],
                       "gateways": ["openclaw"]}, offered  # fmt: skip
    for name in AGENTS:
        seen = door.client(name)
        print(f"{name} through Caddy and the Bridge: start {seen['start_seconds']} s, first "
              f"session.update delta {seen['first_delta_seconds']} s", flush=True)  # fmt: skip
        if MOCK_TEXT not in seen["text"]:
            print(f"{name} session journal:\n{session_journal(sandbox, name)}", flush=True)
        assert seen["done"] and seen["updates_with_ids"], seen
        assert MOCK_TEXT in seen["text"], seen
        assert seen["result"]["status"] == "completed" and MOCK_TEXT in seen["result"]["output"]
        assert seen["cancel"] == {"accepted": True}, seen
        if not seen["cancelled"]:
            print(f"{name} cancelled stream's tail: {seen.get('cancelled_stream_tail')}; the "
                  f"Bridge's journal:\n{bridge_journal(sandbox)}", flush=True)  # fmt: skip
        assert seen["cancelled"] and seen["cancelled"]["status"] == "cancelled", seen
        assert seen["close"] == {"accepted": True, "closed": True}, seen
        assert seen["after_close"]["code"] == -32002, seen
        assert seen["after_close"]["message"].startswith("SESSION_CONTINUATION_UNAVAILABLE")
        assert wait_for(lambda: agent_processes(sandbox) == ""), agent_processes(sandbox)
        # The session's workspace was made by the agent, for the agent alone.
        workspace = f"{BRIDGE_WORKSPACES}/{name}/first/threads/t-{name}"
        account = CATALOG.component(name).user
        assert inside(sandbox, "stat", "-c", "%a %U", workspace) == f"700 {account}"

    # kill -9 of the Bridge with a session open: systemd restarts it, no agent survives,
    # and a new session works.
    opened = door.client("gemini", "open")
    assert MOCK_TEXT in opened["text"], opened
    assert agent_processes(sandbox) != ""
    assert status(sandbox)["by_name"]["bridge"]["sessions"] == 1
    pid = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", bridge)
    inside(sandbox, "sh", "-c", f"kill -9 {pid}")
    assert wait_for(lambda: agent_processes(sandbox) == ""), agent_processes(sandbox)
    assert wait_for(lambda: status(sandbox)["by_name"]["bridge"]["sessions"] == 0)

    def restarted() -> bool:
        now = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", bridge)
        return now not in ("0", pid) and exists(sandbox, "/proc/" + now)

    assert wait_for(restarted, 30)
    assert wait_for(door.healthy, 30)
    again = door.client("gemini")
    assert MOCK_TEXT in again["text"] and again["after_close"]["code"] == -32002, again
    assert wait_for(lambda: agent_processes(sandbox) == ""), agent_processes(sandbox)
