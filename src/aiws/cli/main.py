"""`aiws`: the root command; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from aiws import __version__
from aiws.cli import (
    backup,
    bridge,
    bundle,
    config,
    doctor,
    install,
    logs,
    preflight,
    report,
    rollback,
    sandbox,
    secrets,
    status,
    uninstall,
    versions,
)
from aiws.cli.helptext import tidy
from aiws.cli.output import Output
from aiws.errors import AiwsError, ExitCode

app = typer.Typer(
    name="aiws",
    help="Install, check and remove an AI Workspace Runtime from a verified offline bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"aiws {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Install, check and remove an AI Workspace Runtime from a verified offline bundle."""


app.command("install")(install.install)
app.command("preflight")(preflight.preflight)
app.command("status")(status.status)
app.command("doctor")(doctor.doctor)
app.command("logs")(logs.logs)
app.command("report")(report.report)
app.command("uninstall")(uninstall.uninstall)
app.command("rollback")(rollback.rollback)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.command("versions")(versions.versions)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(bundle.app, name="bundle")
app.add_typer(secrets.app, name="secrets")
app.add_typer(config.app, name="config")
app.add_typer(bridge.app, name="bridge")
tidy(app)


def run() -> None:
    """Console-script entry point: AiwsError becomes one line on stderr and a stable code."""
    try:
        app(standalone_mode=True)
    except AiwsError as exc:
        Output().error(str(exc))
        sys.exit(int(exc.exit_code))
    except OSError as exc:
        # A path the system refuses (too long, not a directory, ...): name it, no traceback.
        where = str(exc.filename or "")
        where = where if len(where) <= 120 else where[:100] + "..."
        Output().error(f"{where + ': ' if where else ''}{exc.strerror or exc}")
        sys.exit(int(ExitCode.FAILED))
    except KeyboardInterrupt:
        Output().error("interrupted; rerun the same command to converge")
        sys.exit(int(ExitCode.FAILED))
