"""The run-mode guard: refuse a bad combination before anything on the host changes.

`evaluate` is a pure function of the request, the catalog, the host facts (when known)
and the bundle's target (when a bundle is given). Every finding is one line: the problem
and the fix. Rules are listed in docs/guard.md; each has a stable code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from aiws.model.catalog import Catalog
from aiws.model.request import InstallRequest

Severity = Literal["error", "warning"]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_WILDCARDS = {"0.0.0.0", "::", "*"}


@dataclass(frozen=True)
class Finding:
    code: str
    problem: str
    fix: str
    severity: Severity = "error"

    @property
    def line(self) -> str:
        return f"{self.problem}; {self.fix}"


@dataclass(frozen=True)
class GuardReport:
    findings: tuple[Finding, ...]
    components: tuple[str, ...]  # the selection, in install order (empty if unresolvable)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


class Listener(BaseModel):
    address: str
    port: int
    process: str = ""
    pid: int | None = None
    unit: str = ""

    @property
    def ours(self) -> bool:
        """A listener of one of aiws's own system units (the host facts report a unit only
        for processes in system.slice, so a user's scope named aiws-* is not ours)."""
        return self.unit.startswith("aiws-") and self.unit.endswith(".service")


class DiskSpace(BaseModel):
    path: str  # where aiws will write (its nearest existing ancestor was measured)
    device: int
    free_mb: int


class PackageLock(BaseModel):
    held: bool = False
    holder: str = ""


class LastInstall(BaseModel):
    """What the host's earlier installs chose (the ledger's runs): a bare rerun repeats it."""

    mode: str | None = None
    domain: str | None = None
    internal_ca: bool = False
    config: dict[str, Any] | None = None  # the effective operator configuration


class HostFacts(BaseModel):
    """What aiws_host_facts reports about a target; see src/aiws/modules/aiws_host_facts.py."""

    hostname: str = ""
    os_id: str
    os_version_id: str
    arch: str
    pid1: str
    docker_engine: bool = False
    k3s: bool = False
    disk: list[DiskSpace] = Field(default_factory=list)
    mem_total_mb: int
    mem_available_mb: int
    listeners: list[Listener] = Field(default_factory=list)
    package_lock: PackageLock = Field(default_factory=PackageLock)
    installed: list[str] = Field(default_factory=list)  # components in the host's ledger
    versions: dict[str, str] = Field(default_factory=dict)  # and the version each records
    last_install: LastInstall = Field(default_factory=LastInstall)
    # artifact -> SHA256 of the tarball its runtime tree was unpacked from ("" if none)
    unpacked: dict[str, str] = Field(default_factory=dict)
    layout_ok: bool = False  # the base layout is in place, recorded by this aiws version
    # Why Ansible's temp dir on the host could be someone else's ("" when it is private).
    ansible_tmp_problem: str = ""
    secrets: list[str] = Field(default_factory=list)  # secret files present, by name
    # The Bridge's tokens file already holds a token: the install offers no first token.
    bridge_has_token: bool = False
    openssl: bool = True  # the openssl command (--internal-ca's site CA is made with it)

    @property
    def platform(self) -> str:
        return f"{self.os_id}-{self.os_version_id}"


class BundleTarget(BaseModel):
    platform: str  # e.g. debian-12
    arch: str  # amd64 | arm64


def is_fqdn(name: str) -> bool:
    name = name.rstrip(".").lower()
    if len(name) > 253 or "." not in name:
        return False
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    labels = name.split(".")
    return all(_LABEL.match(label) for label in labels) and labels[-1].isalpha()


def evaluate(
    request: InstallRequest,
    catalog: Catalog,
    facts: HostFacts | None = None,
    bundle: BundleTarget | None = None,
) -> GuardReport:
    """Every rule, in a stable order. Host rules run only when facts are known."""
    findings: list[Finding] = []
    selection = _selection(request, catalog, findings)
    findings += _backend_rules(request, catalog, selection)
    if selection:  # the rules below are about a selection; without one they would mislead
        findings += _exposure_rules(request, catalog, selection)
        if facts is not None:
            # Only a host knows what it has installed: a component upgraded alone over the
            # ones it needs is fine. Without facts the hosts' pass decides.
            findings += _requirement_rules(catalog, selection, set(facts.installed))
        findings += _config_rules(request, selection)
    if facts is not None:
        findings += _host_rules(request, catalog, selection, facts)
        if bundle is not None:
            # The catalog holds the bundle's versions only when there is a bundle (install,
            # preflight --bundle); doctor and a bare preflight have none to compare.
            findings += _bundle_rules(bundle, facts)
            findings += _version_rules(request, catalog, selection, facts)
    return GuardReport(tuple(findings), tuple(selection))


def _selection(request: InstallRequest, catalog: Catalog, out: list[Finding]) -> list[str]:
    mode = catalog.modes.get(request.mode)
    if mode is None:
        out.append(
            Finding(
                "mode.unknown",
                f"unknown mode '{request.mode}'",
                f"valid modes: {', '.join(catalog.modes)}",
            )
        )
        return []
    unknown = [c for c in request.only if c not in catalog.components]
    for name in unknown:
        out.append(
            Finding(
                "component.unknown",
                f"unknown component '{name}'",
                f"choose from: {', '.join(catalog.components)}",
            )
        )
    outside = [c for c in request.only if c in catalog.components and c not in mode.components]
    for name in outside:
        out.append(
            Finding(
                "component.not-in-mode",
                f"component '{name}' is not part of mode '{mode.name}'",
                f"mode {mode.name} has: {', '.join(mode.components)}",
            )
        )
    if unknown or outside:
        return []
    return catalog.in_install_order(list(request.only) or mode.components)


def _backend_rules(
    request: InstallRequest, catalog: Catalog, selection: list[str]
) -> list[Finding]:
    out: list[Finding] = []
    chosen = set(request.backends)
    for name in request.backends:
        if name not in catalog.backends:
            out.append(
                Finding(
                    "backend.unknown",
                    f"unknown backend '{name}'",
                    f"valid backends: {', '.join(catalog.backends)}",
                )
            )
    for group in catalog.exclusive_backends:
        both = [b for b in group if b in chosen]
        if len(both) > 1:
            out.append(
                Finding(
                    "backend.exclusive",
                    f"backends {' and '.join(both)} cannot be used together",
                    f"choose one of {', '.join(both)}",
                )
            )
    for name in selection:
        component = catalog.components[name]
        for backend in chosen & set(catalog.backends):
            if backend not in component.backends:
                out.append(
                    Finding(
                        "backend.unsupported",
                        f"component '{name}' does not support backend '{backend}'",
                        f"{name} supports: {', '.join(component.backends)}",
                    )
                )
    return out


def _exposure_rules(
    request: InstallRequest, catalog: Catalog, selection: list[str]
) -> list[Finding]:
    public = any(catalog.components[c].public for c in selection)
    if request.domain is not None and not is_fqdn(request.domain):
        return [
            Finding(
                "domain.invalid",
                f"domain '{request.domain}' is not a fully qualified domain name",
                "give a name like bridge.example.com",
            )
        ]
    if public and request.domain is None:
        # Caddy's site is the domain whichever CA signs it: clients check the name.
        return [
            Finding(
                "domain.missing",
                "the Bridge is public in this mode but no domain was given",
                "pass --domain FQDN (with --internal-ca for a certificate from aiws's "
                "own site CA instead of ACME), or use --mode local",
            )
        ]
    certificate = request.config.config.caddy.certificate
    if request.internal_ca and certificate is not None:
        return [
            Finding(
                "tls.conflict",
                f"--internal-ca and caddy.certificate ({request.config.source}) both choose "
                "the site's certificate",
                "drop --internal-ca to serve your certificate, or remove caddy.certificate",
            )
        ]
    if not public and request.domain is not None:
        return [
            Finding(
                "domain.unused",
                f"nothing is public in this selection, so domain '{request.domain}' is not used",
                "drop --domain, or include caddy",
                "warning",
            )
        ]
    return []


def _requirement_rules(
    catalog: Catalog, selection: list[str], installed: set[str]
) -> list[Finding]:
    out: list[Finding] = []
    present = set(selection) | installed
    for name in selection:
        for dep in catalog.components[name].requires:
            if dep not in present:
                out.append(
                    Finding(
                        "component.requires",
                        f"component '{name}' needs '{dep}', "
                        "which is neither selected nor installed",
                        f"add {dep} to --only, or install it first",
                    )
                )
    return out


def _config_rules(request: InstallRequest, selection: list[str]) -> list[Finding]:
    if "litellm" in selection and request.config.config.litellm.database:
        return [
            Finding(
                "config.litellm-database",
                f"litellm.database ({request.config.source}): LiteLLM's database mode needs "
                "Prisma's query engines, which no bundle carries",
                "remove litellm.database: per-consumer keys and model limits work without it",
            )
        ]
    return []


def _host_rules(
    request: InstallRequest, catalog: Catalog, selection: list[str], facts: HostFacts
) -> list[Finding]:
    out: list[Finding] = []
    if facts.platform not in {f"{p.os_id}-{p.version_id}" for p in catalog.platforms.values()}:
        out.append(
            Finding(
                "host.os",
                f"{facts.platform} is not a supported OS",
                f"use one of: {', '.join(catalog.platforms)}",
            )
        )
    if facts.arch not in catalog.architectures:
        out.append(
            Finding(
                "host.arch",
                f"architecture {facts.arch} is not supported",
                f"use one of: {', '.join(catalog.architectures)}",
            )
        )
    if request.internal_ca and "caddy" in selection and not facts.openssl:
        out.append(
            Finding(
                "host.openssl",
                "--internal-ca makes the site's CA with openssl, which this host does not have",
                "install it (apt install openssl), or bring your own certificate "
                "(caddy.certificate in the configuration)",
            )
        )
    for model in request.config.config.models:
        secret = model.api_key_secret
        if secret and secret not in facts.secrets:
            out.append(
                Finding(
                    "config.secret-missing",
                    f"model '{model.name}' ({request.config.source}) names the secret "
                    f"'{secret}', which this host does not have",
                    f"store it first: aiws secrets set {secret}",
                )
            )
    out += _python_rules(catalog, selection, facts)
    out += _certificate_rules(request, selection, facts)
    if facts.ansible_tmp_problem:
        out.append(
            Finding(
                "host.ansible-tmp",
                f"Ansible's temp dir is not private to root: {facts.ansible_tmp_problem}",
                "remove it (Ansible recreates ~/.ansible/tmp 0700) and check who made it",
            )
        )
    if "systemd" in request.backends and facts.pid1 != "systemd":
        out.append(
            Finding(
                "host.systemd",
                f"PID 1 is '{facts.pid1}', not systemd, and the systemd backend needs it",
                "use a host booted with systemd (aiws sandbox create gives one)",
            )
        )
    for backend in request.backends:
        needs = catalog.backends[backend].needs if backend in catalog.backends else None
        if needs and not getattr(facts, needs, False):
            what = "a Docker engine" if needs == "docker_engine" else "k3s"
            out.append(
                Finding(
                    "backend.missing",
                    f"backend {backend} needs {what}, which this host does not run",
                    f"install {what} first, or use --backend systemd",
                )
            )
    out += _capacity_rules(catalog, selection, facts)
    out += _port_rules(catalog, selection, facts)
    if facts.package_lock.held:
        wait = catalog.host_requirements.package_lock_wait_seconds
        out.append(
            Finding(
                "host.package-lock",
                f"the package manager is busy ({facts.package_lock.holder})",
                f"the install waits up to {wait}s for it",
                "warning",
            )
        )
    return out


def version_key(version: str) -> tuple[tuple[float, int | str], ...]:
    """Orders versions as releases do: 1.106.2 < 1.108.14, 2026.9.6 < 2026.10.1, and a
    pre-release (1.0.0rc1) before its release."""
    parts = re.findall(r"[0-9]+|[a-z]+", version.lower())
    key = tuple((1.0, int(p)) if p.isdigit() else (0.0, p) for p in parts)
    return (*key, (0.5, ""))


def _version_rules(
    request: InstallRequest, catalog: Catalog, selection: list[str], facts: HostFacts
) -> list[Finding]:
    """A component the host already has, at another version than the bundle's: going back is
    refused (an older release may not read what a newer one wrote) unless asked for, and a
    change the component cannot take in place (PostgreSQL's major version) always."""
    out: list[Finding] = []
    for name in selection:
        installed = facts.versions.get(name)
        component = catalog.components[name]
        wanted = component.version
        if installed is None or installed == wanted:
            continue
        if component.version_change:
            out.append(
                Finding(
                    "component.version-change",
                    f"{name} {installed} is installed and the bundle has {wanted}: "
                    f"{name} cannot change version in place",
                    f"use a bundle with {name} {installed}, or follow {component.version_change}",
                )
            )
        elif version_key(wanted) < version_key(installed):
            out.append(
                Finding(
                    "component.downgrade",
                    f"{name} {installed} is installed and the bundle has {wanted}: a downgrade",
                    "--allow-downgrade was given: its data must be readable by the older release"
                    if request.allow_downgrade
                    else f"use a bundle with {name} {installed} or newer, or pass "
                    "--allow-downgrade when its data can go back (docs/upgrade.md)",
                    "warning" if request.allow_downgrade else "error",
                )
            )
    return out


def _capacity_rules(catalog: Catalog, selection: list[str], facts: HostFacts) -> list[Finding]:
    out: list[Finding] = []
    new = [c for c in selection if c not in facts.installed]
    req = catalog.host_requirements
    need_by_device: dict[int, int] = {}
    where: dict[int, DiskSpace] = {}
    runtime = _disk_for(facts, catalog.paths.runtime)
    state = _disk_for(facts, catalog.paths.state)
    if runtime is not None and state is not None:
        need_by_device[runtime.device] = sum(catalog.components[c].disk_mb for c in new)
        need_by_device[state.device] = need_by_device.get(state.device, 0) + req.base_disk_mb
        where = {runtime.device: runtime, state.device: state}
    for device, need in need_by_device.items():
        disk = where[device]
        if disk.free_mb < need:
            out.append(
                Finding(
                    "host.disk",
                    f"{disk.free_mb} MB free under {disk.path}, {need} MB needed",
                    "free disk space or select fewer components with --only",
                )
            )
    need_mem = req.base_memory_mb + sum(catalog.components[c].memory_mb for c in selection)
    if facts.mem_total_mb < need_mem:
        out.append(
            Finding(
                "host.memory",
                f"{facts.mem_total_mb} MB of memory, {need_mem} MB needed",
                "use a larger host or select fewer components",
            )
        )
    elif facts.mem_available_mb < need_mem:
        out.append(
            Finding(
                "host.memory-available",
                f"only {facts.mem_available_mb} MB of memory available, {need_mem} MB needed",
                "stop other services first, or expect swapping",
                "warning",
            )
        )
    return out


def _disk_for(facts: HostFacts, path: str) -> DiskSpace | None:
    return next((d for d in facts.disk if d.path == path), None)


def _port_rules(catalog: Catalog, selection: list[str], facts: HostFacts) -> list[Finding]:
    out: list[Finding] = []
    for name in selection:
        listen = catalog.components[name].listen
        if listen is None:
            continue
        for port in listen.ports:
            taken = _taken(facts, listen.host, port)
            if taken is not None:
                who = (
                    f"{taken.process} (pid {taken.pid})"
                    if taken.pid
                    else (taken.process or "another process")
                )
                out.append(
                    Finding(
                        "host.port",
                        f"port {port} needed by {name} is taken by {who} on {taken.address}",
                        f"stop {taken.process or 'it'} or free port {port}",
                    )
                )
    return out


def _taken(facts: HostFacts, host: str, port: int) -> Listener | None:
    for sock in facts.listeners:
        if sock.port != port or sock.ours:
            continue
        if sock.address in _WILDCARDS or host in _WILDCARDS or sock.address == host:
            return sock
    return None


def _bundle_rules(bundle: BundleTarget, facts: HostFacts) -> list[Finding]:
    if (bundle.platform, bundle.arch) == (facts.platform, facts.arch):
        return []
    return [
        Finding(
            "bundle.target",
            f"the bundle is for {bundle.platform}-{bundle.arch}, "
            f"this host is {facts.platform}-{facts.arch}",
            f"build one with: aiws bundle build --target {facts.platform}-{facts.arch}",
        )
    ]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _python_rules(catalog: Catalog, selection: list[str], facts: HostFacts) -> list[Finding]:
    """Components that run on the host's own Python need at least their min_python."""
    out: list[Finding] = []
    platform = catalog.platforms.get(facts.platform)
    too_new = [
        c for c in selection
        if platform is not None and (need := catalog.components[c].min_python)
        and _version_tuple(platform.python) < _version_tuple(need)
    ]  # fmt: skip
    if too_new and platform is not None:
        out.append(
            Finding(
                "host.python",
                f"{facts.platform} has Python {platform.python}, and {', '.join(too_new)} "
                f"need Python {catalog.components[too_new[0]].min_python} or newer",
                "install on Debian 12 or 13 (Debian 11 reached its end of life in August 2026),"
                " or leave those out with --only",
            )
        )
    return out


def _certificate_rules(
    request: InstallRequest, selection: list[str], facts: HostFacts
) -> list[Finding]:
    """An operator's certificate must be on the host as its two secrets."""
    out: list[Finding] = []
    certificate = request.config.config.caddy.certificate
    if certificate is not None and "caddy" in selection:
        for key, secret in (
            ("certificate_secret", certificate.certificate_secret),
            ("key_secret", certificate.key_secret),
        ):
            if secret not in facts.secrets:
                out.append(
                    Finding(
                        "config.secret-missing",
                        f"caddy.certificate.{key} ({request.config.source}) names the secret "
                        f"'{secret}', which this host does not have",
                        f"store it first: aiws secrets set {secret} --from-file FILE.pem",
                    )
                )
    return out
