"""`aiws install`."""

from __future__ import annotations

from typing import Annotated

import typer

from aiws.ansible import runlock
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
    WaitOpt,
)
from aiws.cli.output import Output
from aiws.cli.progress import LineProgress, RunProgress
from aiws.commands import install as install_logic
from aiws.commands.summary import render_summary
from aiws.model.catalog import load_catalog
from aiws.model.hosts import resolve_hosts
from aiws.model.request import request_from_cli


def install(
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
    check: Annotated[
        bool,
        typer.Option("--check", help="Plan only: run in Ansible check mode and change nothing."),
    ] = False,
    json_output: JsonOpt = False,
    wait: WaitOpt = runlock.DEFAULT_WAIT_SECONDS,
) -> None:
    """Install (or converge) the AI Workspace Runtime. Reruns change nothing.

    A rerun needs no --mode, --domain or TLS flag: what neither the flags nor the
    configuration file say is taken from the hosts' last install (the summary says what).
    One install or uninstall runs at a time on this machine; a second one waits (--wait).
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
        check=check,
        allow_downgrade=allow_downgrade,
    )
    target = resolve_hosts(inventory)
    request = install_logic.prepare(request, catalog, target, out.info)
    outcome = install_logic.install(
        request,
        catalog.with_overrides(request.component_overrides),
        target,
        _progress_factory(out, request.mode),
        lock=runlock.held(f"aiws install --mode {request.mode}", wait, out.err),
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
