"""The one unified deploy summary printed at the end of every install (human or JSON).

Fed by the run result, the ledger and the status probes. It never holds a secret value:
credentials are referred to by where they are stored and how to read them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aiws import __version__
from aiws.ansible.driver import RunResult
from aiws.commands.status import ComponentStatus, StatusReport
from aiws.guard.checks import version_key
from aiws.model.catalog import Catalog
from aiws.model.resolve import resolve_component
from aiws.timing import PhaseTime

SCHEMA_VERSION = 1


class AccessPoint(BaseModel):
    component: str
    url: str
    public: bool


class ComponentRow(BaseModel):
    host: str
    name: str
    state: str
    address: str
    health: str
    version: str
    changed: int  # tasks that changed something for this component in this run
    detail: str = ""
    models: list[str] = Field(default_factory=list)  # LiteLLM: the model names it serves
    sessions: int | None = None  # the Bridge: sessions open when the run ended
    # What the run does to its version: new, unchanged, upgrade A -> B, downgrade A -> B
    # ("" for an installed component the run did not select).
    change: str = ""


class BundleIdentity(BaseModel):
    file: str
    sha256: str
    target: str


class Credentials(BaseModel):
    location: str
    how_to_read: str


class FirstToken(BaseModel):
    """The Bridge's first token, made by this run: in this summary only, never stored in
    clear anywhere (the host keeps its SHA-256)."""

    host: str
    name: str
    token: str


class TrustAnchor(BaseModel):
    """--internal-ca: the CA certificate a client must trust to reach the Bridge."""

    host: str
    ca_certificate: str


class RunInfo(BaseModel):
    id: str
    verb: str
    mode: str
    ok: bool
    check: bool
    started_at: datetime
    seconds: float
    changed_total: int
    hosts: list[str]
    failures: list[str]
    log_dir: str | None


class DeploySummary(BaseModel):
    schema_version: int = SCHEMA_VERSION
    aiws_version: str = __version__
    run: RunInfo
    access: list[AccessPoint]
    credentials: Credentials
    components: list[ComponentRow]
    phases: list[PhaseTime]
    bundle: BundleIdentity | None
    warnings: list[str] = Field(default_factory=list)
    # Only in the summary of the install that made it; `aiws bridge tokens add` makes more.
    bridge_tokens: list[FirstToken] = Field(default_factory=list)
    trust: list[TrustAnchor] = Field(default_factory=list)
    # Choices taken from the hosts' last install because this run did not say them.
    repeated: list[str] = Field(default_factory=list)


def build_summary(
    *,
    catalog: Catalog,
    mode: str,
    selection: list[str],
    run: RunResult,
    status: StatusReport,
    phases: list[PhaseTime],
    domain: str | None = None,
    internal_ca: bool = False,
    check: bool = False,
    bundle: BundleIdentity | None = None,
    warnings: list[str] | None = None,
    models: list[str] | None = None,
    bridge_tokens: list[FirstToken] | None = None,
    repeated: tuple[str, ...] = (),
    installed_before: dict[str, dict[str, str]] | None = None,
) -> DeploySummary:
    """`models`: what LiteLLM serves after this run (when it is selected); otherwise the
    status's (the last install that included it). `installed_before`: host -> component ->
    the version its record held before the run (the plan's host facts)."""
    changed = run.changed_by_role()
    rows: list[ComponentRow] = []
    access: dict[str, AccessPoint] = {}
    trust: list[TrustAnchor] = []
    for host in status.hosts:
        for comp in host.components:
            if comp.name not in selection and not comp.installed:
                continue
            rows.append(
                ComponentRow(
                    host=host.host,
                    name=comp.name,
                    state=comp.state,
                    address=comp.address,
                    health=comp.health,
                    version=comp.version or catalog.components[comp.name].version,
                    changed=changed.get(comp.name, 0),
                    detail=comp.detail,
                    models=_models(comp, selection, models),
                    sessions=comp.sessions,
                    change=version_change(
                        (installed_before or {}).get(host.host, {}).get(comp.name),
                        catalog.components[comp.name].version,
                    )
                    if comp.name in selection
                    else "",
                )
            )
            point = _access_point(catalog, comp.name, domain)
            if point is not None and comp.installed:
                access.setdefault(point.url, point)
            ca_root = resolve_component(catalog, catalog.components[comp.name])["layout"].get(
                "ca_root"
            )
            if internal_ca and comp.installed and ca_root:
                trust.append(TrustAnchor(host=host.host, ca_certificate=ca_root))
    return DeploySummary(
        run=RunInfo(
            id=run.run_id,
            verb="install",
            mode=mode,
            ok=run.ok,
            check=check,
            started_at=run.started_at,
            seconds=round(sum(p.seconds for p in phases), 3),
            changed_total=run.totals().changed,
            hosts=run.hosts,
            failures=[f.line for f in run.failures],
            log_dir=str(run.log_dir) if run.log_dir else None,
        ),
        access=sorted(access.values(), key=lambda a: (not a.public, a.component)),
        credentials=Credentials(
            location=catalog.paths.secrets,
            how_to_read="aiws secrets show NAME (root only; never printed in logs)",
        ),
        components=rows,
        phases=phases,
        bundle=bundle,
        warnings=warnings or [],
        bridge_tokens=bridge_tokens or [],
        trust=trust,
        repeated=list(repeated),
    )


def _models(comp: ComponentStatus, selection: list[str], models: list[str] | None) -> list[str]:
    if comp.name == "litellm" and comp.name in selection and models is not None:
        return models
    return comp.models


def _access_point(catalog: Catalog, name: str, domain: str | None) -> AccessPoint | None:
    component = catalog.components[name]
    if component.socket is not None:
        return AccessPoint(component=name, url=f"unix:{component.socket.path}", public=False)
    if component.listen is None:
        return None
    if component.public:
        host = domain or "<this host's address>"
        return AccessPoint(component="bridge", url=f"https://{host}/", public=True)
    return AccessPoint(component=name, url=component.listen.url("/"), public=False)


def version_change(installed: str | None, wanted: str) -> str:
    """What installing `wanted` over `installed` (None: nothing) does, in the summary's words."""
    if installed is None:
        return "new"
    if installed == wanted:
        return "unchanged"
    way = "downgrade" if version_key(wanted) < version_key(installed) else "upgrade"
    return f"{way} {installed} -> {wanted}"


def _versions_line(summary: DeploySummary) -> str | None:
    """The run's version changes in one line: every upgrade, downgrade and new component;
    None when nothing moved or everything is new (a first install)."""
    moved = [row for row in summary.components if row.change not in ("", "unchanged")]
    if all(row.change == "new" for row in moved):
        return None
    unchanged = sum(row.change == "unchanged" for row in summary.components)
    multi_host = len({row.host for row in summary.components}) > 1
    parts = [f"{row.name}{f'@{row.host}' if multi_host else ''}: {row.change}" for row in moved]
    return "[bold]Versions[/] " + escape(", ".join(parts) + f"; {unchanged} unchanged")


def render_summary(summary: DeploySummary, console: Console) -> None:
    run = summary.run
    verdict = "[green]OK[/]" if run.ok else "[red]FAILED[/]"
    mode = f"{run.verb} --mode {run.mode}" + (" (check: nothing changed)" if run.check else "")
    hosts = ", ".join(run.hosts) or "no host"
    console.print(
        f"\n[bold]aiws {escape(mode)}[/] on {escape(hosts)}: {verdict}, "
        f"{run.changed_total} changed, {run.seconds:.1f}s"
    )
    if summary.repeated:
        console.print("[dim]as the last install: " + escape(", ".join(summary.repeated)) + "[/]")
    _render_access(summary, console)
    console.print("\n[bold]Credentials[/]")
    console.print(
        escape(
            f"  stored under {summary.credentials.location}; read with "
            f"{summary.credentials.how_to_read}"
        )
    )
    for made in summary.bridge_tokens:
        console.print(
            f"  [bold]Bridge token[/] {escape(made.name)} on {escape(made.host)}: "
            f"{escape(made.token)}\n  [yellow]shown this once: keep it now[/] "
            "(the host stores only its SHA-256; `aiws bridge tokens add NAME` makes another)"
        )
    for anchor in summary.trust:
        console.print(
            f"  [bold]Internal CA[/] on {escape(anchor.host)}: {escape(anchor.ca_certificate)}\n"
            "  copy it to each client and trust it there (this host's trust store is untouched)"
        )
    console.print(_components_table(summary))
    versions = _versions_line(summary)
    if versions:
        console.print(versions)
    for row in summary.components:
        if row.models:
            console.print(f"[bold]Models[/] ({escape(row.name)}) {escape(', '.join(row.models))}")
    console.print(_phases_line(summary))
    bundle = summary.bundle
    console.print(
        "[bold]Bundle[/] "
        + (
            escape(f"{bundle.file} ({bundle.target}, sha256 {bundle.sha256[:16]}...)")
            if bundle
            else "none given"
        )
    )
    for failure in run.failures:
        console.print(f"[red]failed:[/] {escape(failure)}")
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if run.log_dir:
        console.print(f"[dim]logs: {escape(run.log_dir)}[/]")


def _render_access(summary: DeploySummary, console: Console) -> None:
    console.print("\n[bold]Access[/]")
    if not summary.access:
        console.print("  no service endpoints installed")
    for point in summary.access:
        tag = "[bold green]public (the only public endpoint)[/]" if point.public else "local only"
        console.print(f"  {point.component:<12} {escape(f'{point.url:<34}')} {tag}")


def _components_table(summary: DeploySummary) -> Table:
    multi_host = len({row.host for row in summary.components}) > 1
    table = Table(title="Components", title_justify="left", expand=False)
    if multi_host:
        table.add_column("host")
    for column in ("component", "state", "address", "health", "version", "changed"):
        table.add_column(column, justify="right" if column == "changed" else "left")
    for row in summary.components:
        health = {"healthy": "[green]healthy[/]", "unhealthy": "[red]unhealthy[/]"}.get(
            row.health, escape(row.health)
        )
        cells = [
            row.name,
            escape(row.state),
            escape(row.address or "-"),
            health,
            escape(row.version),
            str(row.changed),
        ]
        table.add_row(*([escape(row.host)] if multi_host else []), *cells)
    return table


def _phases_line(summary: DeploySummary) -> str:
    parts = [f"{p.name} {p.seconds:.1f}s" for p in summary.phases]
    return "[bold]Phases[/] " + (", ".join(parts) if parts else "none")
