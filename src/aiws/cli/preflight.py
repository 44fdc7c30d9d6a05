"""`aiws preflight`."""

from __future__ import annotations

from pathlib import Path

import typer

from aiws import guard, hostfacts
from aiws.catalog import load_catalog
from aiws.cli.options import INVENTORY, JSON
from aiws.errors import ExitCode
from aiws.output import Output
from aiws.request import InstallRequest, split_csv
from aiws.target import resolve_target


def preflight(
    mode: str = typer.Option(
        ..., "--mode", "-m", help="Run mode to check: all-in-one, core or local."
    ),
    inventory: Path | None = INVENTORY,
    domain: str | None = typer.Option(None, "--domain", "-d", help="Public FQDN of the Bridge."),
    internal_ca: bool = typer.Option(False, "--internal-ca", help="Use a local internal CA."),
    only: list[str] | None = typer.Option(
        None, "--only", help="Components to check (comma-separated)."
    ),
    backend: list[str] | None = typer.Option(None, "--backend", help="systemd, docker or k3s."),
    json_output: bool = JSON,
) -> None:
    """Run the run-mode guard and the host checks. Changes nothing.

    Exit 0 when an install would be allowed, 2 when the guard refuses it.
    """
    out = Output(json_mode=json_output)
    catalog = load_catalog()
    request = InstallRequest(
        mode=mode,
        only=split_csv(only),
        domain=domain,
        internal_ca=internal_ca,
        backends=split_csv(backend) or ("systemd",),
    )
    reports = {"(request)": guard.evaluate(request, catalog)}
    if reports["(request)"].ok:
        target = resolve_target(inventory)
        for host, facts in sorted(hostfacts.gather(target, catalog).items()):
            reports[host] = guard.evaluate(request, catalog, facts)
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


def _render(out: Output, reports: dict[str, guard.GuardReport], ok: bool) -> None:
    for host, report in reports.items():
        for finding in report.findings:
            tag = "[red]refused[/]" if finding.severity == "error" else "[yellow]warning[/]"
            out.print(f"{tag} {host}: {finding.line}  [dim]({finding.code})[/]")
        if report.ok and host != "(request)":
            out.print(f"[green]ok[/] {host}: {', '.join(report.components)}")
    out.print("preflight: " + ("[green]passed[/]" if ok else "[red]refused[/]"))
