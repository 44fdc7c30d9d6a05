"""`aiws backup` and `aiws restore`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aiws.ansible import runlock
from aiws.backup.passphrase import read_passphrase
from aiws.cli.options import BundleOpt, JsonOpt, WaitOpt
from aiws.cli.output import Output
from aiws.commands import backup as backup_logic
from aiws.commands import install as install_logic
from aiws.commands import restore as restore_logic
from aiws.commands.install import InstallOutcome
from aiws.commands.summary import render_summary
from aiws.errors import UsageError
from aiws.model.catalog import Catalog, load_catalog
from aiws.model.hosts import Hosts, require_root, resolve_hosts
from aiws.model.request import InstallRequest

PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from this file (0600; a last newline is dropped). Never "
        "on the command line: other users can read a command line.",
        dir_okay=False,
    ),
]
PassphraseStdinOpt = Annotated[
    bool, typer.Option("--passphrase-stdin", help="Read the passphrase from stdin.")
]


def backup(
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="The archive to write (0600). Default: aiws-<host>-<time>.aiws-backup here.",
        dir_okay=False,
    ),
    with_workspaces: bool = typer.Option(
        False, "--with-workspaces", help="Keep the agents' workspaces too."
    ),
    list_backups: bool = typer.Option(
        False, "--list", help="List the backups this host's ledger records; make none."
    ),
    passphrase_file: PassphraseFileOpt = None,
    passphrase_stdin: PassphraseStdinOpt = False,
    json_output: JsonOpt = False,
    wait: WaitOpt = runlock.DEFAULT_WAIT_SECONDS,
) -> None:
    """Seal the whole site into one encrypted archive: every database (pg_dump, while it
    serves), Vault's storage and unseal key, every secret, the configuration, the Bridge's
    tokens and threads, Caddy's certificates, OpenClaw's and the agents' state.

    `aiws restore` rebuilds the site from it and the same bundle (docs/backup.md).
    """
    out_ = Output(json_mode=json_output)
    target = resolve_hosts(None)
    require_root(target, "aiws backup")
    catalog = load_catalog()
    if list_backups:
        _list(out_, backup_logic.recorded_backups(target, catalog), json_output)
        return
    passphrase = read_passphrase(passphrase_file, passphrase_stdin, new=True)
    with runlock.held("aiws backup", wait, out_.err):
        outcome = backup_logic.backup(
            target,
            catalog,
            out or backup_logic.default_out(),
            passphrase,
            with_workspaces=with_workspaces,
        )
    if json_output:
        out_.data(outcome.as_json())
        return
    summary = outcome.as_json()
    out_.print(f"[green]backup[/]: {escape(str(outcome.path))}")
    out_.print(
        f"  {summary['size'] / 1e6:.1f} MB in {summary['seconds']:.1f} s; "
        f"databases: {escape(', '.join(summary['databases']) or 'none')}; "
        f"files: {summary['files']}"
    )
    out_.print(f"  sha256 {summary['sha256']}")
    for path in summary["sqlite"]["as_is"]:
        out_.warn(f"{path}: a SQLite database copied as it is (no consistent copy could be made)")
    for item in summary["not_kept"]:
        out_.print(f"  [dim]not kept[/] {escape(item['path'])}: {escape(item['why'])}")
    out_.print("Keep the archive and its passphrase apart: together they open every secret.")


def _list(out: Output, records: list, json_output: bool) -> None:  # type: ignore[type-arg]
    if json_output:
        out.data([record.model_dump(mode="json") for record in records])
        return
    if not records:
        out.print("no backups recorded on this host")
        return
    table = Table(title_justify="left")
    for column in ("run", "when", "archive", "size", "workspaces", "sha256"):
        table.add_column(column)
    for record in records:
        request = record.request or {}
        table.add_row(
            escape(record.id),
            record.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(str(request.get("out", ""))),
            f"{int(request.get('size', 0)) / 1e6:.1f} MB",
            "yes" if request.get("with_workspaces") else "no",
            escape(str(request.get("sha256", ""))[:16]),
        )
    out.print(table)


def restore(
    archive: Path = typer.Argument(..., help="The archive from `aiws backup`.", dir_okay=False),
    bundle: BundleOpt = None,
    check: bool = typer.Option(
        False, "--check", help="Check the archive (and the bundle against it); change nothing."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Replace the site this host has with the backup's."
    ),
    passphrase_file: PassphraseFileOpt = None,
    passphrase_stdin: PassphraseStdinOpt = False,
    json_output: JsonOpt = False,
    wait: WaitOpt = runlock.DEFAULT_WAIT_SECONDS,
) -> None:
    """Rebuild the site a backup holds on this host, from the bundle it was installed from:
    the same tokens, keys, Vault contents, databases, threads and certificates.

    Everything is checked before any change (passphrase, every member's SHA256, the bundle's
    versions against the backup's); a host that already has a site needs --yes.
    """
    out = Output(json_mode=json_output)
    target = resolve_hosts(None)
    require_root(target, "aiws restore")
    if bundle is None and not check:
        raise UsageError("aiws restore needs --bundle", "give the bundle the site ran from")
    passphrase = read_passphrase(passphrase_file, passphrase_stdin, new=False)
    catalog = load_catalog()
    if check:
        manifest = restore_logic.check_archive(archive, passphrase, bundle)
        if json_output:
            out.data(manifest)
        else:
            _render_checked(out, archive, manifest)
        return
    assert bundle is not None
    with runlock.held("aiws restore", wait, out.err):
        outcome = restore_logic.restore(
            target,
            catalog,
            archive,
            passphrase,
            bundle,
            _installer(out, target),
            replace_site=yes,
        )
    if json_output:
        out.data(
            {
                "ok": outcome.ok,
                "seconds": round(outcome.seconds, 1),
                "restored": outcome.restored,
                "summary": outcome.last.summary.model_dump(mode="json"),
            }
        )
    else:
        render_summary(outcome.last.summary, out.out)
        state = "[green]restored[/]" if outcome.ok else "[red]restore failed[/]"
        out.print(
            f"{state}: {outcome.restored.get('files', 0)} paths, databases "
            f"{escape(', '.join(outcome.restored.get('databases', [])) or 'none')}, "
            f"in {outcome.seconds:.0f} s"
        )
    raise typer.Exit(int(outcome.last.exit_code))


def _installer(out: Output, target: Hosts) -> restore_logic.Install:
    def run(request: InstallRequest, catalog: Catalog, label: str) -> InstallOutcome:
        out.info(f"{label}: installing from {request.bundle}")
        request = install_logic.prepare(request, catalog, target, out.info)
        return install_logic.install(
            request, catalog.with_overrides(request.component_overrides), target
        )

    return run


def _render_checked(out: Output, archive: Path, manifest: dict) -> None:  # type: ignore[type-arg]
    out.print(f"[green]ok[/]: {escape(str(archive))}")
    out.print(
        f"  made {escape(str(manifest.get('created')))} on {escape(str(manifest.get('host')))} "
        f"({escape(str(manifest.get('platform')))} {escape(str(manifest.get('arch')))}), "
        f"{len(manifest.get('members', []))} members, databases "
        f"{escape(', '.join(manifest.get('databases', [])) or 'none')}"
    )
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    out.print(f"  versions: {escape(versions)}")
