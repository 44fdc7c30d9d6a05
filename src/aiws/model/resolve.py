"""Facts resolved once, in Python, for one run: the `aiws_catalog` every role reads.

A role never derives a version, a package name, a path, a port, a unit or a secret name:
it finds each one here, already resolved for the run's platform and its overrides.
"""

from __future__ import annotations

import re
from typing import Any

from aiws import resources
from aiws.errors import AiwsError
from aiws.model.catalog import Catalog, Component

_FIELD = re.compile(r"\{(\w+)\}")
# Task files of a component role the shared skeleton runs, when the role has them.
HOOKS = ("render", "started")
READY_SECONDS = 120


def fill(template: str, values: dict[str, str], where: str) -> str:
    """`template` with every {name} replaced; an unknown name is a catalog error."""

    def one(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:
            raise AiwsError(f"catalog: {where}: unknown field {{{match.group(1)}}}") from None

    return _FIELD.sub(one, template)


def resolved_catalog(catalog: Catalog, platform: str | None = None) -> dict[str, Any]:
    """What the roles get as `aiws_catalog`, for `platform` (e.g. debian-12) when known."""
    catalog = catalog.for_platform(platform) if platform else catalog
    return {
        "platform": platform or "",
        "paths": catalog.paths.model_dump(),
        "layout": catalog.layout(),
        "hardening": catalog.hardening,
        "placement": catalog.placement,
        "host_requirements": catalog.host_requirements.model_dump(),
        "components": {
            name: resolve_component(catalog, component)
            for name, component in catalog.components.items()
        },
    }


def resolve_component(catalog: Catalog, component: Component) -> dict[str, Any]:
    """One component as its role sees it (`aiws_catalog.components.<name>`)."""
    name = component.name
    paths = catalog.component_paths(name)
    values = _template_values(catalog, component)
    layout = resolve_layout(catalog, component)
    secrets_dir = catalog.paths.secrets
    health = health_spec(component, {**values, **layout})
    return {
        "name": name,
        "kind": component.kind,
        "version": component.version,
        "flavour": component.flavour,
        "group": component.group,
        "unit": component.unit,
        "user": component.user,
        "paths": paths,
        "runtime_root": values["runtime_root"],
        "layout": layout,
        "listen": _listen(component),
        "health": health,
        "ready": _ready(component, health),
        "packages": component.apt_packages,
        "artifact": _artifact(component),
        "requires": component.requires,
        "after_units": [
            unit for dep in component.requires if (unit := catalog.component(dep).unit)
        ],
        "databases": [
            {**db.model_dump(), "secret": db.secret, "secret_path": f"{secrets_dir}/{db.secret}"}
            for db in component.databases
        ],
        "secrets": [
            {
                **s.model_dump(),
                "path": f"{secrets_dir}/{s.name}",
                "mode": "0640" if s.group else "0600",
            }
            for s in component.all_secrets
        ],
        "secret_files": {s.key: f"{secrets_dir}/{s.name}" for s in component.all_secrets if s.key},
        "purge_paths": component.purge_paths,
        # A directive may name the component's paths and layout (e.g. a file it binds).
        "hardening": [
            fill(h, {**values, **layout}, f"{name}.hardening") for h in component.hardening
        ],
        "egress": component.egress,
        "hooks": {hook: resources.has_tasks(name, hook) for hook in HOOKS},
    }


def _template_values(catalog: Catalog, component: Component) -> dict[str, str]:
    """What a component's layout, health and hardening templates may name."""
    name = component.name
    return {
        **catalog.component_paths(name),
        "version": component.version,
        "runtime_root": f"{catalog.paths.runtime}/{name}",
        "state_root": catalog.paths.state,
    }


def resolve_layout(catalog: Catalog, component: Component) -> dict[str, str]:
    """The component's own paths (`layout`), its templates filled in."""
    values = _template_values(catalog, component)
    return {k: fill(v, values, f"{component.name}.layout.{k}") for k, v in component.layout.items()}


def _listen(component: Component) -> dict[str, Any] | None:
    listen = component.listen
    if listen is None:
        return None
    return {**listen.model_dump(), "url": listen.url(), "ports": listen.ports}


def health_spec(
    component: Component, values: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """The health probe with {host}, {port} (and layout fields) filled in."""
    health = component.health
    if health is None:
        return None
    values = dict(values or {})
    if component.listen is not None:
        values = {**values, "host": component.listen.host, "port": str(component.listen.port)}
    command = [fill(arg, values, f"{component.name}.health") for arg in health.command]
    return {**health.model_dump(), "command": command}


def _ready(component: Component, health: dict[str, Any] | None) -> dict[str, Any] | None:
    """How the service step knows a (re)started service answers: its health command, any
    HTTP answer on its health path (a sealed Vault answers 503), or a TCP connect."""
    if component.kind != "service" or component.listen is None:
        return None
    listen = component.listen
    if health is not None and health["type"] == "command":
        return {"type": "command", "command": health["command"], "timeout": READY_SECONDS}
    if health is not None and health["type"] == "http":
        url = listen.url(health["path"])
        return {"type": "http", "url": url, "timeout": READY_SECONDS}
    return {"type": "tcp", "host": listen.host, "port": listen.port, "timeout": READY_SECONDS}


def _artifact(component: Component) -> str:
    """The bundle tarball that carries the component (apt packages share one)."""
    if component.bundle is not None and component.bundle.recipe == "apt":
        return "apt"
    return component.name
