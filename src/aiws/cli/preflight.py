"""`aiws preflight`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from aiws.bundle.manifest import BundleManifest
from aiws.bundle.verify import open_package, read_manifest
from aiws.cli.options import (
    AllowDowngradeOpt,
    BackendOpt,
    BundleOpt,
    ConfigOpt,
    DomainOpt,
    InternalCaOpt,
    InventoryOpt,
    JsonOpt,
    ModeOpt,
    OnlyOpt,
    SetOpt,
    Sha256Opt,
    TrustKeyOpt,
)
from aiws.cli.output import Output
from aiws.commands import hostfacts, recall
from aiws.commands import install as install_logic
from aiws.errors import ExitCode
from aiws.guard import checks as guard
from aiws.model.catalog import load_catalog
from aiws.model.hosts import resolve_hosts
from aiws.model.request import request_from_cli
from aiws.model.trust import Trust


def preflight(
    mode: ModeOpt = None,
    bundle: BundleOpt = None,
    trust_key: TrustKeyOpt = None,
    sha256: Sha256Opt = None,
    config: ConfigOpt = None,
    inventory: InventoryOpt = None,
    domain: DomainOpt = None,
    internal_ca: InternalCaOpt = None,
    only: OnlyOpt = None,
    backend: BackendOpt = None,
    sets: SetOpt = None,
    allow_downgrade: AllowDowngradeOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Run the run-mode guard and the host checks. Changes nothing.

    With --bundle, also check that the bundle's target matches each host; with
    --trust-key or --sha256, the package is checked against them first (exit 1 if not).
    Exit 0 when an install would be allowed, 2 when the guard refuses it.
    """
    out = Output(json_mode=json_output)
    catalog = load_catalog()
    request = request_from_cli(
        catalog,
        mode=mode,
        only=only,
        domain=domain,
        internal_ca=internal_ca,
        backend=backend,
        sets=sets,
        bundle=bundle,
        trust_key=trust_key,
        sha256=sha256,
        config=config,
        allow_downgrade=allow_downgrade,
    )
    catalog = catalog.with_overrides(request.component_overrides)
    manifest = _bundle_manifest(request.bundle, request.trust)
    bundle_target = None
    if manifest is not None:
        # The versions the bundle would install, as the install pins them.
        catalog = install_logic.pin_to_bundle(request, catalog, manifest)
        bundle_target = guard.BundleTarget(
            platform=manifest.target.platform, arch=manifest.target.arch
        )
    target = resolve_hosts(inventory)
    early = recall.early_report(request, catalog)
    if early is None or early.ok:
        request = recall.complete(request, catalog, target)
    reports = {"(request)": guard.evaluate(request, catalog)}
    if reports["(request)"].ok:
        for host, facts in sorted(hostfacts.gather(target, catalog).items()):
            reports[host] = guard.evaluate(request, catalog, facts, bundle_target)
    ok = all(report.ok for report in reports.values())
    if json_output:
        out.data(
            {
                "ok": ok,
                "hosts": {
                    host: {
                        "components": list(report.components),
                        "findings": [vars(f) for f in report.findings],
                    }
                    for host, report in reports.items()
                },
            }
        )
    else:
        _render(out, reports, ok)
    raise typer.Exit(int(ExitCode.OK if ok else ExitCode.USAGE))


def _bundle_manifest(bundle: Path | None, trust: Trust) -> BundleManifest | None:
    """The bundle's manifest (its target and versions), read without verifying the package;
    with pins, from the package checked against them."""
    if bundle is None:
        return None
    if trust.pinned:
        with open_package(bundle, trust) as checked:
            return checked.manifest
    return read_manifest(bundle)


def _render(out: Output, reports: dict[str, guard.GuardReport], ok: bool) -> None:
    for host, report in reports.items():
        where = escape(host)
        for finding in report.findings:
            tag = "[red]refused[/]" if finding.severity == "error" else "[yellow]warning[/]"
            out.print(f"{tag} {where}: {escape(finding.line)}  [dim]({escape(finding.code)})[/]")
        if report.ok and host != "(request)":
            out.print(f"[green]ok[/] {where}: {escape(', '.join(report.components))}")
    out.print("preflight: " + ("[green]passed[/]" if ok else "[red]refused[/]"))
