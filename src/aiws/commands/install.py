"""`aiws install`: guard, verify, gather facts, guard again, converge, record, summarise.

Nothing on a host changes before both guard passes have found no error and the bundle's
package and every tarball a host still has to unpack are verified. A rerun with the same
bundle hashes the package once and unpacks nothing (the hosts' unpack markers say so).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiws import __version__, resources
from aiws.ansible import driver
from aiws.ansible.ledger import RunRecord, record_run, run_record
from aiws.bundle.manifest import ArtifactEntry, BundleManifest
from aiws.bundle.verify import VerifiedBundle, open_package, verify_tarballs
from aiws.commands import connected, hostfacts, recall, report
from aiws.commands.bridge import FirstTokenOffer, offers_first_token
from aiws.commands.status import StatusReport, probe, probe_specs, report_of
from aiws.commands.summary import BundleIdentity, DeploySummary, build_summary
from aiws.errors import AiwsError, ExitCode, UsageError
from aiws.guard import checks as guard
from aiws.model.catalog import Catalog
from aiws.model.config import TEST_MODELS, OperatorConfig, agent_models
from aiws.model.hosts import Hosts
from aiws.model.request import InstallRequest
from aiws.model.resolve import resolved_catalog
from aiws.timing import Timer

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


@dataclass(frozen=True)
class InstallPlan:
    """What one install run does, decided on the controller before any host changes."""

    catalog: Catalog  # pinned to the bundle's versions
    selection: list[str]
    bundle: VerifiedBundle
    facts: dict[str, guard.HostFacts]
    warnings: list[str]


def prepare(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    progress: Callable[[str], None] = lambda _: None,
) -> InstallRequest:
    """The request completed from the hosts' record (aiws.commands.recall), after what it already
    says has passed the guard (a bad flag is refused before any host is contacted); without
    --bundle, with the bundle this controller built or cached for the hosts
    (aiws.commands.connected) once the guard has accepted them."""
    early = recall.early_report(request, catalog)
    if early is not None and not early.ok:
        raise GuardRefusal(early)
    request = recall.complete(request, catalog, target)
    if request.bundle is not None:
        return request
    catalog = catalog.with_overrides(request.component_overrides)
    report = check_request(request, catalog, bundle_needed=False)
    facts, _ = check_hosts(request, catalog, target)
    package = connected.bundle_for(catalog, list(report.components), facts, progress)
    return replace(request, bundle=package)


def check_request(
    request: InstallRequest, catalog: Catalog, bundle_needed: bool = True
) -> guard.GuardReport:
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
    if request.bundle is None and bundle_needed:
        raise UsageError(
            "aiws install needs --bundle FILE (everything comes from a verified bundle)",
            "build one with `aiws bundle build` and pass it with --bundle",
        )
    return report


def check_hosts(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    bundle: guard.BundleTarget | None = None,
    artifacts: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, guard.HostFacts], list[str]]:
    """The guard with each host's facts: the facts and the warnings; GuardRefusal on errors."""
    warnings: list[str] = []
    facts = hostfacts.gather(target, catalog, artifacts)
    for host, host_facts in sorted(facts.items()):
        report = guard.evaluate(request, catalog, host_facts, bundle)
        if not report.ok:
            raise GuardRefusal(report, host)
        warnings += [f"{host}: {finding.line}" for finding in report.warnings]
    return facts, warnings


def pin_to_bundle(request: InstallRequest, catalog: Catalog, manifest: BundleManifest) -> Catalog:
    """The catalog at the versions the bundle carries; a --set that contradicts it is refused."""
    versions = manifest.versions
    conflicts = [
        f"{name} {fields['version']} (bundle has {versions[name]})"
        for name, fields in request.component_overrides.items()
        if name in versions and fields.get("version", versions[name]) != versions[name]
    ]
    if conflicts:
        raise UsageError(
            f"--set asks for versions the bundle does not carry: {', '.join(conflicts)}",
            "drop those --set options, or build a bundle with them",
        )
    pins = {name: {"version": v} for name, v in versions.items() if name in catalog.components}
    return catalog.with_overrides(pins)


def needed_artifacts(
    manifest: BundleManifest, selection: list[str]
) -> tuple[list[ArtifactEntry], list[str]]:
    """The bundle's tarballs the selection needs, and the components the bundle lacks."""
    needed: dict[str, ArtifactEntry] = {}
    lacking: list[str] = []
    for name in selection:
        entry = next(
            (a for a in manifest.artifacts if name in a.components or a.name == name), None
        )
        if entry is None:
            lacking.append(name)
        else:
            needed[entry.name] = entry
    return list(needed.values()), lacking


def runtime_dir(catalog: Catalog, artifact: ArtifactEntry) -> str:
    return f"{catalog.paths.runtime}/{artifact.name}/{artifact.version}"


def plan(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    timer: Timer,
    report: guard.GuardReport,
) -> InstallPlan:
    """The run's plan, after the request passed the guard (`report`)."""
    selection = list(report.components)
    assert request.bundle is not None
    package = request.bundle
    opened = timer.measure("verify-package", lambda: open_package(package, request.trust))
    with opened:  # one open file from the hash to the last tarball read
        manifest = opened.manifest
        catalog = pin_to_bundle(request, catalog, manifest)
        needed, lacking = needed_artifacts(manifest, selection)
        where = [{"name": a.name, "dest": runtime_dir(catalog, a)} for a in needed]
        bundle_target = guard.BundleTarget(
            platform=manifest.target.platform, arch=manifest.target.arch
        )
        facts, warnings = timer.measure(
            "preflight", lambda: check_hosts(request, catalog, target, bundle_target, where)
        )
        if lacking:  # after the guard: a bundle for another host says so first
            raise UsageError(
                f"bundle {package.name} has no {', '.join(repr(n) for n in lacking)}",
                "rebuild it with those components in --components",
            )
        missing = {
            a.name for a in needed for f in facts.values() if f.unpacked.get(a.name) != a.sha256
        }
        bundle = timer.measure("verify", lambda: verify_tarballs(opened, only=missing, files=False))
    warnings = [finding.line for finding in report.warnings] + warnings
    return InstallPlan(catalog, selection, bundle, facts, warnings)


def bundle_vars(plan: InstallPlan, target: Hosts) -> dict[str, Any]:
    """What the roles get as `aiws_bundle`: where each needed runtime tree is, and which
    tarballs the hosts still lack (only those were verified file by file)."""
    bundle, catalog = plan.bundle, plan.catalog
    needed = {bundle.for_component(name).name for name in plan.selection}
    upload_dir = f"{catalog.paths.cache}/bundle"
    runtime: dict[str, str] = {}
    unpack: list[dict[str, Any]] = []
    for artifact in bundle.artifacts:
        if artifact.name not in needed:
            continue
        entry = next(a for a in bundle.manifest.artifacts if a.name == artifact.name)
        runtime[artifact.name] = runtime_dir(catalog, entry)
        if artifact.checked:
            src = str(artifact.tarball) if target.is_local else f"{upload_dir}/{entry.tarball}"
            unpack.append(
                {
                    "name": artifact.name,
                    "version": artifact.version,
                    "sha256": artifact.sha256,
                    "tarball": str(artifact.tarball),
                    "src": src,
                    "dest": runtime[artifact.name],
                }
            )
    return {
        "sha256": bundle.sha256,
        "target": f"{bundle.platform}-{bundle.arch}",
        "local": target.is_local,
        "upload_dir": upload_dir,
        "runtime": runtime,
        "unpack": unpack,
    }


def controller_paths(target: Hosts, runtime_root: str) -> list[str]:
    """What the running controller itself uses on a local target: its run logs, and its
    installation (its venv; when it was bootstrapped under the runtime root, the whole
    directory there that holds it, e.g. /opt/aiws/controller with the bundle's controller
    tree it came from). A purge keeps them: aiws removes what it installed, not itself."""
    if not target.is_local:
        return []
    installation = Path(sys.prefix).resolve()
    root = Path(runtime_root)
    if installation.is_relative_to(root) and installation != root:
        installation = root / installation.relative_to(root).parts[0]
    return [str(driver.log_root()), str(installation)]


def run_vars(
    request: InstallRequest, plan: InstallPlan, target: Hosts, run_id: str, timer: Timer
) -> dict[str, Any]:
    installed = {name for f in plan.facts.values() for name in f.installed}
    started = datetime.now(UTC)
    return {
        # The run's record, completed and written by the play's last task (aiws_finish).
        "record": None
        if request.check
        else {
            **install_record(request, plan, run_id, started, timer).model_dump(mode="json"),
            "started_epoch": started.timestamp(),
        },
        "id": run_id,
        "mode": request.mode,
        "components": plan.selection,
        "installed": sorted(installed),
        "mirror_after": plan.catalog.mirror_after_vault(plan.selection, installed),
        "layout_ok": all(f.layout_ok for f in plan.facts.values()),
        # Probed as the play's last task over an inventory; on this host, in-process after.
        "probes": [] if target.is_local else probe_specs(plan.catalog),
        "package_lock_held": any(f.package_lock.held for f in plan.facts.values()),
        "keep_paths": controller_paths(target, plan.catalog.paths.runtime),
        "config": request.config.config.model_dump(mode="json"),
        # Every model LiteLLM serves with this configuration (a consumer's own list, where
        # the configuration gives one, narrows it: roles/bridge).
        "served_models": request.config.config.model_names(),
        "agent_models": agent_models_of(request.config.config, plan.catalog),
        "domain": request.domain or "",
        "internal_ca": request.internal_ca,
        "backends": list(request.backends),
        "aiws_version": __version__,
    }


def install_record(
    request: InstallRequest,
    plan: InstallPlan,
    run_id: str,
    started: datetime,
    timer: Timer,
    outcome: driver.RunResult | None = None,
) -> RunRecord:
    """The install's run record, with the operator's configuration it applied (secret names
    only, no values) and its choices: what a bare rerun repeats (aiws.commands.recall)."""
    return run_record(
        "install", run_id, started, mode=request.mode, components=plan.selection,
        phases=timer.phases, outcome=outcome, config=request.config.effective(),
        request=request.recorded(),
    )  # fmt: skip


def agent_models_of(config: OperatorConfig, catalog: Catalog) -> dict[str, list[str]]:
    """Each agent's models, its default first (the skeleton hands them to its role)."""
    return {
        name: agent_models(config, component.test_model or TEST_MODELS[0])
        for name, component in catalog.components.items()
        if component.kind == "agent"
    }


def install(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    progress_factory: Callable[[list[str]], Any] | None = None,
    lock: AbstractContextManager[object] | None = None,
) -> InstallOutcome:
    """The whole install; `lock` (aiws.ansible.runlock) is held from just after the request-only
    guard, so a bad request is refused at once, to the end, summary included."""
    timer = Timer()
    report = timer.measure("guard", lambda: check_request(request, catalog))
    with lock if lock is not None else nullcontext():
        return _install(request, catalog, target, progress_factory, timer, report)


def _install(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    progress_factory: Callable[[list[str]], Any] | None,
    timer: Timer,
    report: guard.GuardReport,
) -> InstallOutcome:
    chosen = plan(request, catalog, target, timer, report)
    run_id = driver.new_run_id()
    first_token = (
        FirstTokenOffer.make()
        if offers_first_token(chosen.selection, request.check, chosen.facts)
        else None
    )
    extravars = {
        "aiws_catalog": resolved_catalog(chosen.catalog, chosen.bundle.platform),
        "aiws_run": {
            **run_vars(request, chosen, target, run_id, timer),
            "bridge_token_sha256": first_token.sha256 if first_token else "",
        },
        "aiws_bundle": bundle_vars(chosen, target),
    }
    roles = [*BASE_ROLES, *chosen.selection]
    progress = progress_factory(roles) if progress_factory else None
    result = _converge(extravars, target, request.check, progress, run_id)
    timer.phases += result.phases
    status = timer.measure("health", lambda: health(result, target, chosen.catalog))
    if not request.check and not recorded_in_play(result):
        record = install_record(request, chosen, run_id, result.started_at, timer, result)
        record_run(target, chosen.catalog, record)
    warnings = list(chosen.warnings)
    if not request.check:
        warnings += remember_run(request, chosen, result, timer)
    bundle = chosen.bundle
    summary = build_summary(
        catalog=chosen.catalog,
        mode=request.mode,
        selection=chosen.selection,
        run=result,
        status=status,
        phases=timer.phases,
        domain=request.domain,
        internal_ca=request.internal_ca,
        check=request.check,
        bundle=BundleIdentity(
            file=str(bundle.package),
            sha256=bundle.sha256,
            target=f"{bundle.platform}-{bundle.arch}",
        ),
        warnings=warnings,
        models=request.config.config.model_names(),
        bridge_tokens=first_token.shown(result) if first_token else [],
        repeated=request.recalled,
        installed_before={host: facts.versions for host, facts in chosen.facts.items()},
    )
    return InstallOutcome(summary=summary, warnings=chosen.warnings)


def remember_run(
    request: InstallRequest, plan: InstallPlan, result: driver.RunResult, timer: Timer
) -> list[str]:
    """Add this run to the controller's history (`aiws report`); a warning if it cannot."""
    bundle = plan.bundle
    needed = {bundle.for_component(name).name for name in plan.selection}
    before = {name for facts in plan.facts.values() for name in facts.installed}
    had = [name in before for name in plan.selection]
    entry = report.RunEntry(
        id=result.run_id,
        verb="install",
        mode=request.mode,
        ok=result.ok,
        started_at=result.started_at,
        seconds=round(sum(p.seconds for p in timer.phases), 3),
        platform=bundle.platform,
        arch=bundle.arch,
        bundle="cold" if any(a.checked for a in bundle.artifacts if a.name in needed) else "cached",
        run="rerun" if all(had) else ("first" if not any(had) else "partial"),
        hosts=len(plan.facts),
        phases=timer.phases,
    )
    path = report.history_file(driver.log_root())
    try:
        report.append(path, entry)
    except (OSError, AiwsError) as exc:
        return [f"this run's times were not added to {path}: {exc}"]
    return []


def recorded_in_play(result: driver.RunResult) -> bool:
    """Whether the play's last task recorded the run on every host."""
    return bool(result.facts) and all(
        (facts.get("aiws_status") or {}).get("run_recorded") == result.run_id
        for facts in result.facts.values()
    )


def health(result: driver.RunResult, target: Hosts, catalog: Catalog) -> StatusReport:
    """What the run's last task probed; probed again only when the run ended before it."""
    reports = {host: facts.get("aiws_status") for host, facts in result.facts.items()}
    if result.ok and reports and all(reports.values()):
        return report_of({h: r for h, r in reports.items() if r}, catalog, 0.0)
    return probe(target, catalog)


def _converge(
    extravars: dict[str, Any], target: Hosts, check: bool, progress: Any, run_id: str
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
