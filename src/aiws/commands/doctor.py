"""`aiws doctor`: what is wrong with an installed runtime, each finding with its fix.

Read-only, from three calls per host: the guard's host facts, every component's probe (as
`aiws status`), and aiws_doctor (the host's clock, the certificates Caddy serves, and with
`acp` one ACP initialize through each agent's socket). The checks:

- guard: the hosts' last install (aiws.commands.recall) evaluated again against the host as
  it is now: a port someone took, a secret the configuration names that is gone, Python, OS;
- probe:<component>: every installed component healthy (Vault unsealed among them);
- disk and memory headroom;
- certificate: what Caddy serves and signs with, not expired and renewed in time;
- clock: each host's time against this controller's (an inventory's hosts);
- acp:<agent>: a real `initialize` answered through the Bridge's socket for that agent.

The worst finding sets the exit code (ExitCode: 0 all ok, 3 warnings only, 1 an error).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from pydantic import BaseModel

from aiws.ansible.hostcall import call_module
from aiws.commands import hostfacts, recall
from aiws.commands.status import ComponentStatus, StatusReport, probe
from aiws.errors import ExitCode, UsageError
from aiws.guard import checks as guard
from aiws.model.catalog import Catalog
from aiws.model.hosts import Hosts
from aiws.model.request import InstallRequest, request_from_cli
from aiws.model.resolve import resolve_component

Severity = Literal["ok", "warning", "error"]
RANK: dict[str, int] = {"ok": 0, "warning": 1, "error": 2}
DISK_ERROR_MB, DISK_WARNING_MB = 512, 2048
MEMORY_ERROR, MEMORY_WARNING = 0.05, 0.15  # available / total
CLOCK_WARNING_S, CLOCK_ERROR_S = 30.0, 300.0
# aiws doctor has its own memory headroom check; the guard's "available memory" rule is for
# components about to start, which on an installed host are already running.
NOT_FOR_DOCTOR = frozenset({"host.memory-available"})


class Check(BaseModel):
    host: str
    check: str
    severity: Severity
    line: str
    fix: str = ""


class DoctorReport(BaseModel):
    checks: list[Check]
    seconds: float

    @property
    def worst(self) -> Severity:
        return max((c.severity for c in self.checks), key=RANK.__getitem__, default="ok")

    @property
    def exit_code(self) -> ExitCode:
        return {
            "ok": ExitCode.OK,
            "warning": ExitCode.WARNINGS,
            "error": ExitCode.FAILED,
        }[self.worst]


def diagnose(
    target: Hosts,
    catalog: Catalog,
    config: Path | None = None,
    acp: bool = False,
    timeout: float = 3.0,
) -> DoctorReport:
    started = time.monotonic()
    facts = hostfacts.gather(target, catalog)
    status = probe(target, catalog, timeout)
    before = time.time()
    extra = call_module(target, "aiws_doctor", doctor_params(catalog, acp))
    now = (before + time.time()) / 2
    checks = guard_checks(
        catalog, facts, lambda: request_from_cli(catalog, mode=None, config=config)
    )
    for host in sorted(facts):
        checks += probe_checks(host, status)
        checks += headroom_checks(host, facts[host])
        report = extra[host]["ansible_facts"]["aiws_doctor"]
        checks += certificate_checks(host, report["certificates"], datetime.now(UTC))
        if not target.is_local:
            checks += clock_checks(host, report["time"] - now)
        checks += acp_checks(host, report["acp"])
    return DoctorReport(checks=checks, seconds=round(time.monotonic() - started, 3))


def doctor_params(catalog: Catalog, acp: bool) -> dict[str, Any]:
    caddy = resolve_component(catalog, catalog.components["caddy"])
    bridge = resolve_component(catalog, catalog.components["bridge"])["layout"]
    return {
        # Caddy's storage (its CA, the certificates it obtained), the site's certificate (an
        # operator's, or the site CA's) and the site CA's own certificate (--internal-ca).
        "certificates": [
            caddy["paths"]["state"],
            caddy["layout"]["certificate"],
            caddy["layout"]["ca_root"],
        ],
        "acp_dir": bridge["sockets"] if acp else "",
        "workspaces": bridge["workspaces"],
        "timeout": 60.0,
    }


def guard_checks(
    catalog: Catalog,
    facts: Mapping[str, guard.HostFacts],
    asked: Callable[[], InstallRequest],
) -> list[Check]:
    """The last install, evaluated again on each host as it is now."""
    if not any(f.installed for f in facts.values()):
        return [
            Check(host=host, check="guard", severity="ok", line="nothing installed by aiws")
            for host in sorted(facts)
        ]
    try:
        request = recall.merge(asked(), catalog, facts)
    except UsageError as exc:
        return [
            Check(host="(hosts)", check="guard", severity="error", line=exc.problem, fix=exc.fix)
        ]
    checks: list[Check] = []
    for host, host_facts in sorted(facts.items()):
        report = guard.evaluate(request, catalog, host_facts)
        findings = [f for f in report.findings if f.code not in NOT_FOR_DOCTOR]
        checks += [
            Check(
                host=host, check=f"guard:{f.code}", severity=f.severity, line=f.problem, fix=f.fix
            )
            for f in findings
        ]
        if not any(f.severity == "error" for f in findings):
            checks.append(
                Check(
                    host=host,
                    check="guard",
                    severity="ok",
                    line=f"the last install (mode {request.mode}) would be allowed again",
                )
            )
    return checks


def probe_checks(host: str, status: StatusReport) -> list[Check]:
    rows = next((h.installed for h in status.hosts if h.host == host), [])
    return [_probe_check(host, row) for row in rows]


def _probe_check(host: str, row: ComponentStatus) -> Check:
    check = f"probe:{row.name}"
    if row.healthy:
        return Check(host=host, check=check, severity="ok", line=f"{row.name}: {row.detail}")
    line = f"{row.name} is unhealthy: {row.detail or row.unit_state}"
    if row.name == "vault" and "sealed" in row.detail:
        fix = (
            f"systemctl restart {row.unit} (its unseal helper runs at every start); "
            "`aiws logs vault` says why it did not"
        )
    elif row.unit:
        fix = f"`aiws logs {row.name}` says why; then systemctl restart {row.unit}"
    else:
        fix = "rerun aiws install with the bundle: it puts the missing files back"
    return Check(host=host, check=check, severity="error", line=line, fix=fix)


def headroom_checks(host: str, facts: guard.HostFacts) -> list[Check]:
    places: dict[int, list[str]] = {}
    free: dict[int, int] = {}
    for disk in facts.disk:  # one line per filesystem
        places.setdefault(disk.device, []).append(disk.path)
        free[disk.device] = disk.free_mb
    checks = [
        _finding(
            host,
            "disk",
            _level(free[device] < DISK_ERROR_MB, free[device] < DISK_WARNING_MB),
            f"{free[device]} MB free under {', '.join(paths)}",
            "free space there (journals: journalctl --vacuum-size=200M)",
        )
        for device, paths in places.items()
    ]
    share = facts.mem_available_mb / facts.mem_total_mb if facts.mem_total_mb else 0.0
    checks.append(
        _finding(
            host,
            "memory",
            _level(share < MEMORY_ERROR, share < MEMORY_WARNING),
            f"{facts.mem_available_mb} of {facts.mem_total_mb} MB available ({share:.0%})",
            "stop what else runs there, or give the host more memory "
            "(all-in-one's idle footprint: docs/performance.md)",
        )
    )
    return checks


def certificate_checks(host: str, found: list[dict[str, str]], now: datetime) -> list[Check]:
    checks: list[Check] = []
    for item in found:
        path = item["path"]
        try:
            cert = x509.load_pem_x509_certificate(item["pem"].encode())
        except ValueError:
            checks.append(
                _finding(
                    host,
                    "certificate",
                    "error",
                    f"{path} is not a readable certificate",
                    "replace it, or remove it and rerun aiws install",
                )
            )
            continue
        checks.append(_validity(host, path, cert, now))
    return checks


def _validity(host: str, path: str, cert: x509.Certificate, now: datetime) -> Check:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    left = end - now
    when = end.strftime("%Y-%m-%d %H:%M UTC")
    if now < start:
        line = f"{path} is not valid before {start:%Y-%m-%d %H:%M} UTC"
        return _finding(host, "certificate", "error", line, "check the host's clock (timedatectl)")
    # Caddy renews at a third of the lifetime left: less than that is a renewal overdue.
    expired, overdue = left.total_seconds() <= 0, left < (end - start) / 3
    line = (
        f"{path} expired {when}"
        if expired
        else f"{path} expires {when}, and should have been renewed by now"
        if overdue
        else f"{path} valid until {when}"
    )
    fix = (
        "Caddy renews what it obtained (`aiws logs caddy` says why it has not); `aiws install` "
        "renews the --internal-ca site certificate"
    )
    return _finding(host, "certificate", _level(expired, overdue), line, fix)


def clock_checks(host: str, skew: float) -> list[Check]:
    size = abs(skew)
    direction = "ahead of" if skew > 0 else "behind"
    return [
        _finding(
            host,
            "clock",
            _level(size > CLOCK_ERROR_S, size > CLOCK_WARNING_S),
            f"{size:.1f} s {direction} this controller",
            "set the host's time (timedatectl set-time, or an NTP server it can reach): "
            "TLS and ACME need it",
        )
    ]


def _level(error: bool, warning: bool) -> Severity:
    return "error" if error else "warning" if warning else "ok"


def _finding(host: str, check: str, severity: Severity, line: str, fix: str) -> Check:
    """A check's result; its fix only when something is wrong."""
    return Check(
        host=host, check=check, severity=severity, line=line, fix="" if severity == "ok" else fix
    )


def acp_checks(host: str, results: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for result in results:
        name = result["name"]
        if result["ok"]:
            line = f"{name}: initialize answered in {result['seconds']:.2f} s ({result['detail']})"
            checks.append(Check(host=host, check=f"acp:{name}", severity="ok", line=line))
        else:
            checks.append(
                Check(
                    host=host,
                    check=f"acp:{name}",
                    severity="error",
                    line=f"{name}: no ACP initialize: {result['detail']}",
                    fix=f"journalctl -u 'aiws-acp-{name}@*' says why; a rerun of aiws install "
                    "restores its launcher and configuration",
                )
            )
    return checks
