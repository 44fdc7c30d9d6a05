"""Security claims of docs/security.md, shown on one fresh network-less host running
PostgreSQL and Vault from the bundle:

- no secret value ever reaches a log: not the CLI's output, not the run logs and Ansible
  artifacts on the controller, not /var/log/aiws on the host, not the units' journals,
  across install, rerun, a refused run, uninstall and purge;
- proxy variables in the environment send nothing anywhere: a recording proxy on the
  host's loopback sees no connection during a whole install;
- a local user who takes Vault's port while Vault is down gets nothing: the next install
  is refused before any change, and nothing aiws knows reaches that listener;
- every aiws unit is loopback-only at the firewall level (IPAddressDeny=any) and forbids
  writable+executable memory; systemd-analyze's exposure score of each is recorded and
  bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiws.sandbox.state import SandboxState
from tests.helpers.hosts import inside

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SELECTION = ("--mode", "core", "--only", "postgresql,vault")
UNITS = ("aiws-postgresql.service", "aiws-vault.service")
SECRETS = "/var/lib/aiws/secrets"
PROXY_PORT = 3128
# systemd-analyze security: 0 (locked down) .. 10 (unprotected); "OK" is below 4.
EXPOSURE_AT_MOST = 3.0

# A listener that writes everything it receives to a file (as an unprivileged user).
RECORDER = r"""
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
def serve(conn):
    with conn, open(sys.argv[2], "ab") as out:
        out.write(b"--- connection\n")
        conn.settimeout(5)
        try:
            while (data := conn.recv(65536)):
                out.write(data)
                out.flush()
        except OSError:
            pass
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


class Outputs:
    """Everything the CLI printed, and the run log directories its runs made."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.runs = Path(os.environ.get("AIWS_LOG_DIR", "/var/log/aiws")) / "runs"
        self.before = set(self.runs.glob("*"))

    @property
    def log_dirs(self) -> set[Path]:
        return set(self.runs.glob("*")) - self.before

    def aiws(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "aiws", *args],
            capture_output=True, text=True, timeout=900, check=False,
            stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200", **(env or {})},
        )  # fmt: skip
        self.text += [done.stdout, done.stderr]
        return done


def start_recorder(sandbox: SandboxState, unit: str, port: int, record: str) -> None:
    inside(sandbox, "install", "-d", "-o", "nobody", "-m", "0755", "/srv/recorder")
    inside(sandbox, "sh", "-c", f"cat > /srv/recorder/rec.py <<'EOF'\n{RECORDER}\nEOF")
    inside(
        sandbox, "systemd-run", f"--unit={unit}", "--uid=nobody", "--gid=nogroup",
        "/usr/bin/python3", "/srv/recorder/rec.py", str(port), record,
    )  # fmt: skip
    inside(sandbox, "sh", "-c", f"for i in $(seq 50); do ss -Hltn | grep -q :{port} && exit 0; "
           "sleep 0.1; done; exit 1")  # fmt: skip


def secret_values(sandbox: SandboxState) -> dict[str, str]:
    names = inside(sandbox, "ls", SECRETS).split()
    values = {name: inside(sandbox, "cat", f"{SECRETS}/{name}") for name in names}
    assert all(len(v) >= 16 for v in values.values()), "a secret too short to search for"
    return values


def hits(values: dict[str, str], text: str) -> list[str]:
    return [name for name, value in values.items() if value in text]


def controller_logs(log_dirs: set[Path]) -> str:
    """Every file of every run directory (ansible.log, runner artifacts, events)."""
    parts = []
    for directory in log_dirs:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def host_logs(sandbox: SandboxState) -> str:
    files = inside(
        sandbox, "sh", "-c", "find /var/log/aiws -type f -exec cat {} + 2>/dev/null; true"
    )
    journal = inside(
        sandbox, "journalctl", "--no-pager", "-o", "cat", *(f"--unit={u}" for u in UNITS),
        timeout=60,
    )  # fmt: skip
    return files + "\n" + journal


def security_of(sandbox: SandboxState, unit: str) -> float:
    out = inside(sandbox, "systemd-analyze", "security", "--no-pager", unit)
    last = out.strip().splitlines()[-1]  # "→ Overall exposure level for X: 2.1 OK :-)"
    return float(last.split(":")[1].split()[0])


def test_secrets_stay_out_of_logs_proxies_and_squatters(
    sandbox: SandboxState, core_bundle_file: Path
) -> None:
    run = Outputs()
    inventory = str(sandbox.inventory)
    install = ("install", *SELECTION, "--bundle", str(core_bundle_file), "-i", inventory, "--json")

    # A whole install with every proxy variable pointing at a recording listener.
    start_recorder(sandbox, "proxy-recorder", PROXY_PORT, "/srv/recorder/proxy.log")
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    names = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    proxies = dict.fromkeys(names, proxy)
    first = run.aiws(*install, env=proxies)
    assert first.returncode == 0, first.stderr[-2000:]
    assert inside(sandbox, "sh", "-c", "cat /srv/recorder/proxy.log 2>/dev/null; true") == ""

    # The units: loopback-only at the firewall, no W+X memory, exposure recorded.
    exposure = {}
    for unit in UNITS:
        shown = inside(sandbox, "systemctl", "show", unit, "-p", "IPAddressDeny",
                       "-p", "IPAddressAllow", "-p", "MemoryDenyWriteExecute")  # fmt: skip
        props = dict(line.split("=", 1) for line in shown.splitlines())
        assert set(props["IPAddressDeny"].split()) == {"0.0.0.0/0", "::/0"}, props
        assert set(props["IPAddressAllow"].split()) == {"127.0.0.0/8", "::1/128"}, props
        assert props["MemoryDenyWriteExecute"] == "yes"
        exposure[unit] = security_of(sandbox, unit)
    print("\nsystemd-analyze security exposure:", json.dumps(exposure), flush=True)
    assert all(score <= EXPOSURE_AT_MOST for score in exposure.values()), exposure

    rerun = run.aiws(*install)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    values = secret_values(sandbox)
    assert set(values) == {"postgresql-aiws_vault", "vault-aiws-token", "vault-unseal-key"}

    # Vault is down and a local user takes its port: the next install is refused before
    # any change, and nothing reaches that user's listener but, at most, a health probe.
    inside(sandbox, "systemctl", "stop", "aiws-vault.service")
    start_recorder(sandbox, "squatter", 8200, "/srv/recorder/squatter.log")
    squatted = run.aiws(*install)
    assert squatted.returncode == 2, squatted.stdout[-2000:] + squatted.stderr[-2000:]
    assert "8200" in squatted.stderr and "Traceback" not in squatted.stderr
    received = inside(sandbox, "sh", "-c", "cat /srv/recorder/squatter.log 2>/dev/null; true")
    assert not hits(values, received), received[:500]
    assert "X-Vault-Token" not in received and "unseal" not in received
    inside(sandbox, "systemctl", "stop", "squatter.service")
    inside(sandbox, "systemctl", "start", "aiws-vault.service")

    status = run.aiws("status", "-i", inventory, "--json", "--all")
    assert status.returncode == 0, status.stderr
    seen = host_logs(sandbox)
    purge = run.aiws("uninstall", "--purge", "--yes", "-i", inventory, "--json")
    assert purge.returncode == 0, purge.stderr[-2000:]

    assert len(run.log_dirs) >= 3, run.log_dirs  # install, rerun, purge at least
    for where, text in (
        ("the CLI's output", "\n".join(run.text)),
        ("the controller's run logs", controller_logs(run.log_dirs)),
        ("the host's logs and the units' journals", seen + host_logs(sandbox)),
    ):
        assert not hits(values, text), f"secret values found in {where}: {hits(values, text)}"
