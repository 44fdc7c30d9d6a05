"""`aiws install`."""

from __future__ import annotations

from pathlib import Path

import typer

from aiws import installer
from aiws.catalog import load_catalog
from aiws.cli.options import INVENTORY, JSON
from aiws.errors import UsageError
from aiws.output import Output
from aiws.progress import LineProgress, RunProgress
from aiws.request import InstallRequest, parse_sets, split_csv
from aiws.summary import render_summary
from aiws.target import resolve_target


def install(
    mode: str = typer.Option(
        ..., "--mode", "-m", help="Run mode: all-in-one, core or local (see `aiws versions`)."
    ),
    bundle: Path | None = typer.Option(
        None,
        "--bundle",
        "-b",
        help="Offline bundle to install from (verified before any change).",
        dir_okay=False,
    ),
    inventory: Path | None = INVENTORY,
    domain: str | None = typer.Option(
        None, "--domain", "-d", help="Public FQDN of the Bridge (HTTPS certificate for it)."
    ),
    internal_ca: bool = typer.Option(
        False,
        "--internal-ca",
        help="Serve the Bridge with a certificate from a local internal CA "
        "instead of a domain's certificate.",
    ),
    only: list[str] | None = typer.Option(
        None,
        "--only",
        help="Install only these components of the mode (comma-separated, repeatable).",
    ),
    backend: list[str] | None = typer.Option(
        None, "--backend", help="Runtime backend: systemd (default), docker or k3s (repeatable)."
    ),
    sets: list[str] | None = typer.Option(
        None,
        "--set",
        "-e",
        help="KEY=VALUE: an Ansible extra var, or <component>.version=X "
        "to override a pinned version for this run (repeatable).",
    ),
    check: bool = typer.Option(
        False, "--check", help="Plan only: run in Ansible check mode and change nothing."
    ),
    json_output: bool = JSON,
) -> None:
    """Install (or converge) the AI Workspace Runtime. Reruns change nothing."""
    out = Output(json_mode=json_output)
    catalog = load_catalog()
    overrides, extra_vars = parse_sets(sets, catalog)
    if bundle is not None and not bundle.is_file():
        raise UsageError(f"bundle {bundle} does not exist", "pass the path of a built bundle file")
    request = InstallRequest(
        mode=mode,
        only=split_csv(only),
        domain=domain,
        internal_ca=internal_ca,
        backends=split_csv(backend) or ("systemd",),
        component_overrides=overrides,
        extra_vars=extra_vars,
        bundle=bundle,
        check=check,
    )
    target = resolve_target(inventory)
    outcome = installer.install(
        request, catalog.with_overrides(overrides), target, _progress_factory(out, mode)
    )
    if json_output:
        out.data(outcome.summary)
    else:
        render_summary(outcome.summary, out.out)
    raise typer.Exit(int(outcome.exit_code))


def _progress_factory(out: Output, mode: str):  # type: ignore[no-untyped-def]
    if out.json_mode:
        return None
    if out.interactive:
        return lambda roles: RunProgress(out.err, roles, f"install {mode}")
    return lambda roles: LineProgress(out.err, roles)
