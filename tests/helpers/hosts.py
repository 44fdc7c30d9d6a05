"""Acting on a sandbox host the way an operator would: commands inside it, the real CLI
against its inventory, aiws bootstrapped on it from the bundle."""

from __future__ import annotations

import json
import shutil
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiws.bundle.recipes import CONTROLLER
from aiws.commands.summary import DeploySummary
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers import snapshot
from tests.helpers.cli import aiws

# Where the bootstrapped controller lives on a host (docs/bundle.md, air-gapped install).
CONTROLLER_ROOT = "/opt/aiws/controller"
HOST_AIWS = f"{CONTROLLER_ROOT}/venv/bin/aiws"
# What the controller on a host writes about its own runs (docs/cli.md: run logs, history).
RUN_LOGS = "/var/log/aiws"


def inside(sandbox: SandboxState, *command: str, timeout: float = 120) -> str:
    done = host.run_in(sandbox, list(command), timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


def exists(sandbox: SandboxState, path: str) -> bool:
    return host.run_in(sandbox, ["test", "-e", path]).returncode == 0


def install(sandbox: SandboxState, bundle: Path | None, *args: str) -> tuple[DeploySummary, float]:
    """`aiws install ... --json` against the sandbox's inventory; must succeed. Without a
    bundle, the controller builds or reuses one (aiws.commands.connected)."""
    started = time.monotonic()
    given = ["--bundle", str(bundle)] if bundle is not None else []
    done = aiws("install", *args, *given, "-i", str(sandbox.inventory), "--json")
    took = round(time.monotonic() - started, 2)
    assert done.stdout.strip(), done.stderr
    summary = DeploySummary.model_validate_json(done.stdout)
    assert done.returncode == 0 and summary.run.ok, (summary.run.failures, done.stderr[-2000:])
    return summary, took


def status(sandbox: SandboxState) -> dict[str, Any]:
    done = aiws("status", "-i", str(sandbox.inventory), "--json", "--all")
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    (host_report,) = report["hosts"]
    report["by_name"] = {c["name"]: c for c in host_report["components"]}
    return report


def upgraded_files(
    sandbox: SandboxState, before: snapshot.Snapshot, after: snapshot.Snapshot
) -> frozenset[str]:
    """Files of the base packages the bundle upgraded (see snapshot.upgraded)."""
    names = sorted(snapshot.upgraded(before, after))
    assert set(names) <= {"perl-base"}, f"unexpected upgrades of host packages: {names}"
    return frozenset(inside(sandbox, "dpkg", "-L", *names).splitlines()) if names else frozenset()


def left_behind(sandbox: SandboxState, before: snapshot.Snapshot) -> list[str]:
    """What differs from `before` (empty when the host is as it was)."""
    after = snapshot.take(sandbox)
    return snapshot.differences(before, after, upgraded_files(sandbox, before, after))


def beyond_what_aiws_keeps(differences: list[str]) -> list[str]:
    """`differences` (left_behind's lines) without what a purge run by aiws on the host itself
    keeps by design (docs/cli.md): its run logs and history, and the controller that ran it."""
    return [line for line in differences if not _kept_on_host(line.split()[1])]


def purge_on_host(sandbox: SandboxState, before: snapshot.Snapshot) -> float:
    """`aiws uninstall --purge --yes` run by aiws on the host: the host then equals `before`
    but for what aiws keeps there, and a second purge finds nothing and changes nothing.
    Returns the first purge's seconds."""
    started = time.monotonic()
    rc, out, err = on_host(sandbox, "uninstall", "--purge", "--yes")
    assert rc == 0 and "Traceback" not in err, (out[-2000:], err[-2000:])
    seconds = round(time.monotonic() - started, 1)
    left = left_behind(sandbox, before)
    assert beyond_what_aiws_keeps(left) == [], left
    rc, out, err = on_host(sandbox, "uninstall", "--purge", "--yes")
    assert rc == 0 and "no components recorded" in out and "(0 changed)" in out, (out, err)
    return seconds


def _kept_on_host(path: str) -> bool:
    runtime_root = CONTROLLER_ROOT.rsplit("/", 1)[0]  # holds the controller alone after a purge
    return path in (RUN_LOGS, runtime_root, CONTROLLER_ROOT) or path.startswith(
        (f"{RUN_LOGS}/", f"{CONTROLLER_ROOT}/")
    )


# Reads one secret from Vault's KV, over Vault's socket with aiws's own (scoped) token, and
# compares it with its file.
_KV_READ = r"""
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/run/aiws-vault/vault.sock")
token = open("/var/lib/aiws/secrets/vault-aiws-token").read().strip()
conn = Conn("localhost")
conn.request("GET", "/v1/kv/data/aiws/" + sys.argv[1], headers={"X-Vault-Token": token})
value = json.load(conn.getresponse())["data"]["data"]["value"]
print(value == open("/var/lib/aiws/secrets/" + sys.argv[1]).read())
"""


def kv_matches_file(sandbox: SandboxState, secret: str) -> bool:
    """Whether Vault's KV copy of `secret` equals its file on the host."""
    return inside(sandbox, "python3", "-c", _KV_READ, secret) == "True"


def copy_in(sandbox: SandboxState, source: Path, dest: str) -> None:
    """Copy a file from this machine into the sandbox's file system."""
    target = sandbox.merged / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def bootstrap(sandbox: SandboxState, bundle: Path) -> str:
    """Put the bundle on the host and install aiws there from its controller tarball, the
    air-gapped way (docs/bundle.md); returns the bundle's path on the host."""
    on_host = f"/root/{bundle.name}"
    copy_in(sandbox, bundle, on_host)
    copy_in(sandbox, bundle.with_name(bundle.name + ".sha256"), on_host + ".sha256")
    with tarfile.open(bundle) as tar:
        (controller,) = [m for m in tar.getnames() if m.startswith(f"{CONTROLLER}-runtime-")]
    version = controller.split("-")[-2]
    root = f"{CONTROLLER_ROOT}/{version}"
    script = (
        f"cd /root && sha256sum -c --quiet {bundle.name}.sha256 && tar -xf {bundle.name} "
        f"{controller} && mkdir -p {root} && tar -xzf {controller} -C {root} && rm {controller}"
        f" && cd {root} && sha256sum -c --quiet SHA256SUMS && sh bootstrap.sh --version"
    )
    inside(sandbox, "sh", "-c", script, timeout=600)
    return on_host


def on_host(sandbox: SandboxState, *args: str, timeout: float = 900) -> tuple[int, str, str]:
    """Run the bootstrapped aiws on the host itself (local connection)."""
    done = host.run_in(sandbox, [HOST_AIWS, *args], timeout=timeout)
    return done.returncode, done.stdout, done.stderr


# The resident memory of every process of a unit, in MB (the cgroup tree is unified or, in
# an nspawn host on a v1 machine, hybrid).
def on_host_install(sandbox: SandboxState, *args: str) -> tuple[DeploySummary, float]:
    """`aiws install ... --json` run by aiws on the host itself; must succeed."""
    started = time.monotonic()
    rc, out, err = on_host(sandbox, "install", *args, "--json")
    seconds = round(time.monotonic() - started, 1)
    assert out.strip(), err[-3000:]
    summary = DeploySummary.model_validate_json(out)
    assert rc == 0 and summary.run.ok, (summary.run.failures, err[-3000:])
    return summary, seconds


_UNIT_RSS = r"""
import os, subprocess, sys
group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", sys.argv[1]],
                       capture_output=True, text=True, check=True).stdout.strip()
roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]
procs = next(p for p in (r + group + "/cgroup.procs" for r in roots) if os.path.exists(p))
total = 0
for pid in open(procs).read().split():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
print(round(total / 1024))
"""


def unit_rss_mb(sandbox: SandboxState, unit: str) -> int:
    """The resident memory of every process of `unit` inside the sandbox, in MB."""
    return int(inside(sandbox, "python3", "-c", _UNIT_RSS, unit))


# Everything a rerun must leave byte- and time-identical: aiws's configuration, secrets and
# unit files (sha256 and mtime), and each running aiws unit's main PID and start time (a
# timer's oneshot may run any time, and an instance a connection starts, a Bridge session
# or QMD's per-connection service, comes and goes with its client; the ledger is excluded:
# each run appends its record).
FINGERPRINT = r"""
find /etc/aiws /var/lib/aiws/secrets /etc/systemd/system -path '*aiws*' -type f \
  -printf '%p %T@ ' -exec sha256sum {} \; | awk '{print $1, $2, $3}' | sort
for unit in $(systemctl list-units --plain --no-legend --state=running 'aiws-*' \
    | awk '$1 !~ /@/ {print $1}'); do
  echo "$unit" $(systemctl show -p MainPID -p ExecMainStartTimestampMonotonic --value "$unit")
done
"""


def main_pids(sandbox: SandboxState, units: Iterable[str]) -> dict[str, int]:
    """Each unit's main PID (0 when it has none running)."""
    return {
        unit: int(inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit))
        for unit in units
    }


def fingerprint(sandbox: SandboxState) -> str:
    return inside(sandbox, "sh", "-c", FINGERPRINT)
