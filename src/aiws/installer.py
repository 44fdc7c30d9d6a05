"""`aiws install`: guard, gather facts, guard again with them, converge, record, summarise.

Nothing on a host changes before both guard passes have found no error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from aiws import __version__, driver, guard, hostfacts, resources
from aiws.catalog import Catalog
from aiws.errors import ExitCode, UsageError
from aiws.ledger import PhaseRecord, record_run, run_record
from aiws.request import InstallRequest
from aiws.status import probe
from aiws.summary import BundleIdentity, DeploySummary, PhaseTime, build_summary
from aiws.target import Target

# Roles the install playbook runs for every selection, before the components.
BASE_ROLES = ("base",)


class GuardRefusal(UsageError):
    """The guard found errors; every finding is one line."""

    def __init__(self, report: guard.GuardReport, host: str | None = None):
        where = f" on {host}" if host else ""
        lines = [finding.line for finding in report.errors]
        super().__init__(
            f"refused{where}: " + lines[0]
            if len(lines) == 1
            else f"refused{where}, {len(lines)} problems:\n  " + "\n  ".join(lines)
        )
        self.report = report


@dataclass
class InstallOutcome:
    summary: DeploySummary
    warnings: list[str]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.summary.run.ok else ExitCode.FAILED


class Timer:
    def __init__(self) -> None:
        self.phases: list[PhaseTime] = []

    def measure(self, name: str, func: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return func()
        finally:
            self.phases.append(PhaseTime(name=name, seconds=round(time.monotonic() - started, 3)))


def check_request(request: InstallRequest, catalog: Catalog) -> guard.GuardReport:
    """The guard's host-independent rules; raises GuardRefusal on any error."""
    report = guard.evaluate(request, catalog)
    if not report.ok:
        raise GuardRefusal(report)
    missing = [c for c in report.components if not resources.has_role(c)]
    if missing:
        raise UsageError(
            f"aiws {__version__} has no role yet for: {', '.join(missing)}",
            "select the components it can install with --only (see `aiws versions`)",
        )
    return report


def check_hosts(
    request: InstallRequest,
    catalog: Catalog,
    target: Target,
    bundle: guard.BundleTarget | None = None,
) -> list[str]:
    """The guard with each host's facts; returns warnings, raises GuardRefusal on errors."""
    warnings: list[str] = []
    for host, facts in sorted(hostfacts.gather(target, catalog).items()):
        report = guard.evaluate(request, catalog, facts, bundle)
        if not report.ok:
            raise GuardRefusal(report, host)
        warnings += [f"{host}: {finding.line}" for finding in report.warnings]
    return warnings


def install_vars(
    request: InstallRequest, catalog: Catalog, selection: list[str], run_id: str
) -> dict[str, Any]:
    return {
        **request.extra_vars,
        "aiws_catalog": catalog.as_ansible_vars(),
        "aiws_run": {
            "id": run_id,
            "mode": request.mode,
            "components": selection,
            "domain": request.domain or "",
            "internal_ca": request.internal_ca,
            "backends": list(request.backends),
            "aiws_version": __version__,
        },
    }


def install(
    request: InstallRequest,
    catalog: Catalog,
    target: Target,
    progress_factory: Callable[[list[str]], Any] | None = None,
    bundle: BundleIdentity | None = None,
) -> InstallOutcome:
    timer = Timer()
    report = timer.measure("guard", lambda: check_request(request, catalog))
    selection = list(report.components)
    warnings = [finding.line for finding in report.warnings]
    warnings += timer.measure("preflight", lambda: check_hosts(request, catalog, target))
    run_id = driver.new_run_id()
    extravars = install_vars(request, catalog, selection, run_id)
    roles = [*BASE_ROLES, *selection]
    progress = progress_factory(roles) if progress_factory else None
    result = _converge(extravars, target, request.check, progress, run_id)
    timer.phases += [PhaseTime(name=p.name, seconds=p.seconds) for p in result.phases]
    status = timer.measure("health", lambda: probe(target, catalog))
    if not request.check:
        phases = [PhaseRecord(name=p.name, seconds=p.seconds) for p in timer.phases]
        record_run(target, catalog, run_record(result, "install", request.mode, selection, phases))
    summary = build_summary(
        catalog=catalog,
        mode=request.mode,
        selection=selection,
        run=result,
        status=status,
        phases=timer.phases,
        domain=request.domain,
        check=request.check,
        bundle=bundle,
        warnings=warnings,
    )
    return InstallOutcome(summary=summary, warnings=warnings)


def _converge(
    extravars: dict[str, Any], target: Target, check: bool, progress: Any, run_id: str
) -> driver.RunResult:
    with progress if progress is not None else nullcontext():
        return driver.run_playbook(
            resources.playbook("install"),
            target,
            extravars,
            check=check,
            progress=progress,
            run_id=run_id,
        )
