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
from aiws.bundle.verify import VerifiedBundle, read_target, verify_bundle
from aiws.catalog import Catalog
from aiws.errors import ExitCode, UsageError
from aiws.ledger import PhaseRecord, record_run, run_record
from aiws.request import InstallRequest
from aiws.status import probe
from aiws.summary import BundleIdentity, DeploySummary, PhaseTime, build_summary
from aiws.target import Target

# Roles the install playbook runs for every selection, before the components.
BASE_ROLES = ("base", "bundle")


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


def bundle_target(request: InstallRequest) -> guard.BundleTarget | None:
    """The bundle's (platform, arch), read cheaply for the guard; nothing verified yet."""
    if request.bundle is None:
        return None
    platform, arch = read_target(request.bundle)
    return guard.BundleTarget(platform=platform, arch=arch)


def verified_bundle(
    request: InstallRequest, catalog: Catalog, selection: list[str]
) -> tuple[VerifiedBundle, Catalog]:
    """Verify every file of the bundle and pin the catalog to the versions it carries.

    Runs on the controller before any host changes: a corrupt or incomplete bundle stops
    the install here, naming the file or the missing component.
    """
    assert request.bundle is not None
    bundle = verify_bundle(request.bundle)
    for name in selection:
        bundle.for_component(name)  # raises, naming the component, when it is missing
    conflicts = [
        f"{name} {fields['version']} (bundle has {bundle.versions[name]})"
        for name, fields in request.component_overrides.items()
        if name in bundle.versions
        and fields.get("version", bundle.versions[name]) != bundle.versions[name]
    ]
    if conflicts:
        raise UsageError(
            f"--set asks for versions the bundle does not carry: {', '.join(conflicts)}",
            "drop those --set options, or build a bundle with them",
        )
    pins = {
        name: {"version": v} for name, v in bundle.versions.items() if name in catalog.components
    }
    return bundle, catalog.with_overrides(pins)


def bundle_vars(bundle: VerifiedBundle, selection: list[str]) -> dict[str, Any]:
    """What the `bundle` role ships and unpacks: only the artifacts the selection needs."""
    needed = {bundle.for_component(name).name for name in selection}
    return {
        "sha256": bundle.sha256,
        "target": f"{bundle.platform}-{bundle.arch}",
        "artifacts": [
            {
                "name": a.name,
                "version": a.version,
                "tarball": str(a.tarball),
                "sha256": a.sha256,
                "components": a.components,
            }
            for a in bundle.artifacts
            if a.name in needed
        ],
    }


def install(
    request: InstallRequest,
    catalog: Catalog,
    target: Target,
    progress_factory: Callable[[list[str]], Any] | None = None,
) -> InstallOutcome:
    timer = Timer()
    report = timer.measure("guard", lambda: check_request(request, catalog))
    selection = list(report.components)
    warnings = [finding.line for finding in report.warnings]
    target_of_bundle = bundle_target(request)
    warnings += timer.measure(
        "preflight", lambda: check_hosts(request, catalog, target, target_of_bundle)
    )
    identity: BundleIdentity | None = None
    bundle_extra: dict[str, Any] = {}
    if request.bundle is not None:
        bundle, catalog = timer.measure(
            "verify", lambda: verified_bundle(request, catalog, selection)
        )
        identity = BundleIdentity(
            file=str(request.bundle),
            sha256=bundle.sha256,
            target=f"{bundle.platform}-{bundle.arch}",
        )
        bundle_extra = {"aiws_bundle": bundle_vars(bundle, selection)}
    run_id = driver.new_run_id()
    extravars = {**install_vars(request, catalog, selection, run_id), **bundle_extra}
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
        bundle=identity,
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
