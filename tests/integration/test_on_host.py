"""all-in-one the air-gapped way on Debian 13, end to end with aiws on the host itself: the
full debian-13-amd64 bundle copied onto a fresh network-less host (a veth pair to this
machine is its only link), checked, aiws bootstrapped from the bundle's controller with the
host's own Python, and every command run there. (The same install driven from outside
through an inventory, then taken over by aiws on the host: test_agents.py, Debian 12.)

Before any change: a corrupt copy of the bundle and a bundle built for Debian 12 are refused
and the host is as it was. Then an install killed half-way (every process of the run, kill
-9) and the next run, which converges with the secrets the killed run made; each component's
own check; a client on this machine through Caddy with the internal CA (401 without the
token, a whole codex session with it); status, doctor with each agent's ACP initialize and
logs; a bare rerun that changes nothing (no file rewritten, no unit restarted, every secret
byte-identical); a bundle older than what the host runs refused before any change; a reboot
and a kill -9 of every service's main process (healthy again with
no action); report; the secrets commands; a purge that leaves the host as its snapshot
before the install (aiws's run logs and the controller the only difference) and a second
purge that changes nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiws.errors import ExitCode
from aiws.model.catalog import load_catalog
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.components import check_components
from tests.helpers import site_state, snapshot
from tests.helpers.bundles import another_release
from tests.helpers.door import DOMAIN, Door, beyond_loopback
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import (
    HOST_AIWS,
    beyond_what_aiws_keeps,
    bootstrap,
    copy_in,
    exists,
    fingerprint,
    inside,
    kv_matches_file,
    left_behind,
    on_host,
    on_host_install,
    purge_on_host,
)
from tests.helpers.resilience import reboot_then_kill_every_service, service_units
from tests.helpers.width import too_wide

# The full bundle's build for Debian 13 (~4 min on an empty cache) and the whole product.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]
CATALOG = load_catalog()
INSTALLED = list(CATALOG.modes["all-in-one"].components)
SERVICES = service_units(INSTALLED)
SELECTION = ("--mode", "all-in-one", "--domain", DOMAIN, "--internal-ca")
CONFIG = "/root/aiws.yml"
SECRETS = "/var/lib/aiws/secrets"
MOCK_TEXT = "aiws mock answer"
# The unit the interrupted install runs in: a kill of its control group is a kill -9 of
# aiws, ansible-playbook and every module in flight at once.
INTERRUPTED = "aiws-test-install.service"


def refused_unchanged(
    sandbox: SandboxState, pristine: snapshot.Snapshot, bundle: str, code: ExitCode
) -> str:
    """Install from `bundle` (put on the host after `pristine`): refused with `code`, nothing
    changed but aiws's run logs; returns what aiws said."""
    rc, out, err = on_host(sandbox, "install", *SELECTION, "--config", CONFIG, "--bundle", bundle)
    assert rc == code and "Traceback" not in err, (rc, out[-1000:], err[-2000:])
    assert not exists(sandbox, "/etc/aiws") and not exists(sandbox, "/var/lib/aiws")
    left = [line for line in left_behind(sandbox, pristine) if bundle not in line.split()[1]]
    assert beyond_what_aiws_keeps(left) == [], left
    return out + err


def secret_hashes(sandbox: SandboxState) -> dict[str, str]:
    out = inside(sandbox, "sh", "-c", f"cd {SECRETS} && sha256sum *")
    return {name: digest for digest, name in (line.split() for line in out.splitlines())}


def interrupted_install(sandbox: SandboxState, bundle: str) -> None:
    """Start the install as a transient unit and kill -9 all of it once LiteLLM (the third
    of twelve components) is up."""
    inside(sandbox, "systemd-run", "--quiet", "--collect", f"--unit={INTERRUPTED}",
           "--setenv=HOME=/root", HOST_AIWS, "install", *SELECTION, "--config", CONFIG,
           "--bundle", bundle)  # fmt: skip
    deadline = time.monotonic() + 600
    active = "systemctl is-active -q aiws-litellm.service && echo up || echo down"
    while inside(sandbox, "sh", "-c", active) != "up":
        running = inside(sandbox, "sh", "-c", f"systemctl is-active {INTERRUPTED} || true")
        assert running == "active", f"the install ended before it could be interrupted: {running}"
        assert time.monotonic() < deadline, "LiteLLM never came up"
        time.sleep(0.5)
    inside(sandbox, "systemctl", "kill", "--signal=SIGKILL", INTERRUPTED)
    gone = f"systemctl is-active -q {INTERRUPTED} && echo running || echo gone"
    while inside(sandbox, "sh", "-c", gone) != "gone":
        assert time.monotonic() < deadline, "the killed install is still running"
        time.sleep(0.2)
    # The test's own unit, not aiws's: gone from the host before the snapshot comparison.
    inside(sandbox, "sh", "-c", f"systemctl reset-failed {INTERRUPTED} 2>/dev/null || true")


@dataclass
class Scenario:
    """What the steps of the scenario share, filled in as they go."""

    sandbox: SandboxState
    bundle: str  # the bundle's path on the host
    tmp: Path
    pristine: snapshot.Snapshot  # the host before any install (aiws bootstrapped)
    first: Any = None  # the install's DeploySummary
    state: Any = None  # what the backup step made on the site (site_state.SiteState)

    def door(self) -> Door:
        (token,) = self.first.bridge_tokens
        return Door(self.sandbox, self.tmp, token.token)


@pytest.fixture(scope="module")
def scenario(
    make_module_sandbox: MakeSandbox,
    trixie_bundle_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """A fresh Debian 13 host on a veth link with aiws bootstrapped from the full bundle,
    shared by the steps below, in order."""
    sandbox = make_module_sandbox("debian-13", network="veth")
    started = time.monotonic()
    bundle = bootstrap(sandbox, trixie_bundle_file)
    print(f"\ncheck + bootstrap: {time.monotonic() - started:.1f} s", flush=True)
    tmp = tmp_path_factory.mktemp("on-host")
    (tmp / "aiws.yml").write_text("litellm:\n  test_models: true\n")
    copy_in(sandbox, tmp / "aiws.yml", CONFIG)
    return Scenario(sandbox, bundle, tmp, snapshot.take(sandbox))


@pytest.mark.steps
def test_a_corrupt_bundle_and_one_for_another_platform_are_refused_unchanged(
    scenario: Scenario, core_bundle_file: Path
) -> None:
    sandbox, bundle, pristine = scenario.sandbox, scenario.bundle, scenario.pristine
    corrupt = "/root/corrupt.tar"
    name = Path(bundle).name
    inside(sandbox, "sh", "-c", f"cp {bundle} {corrupt} && sed 's/{name}/corrupt.tar/' "
           f"{bundle}.sha256 > {corrupt}.sha256 && printf X | dd of={corrupt} bs=1 "
           "seek=200000000 conv=notrunc status=none")  # fmt: skip
    said = refused_unchanged(sandbox, pristine, corrupt, ExitCode.FAILED)
    assert "corrupt.tar: SHA256" in said and "nothing was unpacked" in said, said
    inside(sandbox, "rm", corrupt, f"{corrupt}.sha256")
    other = f"/root/{core_bundle_file.name}"
    copy_in(sandbox, core_bundle_file, other)
    copy_in(
        sandbox, core_bundle_file.with_name(core_bundle_file.name + ".sha256"), f"{other}.sha256"
    )
    said = refused_unchanged(sandbox, pristine, other, ExitCode.USAGE)
    assert "debian-12" in said and "debian-13" in said, said
    inside(sandbox, "rm", other, f"{other}.sha256")


@pytest.mark.steps
def test_an_install_killed_half_way_is_finished_by_the_next_run(scenario: Scenario) -> None:
    """The next run converges and keeps what the killed run made; every component healthy
    and passing its own check (tests/components)."""
    sandbox, bundle = scenario.sandbox, scenario.bundle
    started = time.monotonic()
    interrupted_install(sandbox, bundle)
    killed_at = round(time.monotonic() - started, 1)
    made = secret_hashes(sandbox)
    assert "vault-unseal-key" in made, made
    first, seconds = on_host_install(sandbox, *SELECTION, "--config", CONFIG, "--bundle", bundle)
    scenario.first = first
    print(f"install killed after {killed_at} s; the next run: {seconds} s", flush=True)
    rows = {row.name: row for row in first.components}
    assert {name: row.health for name, row in rows.items()} == dict.fromkeys(INSTALLED, "healthy")
    now = secret_hashes(sandbox)
    assert {name: now.get(name) for name in made} == made
    assert rows["postgresql"].version.startswith("17"), rows["postgresql"]
    assert sorted(check_components(sandbox, INSTALLED)) == sorted(INSTALLED)


@pytest.mark.steps
def test_the_bridge_from_outside_through_caddy_only(scenario: Scenario) -> None:
    """From this machine, through Caddy, with the internal CA as the only trust; nothing
    else listens beyond loopback, and from outside the Bridge's port is closed."""
    assert beyond_loopback(scenario.sandbox) == []
    door = scenario.door()
    bridge = CATALOG.component("bridge").listen
    assert bridge is not None and door.refuses(bridge.port) and door.refuses(80)
    assert door.healthy()
    refused = door.request("GET", "/api/ping")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == -32001
    seen = door.client("codex")
    print(f"codex through Caddy and the Bridge: first session.update delta "
          f"{seen['first_delta_seconds']} s", flush=True)  # fmt: skip
    assert seen["done"] and MOCK_TEXT in seen["text"], seen
    assert seen["result"]["status"] == "completed", seen


@pytest.mark.steps
def test_the_operators_everyday_commands_on_the_host(scenario: Scenario) -> None:
    """status (and as a human reads it at 80 columns: no line wider, no address cut),
    doctor with each agent's ACP initialize, logs."""
    sandbox = scenario.sandbox
    rc, out, err = on_host(sandbox, "status", "--json")
    assert rc == 0 and json.loads(out)["healthy"] is True, (out[-2000:], err[-1000:])
    shown = host.run_in(sandbox, ["env", "COLUMNS=80", HOST_AIWS, "status"], timeout=120)
    assert shown.returncode == 0 and too_wide(shown.stdout) == [], shown.stdout
    for row in json.loads(out)["hosts"][0]["components"]:
        assert any(row["address"] in line and row["name"] in line
                   for line in shown.stdout.splitlines()), (row, shown.stdout)  # fmt: skip
    rc, out, err = on_host(sandbox, "doctor", "--acp", "--json")
    found = json.loads(out)
    assert rc == 0 and found["worst"] == "ok", [c for c in found["checks"] if c["severity"] != "ok"]
    assert {f"acp:{name}" for name in ("codex", "opencode", "hermes", "gemini")} <= {
        c["check"] for c in found["checks"]
    }
    rc, out, err = on_host(sandbox, "logs", "bridge", "-n", "50")
    assert rc == 0 and out.strip(), err[-500:]


@pytest.mark.steps
def test_a_bare_rerun_repeats_the_last_install_and_changes_nothing(scenario: Scenario) -> None:
    sandbox = scenario.sandbox
    unchanged = fingerprint(sandbox)
    rerun, seconds = on_host_install(sandbox, "--bundle", scenario.bundle)
    print(f"bare no-change rerun: {seconds} s", flush=True)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert "mode all-in-one" in rerun.repeated and rerun.bridge_tokens == [], rerun.repeated
    assert {row.change for row in rerun.components} == {"unchanged"}
    assert fingerprint(sandbox) == unchanged


# Pretends the host's Vault was installed by a newer release (its ledger record says 99.0.0).
_NEWER_VAULT = """
import json, sys
path = sys.argv[1]
ledger = json.load(open(path))
ledger["components"]["vault"]["version"] = "99.0.0"
json.dump(ledger, open(path, "w"))
"""


@pytest.mark.steps
def test_a_bundle_older_than_what_the_host_runs_is_refused_before_any_change(
    scenario: Scenario,
) -> None:
    """The measured failure this prevents: an older OpenBao put back over newer storage left
    Vault unhealthy. With the ledger saying a newer Vault, the bundle's is a downgrade: the
    install is refused naming both versions and nothing changes; preflight with
    --allow-downgrade only warns."""
    sandbox, ledger = scenario.sandbox, CATALOG.paths.ledger
    inside(sandbox, "cp", "-p", ledger, "/root/state.json.saved")
    try:
        inside(sandbox, "python3", "-c", _NEWER_VAULT, ledger)
        before = fingerprint(sandbox)
        rc, out, err = on_host(sandbox, "install", "--bundle", scenario.bundle)
        vault = CATALOG.component("vault").version
        said = f"vault 99.0.0 is installed and the bundle has {vault}: a downgrade"
        assert rc == ExitCode.USAGE and said in out + err, (rc, out[-1000:], err[-1000:])
        assert "Traceback" not in err and fingerprint(sandbox) == before
        rc, out, err = on_host(sandbox, "preflight", "--bundle", scenario.bundle,
                               "--allow-downgrade")  # fmt: skip
        assert rc == 0 and "warning" in out and said in out, (rc, out[-1000:], err[-1000:])
    finally:
        inside(sandbox, "cp", "-p", "/root/state.json.saved", ledger)
        inside(sandbox, "rm", "/root/state.json.saved")


@pytest.mark.steps
def test_a_reboot_and_a_kill_of_every_service_heal_by_themselves(scenario: Scenario) -> None:
    rebooted, killed = reboot_then_kill_every_service(scenario.sandbox, scenario.door(),
                                                      INSTALLED, SERVICES)  # fmt: skip
    print(f"reboot to healthy: {rebooted:.1f} s; kill -9 of {len(SERVICES)} services to "
          f"healthy: {killed:.1f} s", flush=True)  # fmt: skip


@pytest.mark.steps
def test_the_hosts_run_history(scenario: Scenario) -> None:
    """The killed run recorded nothing; the one that finished it is "partial" (some
    components were there before it) and found the bundle's runtime trees unpacked, like
    the bare rerun."""
    rc, out, err = on_host(scenario.sandbox, "report", "--json")
    groups = {(g["bundle"], g["run"]) for g in json.loads(out)["groups"]}
    assert rc == 0 and groups == {("cached", "partial"), ("cached", "rerun")}, (out, err)


@pytest.mark.steps
def test_secrets_are_listed_shown_one_at_a_time_and_set_from_stdin(scenario: Scenario) -> None:
    """Listed with their owners, shown one at a time; a provider key the operator brings is
    read from stdin, never echoed, 0600, recorded as the operator's."""
    sandbox = scenario.sandbox
    rc, out, _ = on_host(sandbox, "secrets", "list", "--json")
    listed = {s["name"]: s for s in json.loads(out)}
    assert rc == 0 and set(listed) == set(secret_hashes(sandbox)), listed
    assert listed["vault-unseal-key"]["component"] == "vault", listed["vault-unseal-key"]
    rc, out, _ = on_host(sandbox, "secrets", "show", "litellm-key-codex")
    assert rc == 0 and out.strip() == inside(sandbox, "cat", f"{SECRETS}/litellm-key-codex")
    key = "sk-test-0123456789abcdefghij"
    stored = inside(sandbox, "sh", "-c", f"printf '%s\\n' {key} | {HOST_AIWS} secrets set "
                    "openai-api-key")  # fmt: skip
    assert "stored openai-api-key" in stored and key not in stored
    assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/openai-api-key") == "600 root"
    rc, out, _ = on_host(sandbox, "secrets", "list", "--json")
    owners = {s["name"]: s["component"] for s in json.loads(out)}
    assert owners["openai-api-key"] == "operator", owners


PASSPHRASE = "/root/backup-passphrase"
ARCHIVE = "/root/site.aiws-backup"


def _values(sandbox: SandboxState) -> list[str]:
    """Every secret value on the host (what must never be in a log or an output)."""
    names = inside(sandbox, "ls", SECRETS).split()
    values = [inside(sandbox, "cat", f"{SECRETS}/{name}") for name in names]
    return [value for value in values if len(value) >= 16]


def _logs(sandbox: SandboxState) -> str:
    return inside(
        sandbox,
        "sh",
        "-c",
        "cat /var/log/aiws/*/* 2>/dev/null; journalctl "
        "--no-pager -o cat -u 'aiws-*' 2>/dev/null | tail -n 20000; true",
        timeout=120,
    )


def _refused(sandbox: SandboxState, pristine: snapshot.Snapshot, said: str, *args: str) -> None:
    """`aiws restore ARGS` refused in one line (exit 2), the host as it was."""
    rc, out, err = on_host(sandbox, "restore", *args)
    assert rc == ExitCode.USAGE and said in out + err, (rc, out, err[-1500:])
    assert len((out + err).strip().splitlines()) == 1, out + err
    assert beyond_what_aiws_keeps(left_behind(sandbox, pristine)) == []


@pytest.mark.steps
def test_a_backup_rebuilds_the_whole_site_on_a_fresh_host(
    scenario: Scenario,
    make_module_sandbox: MakeSandbox,
    trixie_bundle_file: Path,
    core_bundle_file: Path,
) -> None:
    """Host A with state only a backup keeps; `aiws backup --with-workspaces`; a fresh host
    B from the same bundle refuses a wrong passphrase, a cut or altered archive and another
    bundle before any change, then `aiws restore` makes it the same site: every token and
    key works, through Caddy with A's CA, the thread continues with its file, Vault's KV and
    the database row are there, and a rerun changes nothing. No secret value in any output
    or log of either host."""
    a = scenario.sandbox
    door_a = scenario.door()
    state = scenario.state = site_state.make(a, door_a)
    inside(a, "sh", "-c", f"umask 077 && printf '%s\\n' 'a long backup passphrase' > {PASSPHRASE}")
    rc, out, err = on_host(a, "backup", "--out", ARCHIVE, "--with-workspaces",
                           "--passphrase-file", PASSPHRASE, "--json")  # fmt: skip
    assert rc == 0, (out[-1000:], err[-2000:])
    made = json.loads(out)
    print(f"backup: {made['size'] / 1e6:.1f} MB in {made['seconds']} s", flush=True)
    assert inside(a, "stat", "-c", "%a %U", ARCHIVE) == "600 root"
    assert made["databases"] == ["vault"], made
    rc, listed, _ = on_host(a, "backup", "--list", "--json")
    assert rc == 0 and [r["request"]["sha256"] for r in json.loads(listed)] == [made["sha256"]]
    outputs = out + err + listed

    b = make_module_sandbox("debian-13", network="veth")
    bundle = bootstrap(b, trixie_bundle_file)
    for path in (ARCHIVE, PASSPHRASE):
        copy_in(b, a.merged / path.lstrip("/"), path)
    inside(b, "chmod", "600", PASSPHRASE)
    inside(b, "sh", "-c", "umask 077 && echo 'not the passphrase' > /root/wrong")
    inside(
        b,
        "sh",
        "-c",
        f"size=$(stat -c %s {ARCHIVE}) && head -c $((size / 2)) {ARCHIVE} > /root/cut && cp "
        f"{ARCHIVE} /root/altered && printf X | dd of=/root/altered bs=1 seek=$((size / 3)) "
        "conv=notrunc status=none",
    )
    other = f"/root/{core_bundle_file.name}"
    copy_in(b, core_bundle_file, other)
    key = ("--passphrase-file", PASSPHRASE)
    pristine = snapshot.take(b)
    _refused(
        b,
        pristine,
        "wrong passphrase",
        ARCHIVE,
        "--bundle",
        bundle,
        "--passphrase-file",
        "/root/wrong",
    )
    _refused(b, pristine, "cut short", "/root/cut", "--bundle", bundle, *key)
    _refused(b, pristine, "damaged or altered", "/root/altered", "--bundle", bundle, *key)
    _refused(b, pristine, "the bundle cannot rebuild this backup", ARCHIVE, "--bundle", other, *key)
    inside(b, "rm", "/root/cut", "/root/altered", other)

    started = time.monotonic()
    rc, out, err = on_host(b, "restore", ARCHIVE, "--bundle", bundle, *key, "--json",
                           timeout=1800)  # fmt: skip
    assert rc == 0, (out[-3000:], err[-3000:])
    print(f"restore on a fresh host: {time.monotonic() - started:.1f} s", flush=True)
    restored = json.loads(out)
    assert restored["ok"] and restored["restored"]["databases"] == ["vault"]
    outputs += out + err
    (scenario.tmp / "b").mkdir()
    door_b = Door(b, scenario.tmp / "b", door_a.token.read_text().strip())
    door_b.ca = door_a.ca  # a client that trusted A's CA
    site_state.check(b, door_b, state)
    assert kv_matches_file(b, "postgresql-aiws_vault")
    rc, out, _ = on_host(b, "status", "--json")
    assert rc == 0 and json.loads(out)["healthy"] is True, out[-2000:]
    unchanged = fingerprint(b)
    rerun, seconds = on_host_install(b, "--bundle", bundle)
    print(f"rerun after the restore: {seconds} s", flush=True)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert fingerprint(b) == unchanged
    values = _values(a)
    assert values and set(values) <= set(_values(b))
    seen = outputs + _logs(a) + _logs(b)
    assert [v[:6] for v in values if v in seen] == []
    for box, staging in ((a, "backup"), (b, "restore")):  # the plain copies are gone
        assert inside(box, "find", f"/root/.cache/aiws/{staging}", "-type", "f") == ""
    inside(a, "rm", ARCHIVE, PASSPHRASE)


def _retarget(old: str, new: str) -> Callable[[Path], None]:
    """A prebuilt venv's scripts name the tree they were built for: a release relabelled
    from `old` to `new` names its own."""

    def edit(payload: Path) -> None:
        for script in (payload / "venv" / "bin").iterdir():
            data = script.read_bytes()
            if script.is_file() and data.startswith(b"#!"):
                script.write_bytes(data.replace(f"/{old}/".encode(), f"/{new}/".encode()))

    return edit


class Outages:
    """/healthz through Caddy polled every 50 ms from this machine: the longest stretch
    without a 200, from the first miss to the next answer."""

    def __init__(self, door: Door) -> None:
        self.door, self.longest, self.polls = door, 0.0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        down_since: float | None = None
        while not self.stop.is_set():
            now, up = time.monotonic(), self.door.healthy()
            self.polls += 1
            if up and down_since is not None:
                self.longest = max(self.longest, now - down_since)
                down_since = None
            elif not up and down_since is None:
                down_since = now
            time.sleep(0.05)
        if down_since is not None:
            self.longest = max(self.longest, time.monotonic() - down_since)

    def __enter__(self) -> Outages:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(1)  # a restart's gap ends with an answer, not with the run
        self.stop.set()
        self.thread.join(10)


@pytest.mark.steps
def test_a_newer_bridge_is_an_upgrade_in_place_with_the_door_open(
    scenario: Scenario, trixie_bundle_file: Path
) -> None:
    """A newer Bridge (the bundle's, as the next release) over the running one, aiws on
    the host: `upgrade A -> B`, the previous generation kept, /healthz through Caddy
    answering but for the restart, and everything the site held there after: the tokens
    work, the app thread continues, the database row and Vault's KV are there."""
    sandbox, door = scenario.sandbox, scenario.door()
    current = CATALOG.component("bridge").version
    major, minor, patch = current.split(".")
    newer = f"{major}.{minor}.{int(patch) + 1}"
    made = another_release(trixie_bundle_file, "bridge", newer, scenario.tmp,
                           edit=_retarget(current, newer))  # fmt: skip
    on_host_bundle = f"/root/bridge-{newer}.tar"
    copy_in(sandbox, made, on_host_bundle)
    copy_in(sandbox, made.with_name(made.name + ".sha256"), on_host_bundle + ".sha256")
    with Outages(door) as outages:
        summary, seconds = on_host_install(sandbox, *SELECTION, "--config", CONFIG, "--only",
                                           "bridge", "--bundle", on_host_bundle)  # fmt: skip
    print(f"Bridge upgrade {current} -> {newer}: {seconds} s; longest time without a 200 on "
          f"/healthz through Caddy: {outages.longest:.2f} s ({outages.polls} polls)",
          flush=True)  # fmt: skip
    changes = {row.name: row.change for row in summary.components}
    assert changes["bridge"] == f"upgrade {current} -> {newer}", changes
    assert outages.polls > 20 and outages.longest < 10, outages.longest
    assert exists(sandbox, f"/var/lib/aiws/generations/bridge/{current}/generation.json")
    site_state.check(sandbox, door, scenario.state)
    inside(sandbox, "rm", on_host_bundle, on_host_bundle + ".sha256")


@pytest.mark.steps
def test_a_purge_on_the_host_leaves_it_as_it_was(scenario: Scenario) -> None:
    """The host as it was before the install, aiws's run logs aside (the controller that ran
    it stays); a second purge finds nothing and changes nothing."""
    print(f"uninstall --purge: {purge_on_host(scenario.sandbox, scenario.pristine)} s",
          flush=True)  # fmt: skip
    assert exists(scenario.sandbox, HOST_AIWS)
