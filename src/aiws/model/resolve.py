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
from aiws.model.config import TEST_MODELS

_FIELD = re.compile(r"\{(\w+)\}")
# Task files of a component role the shared skeleton runs, when the role has them.
HOOKS = ("prepare", "render", "started")
READY_SECONDS = 120
# The variable an agent's launcher holds its LiteLLM key in.
AGENT_KEY_ENV = "AIWS_LITELLM_KEY"


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
    values = template_values(catalog, component)
    layout = resolve_layout(catalog, component)
    secrets_dir = catalog.paths.secrets
    health = health_spec(component, {**values, **layout})
    return {
        "name": name,
        "kind": component.kind,
        "description": component.description,
        "version": component.version,
        "flavour": component.flavour,
        "group": component.group,
        "unit": component.unit,
        "user": component.user,
        "paths": paths,
        "runtime_root": values["runtime_root"],
        "layout": layout,
        "listen": _listen(component),
        "socket": _socket(component),
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
        "venv": venv_steps(layout),
        "agent": _agent(catalog, component, paths, layout) if component.kind == "agent" else None,
    }


def venv_steps(layout: dict[str, str]) -> list[dict[str, Any]]:
    """The host-side step of a Python component (recipe wheelhouse or project): its venv's
    contents come prebuilt in the runtime tarball (aiws.bundle.sources.python); the host
    adds what a tarball cannot hold, the links to its own python3 and pyvenv.cfg. Never
    --clear: that would empty the prebuilt tree. Empty for a component without a venv."""
    if "venv" not in layout:
        return []
    venv = layout["venv"]
    return [
        {
            "argv": ["/usr/bin/python3", "-m", "venv", "--without-pip", venv],
            "creates": f"{venv}/pyvenv.cfg",
        },
    ]


def _agent(
    catalog: Catalog, component: Component, paths: dict[str, str], layout: dict[str, str]
) -> dict[str, Any]:
    """What the skeleton gives every agent: its own LiteLLM key (a LiteLLM secret, one per
    consumer) in a file only its account reads, the launcher the Bridge runs, and the model
    it gets when only the offline test models are served."""
    litellm = catalog.component("litellm")
    key = next((s.name for s in litellm.all_secrets if s.key == component.name), None)
    if key is None:
        raise AiwsError(f"catalog: agent {component.name} has no LiteLLM key (litellm.secrets)")
    if "launcher" not in layout:
        raise AiwsError(f"catalog: agent {component.name} has no layout.launcher")
    return {
        "key_secret": key,
        "key_file": f"{paths['config']}/litellm.key",
        "key_env": AGENT_KEY_ENV,
        "launcher": layout["launcher"],
        "test_model": component.test_model or TEST_MODELS[0],
    }


def template_values(catalog: Catalog, component: Component) -> dict[str, str]:
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
    values = template_values(catalog, component)
    return {k: fill(v, values, f"{component.name}.layout.{k}") for k, v in component.layout.items()}


def _listen(component: Component) -> dict[str, Any] | None:
    listen = component.listen
    if listen is None:
        return None
    return {**listen.model_dump(), "url": listen.url(), "ports": listen.ports}


def _socket(component: Component) -> dict[str, Any] | None:
    """Where a socket-activated service is reached, by whom, and its instances' template."""
    if component.socket is None:
        return None
    return {
        "path": component.socket.path,
        "group": component.user,
        "mode": "0660",
        "instance": f"aiws-{component.name}@.service",
    }


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
    HTTP answer on its health path (a sealed Vault answers 503), a TCP connect, or for a
    socket-activated one a connect to its socket."""
    if component.kind != "service":
        return None
    if component.socket is not None:
        return {"type": "unix", "path": component.socket.path, "timeout": READY_SECONDS}
    if component.listen is None:
        return None
    listen = component.listen
    if health is not None and health["type"] == "command":
        return {"type": "command", "command": health["command"], "timeout": READY_SECONDS}
    if health is not None and health["type"] == "http":
        url = listen.url(health["path"])
        # expect: what the upgrade's health gate waits for (aiws_generations.healthy).
        return {"type": "http", "url": url, "timeout": READY_SECONDS, "expect": health["expect"]}
    return {"type": "tcp", "host": listen.host, "port": listen.port, "timeout": READY_SECONDS}


def _artifact(component: Component) -> str:
    """The bundle tarball that carries the component (apt packages share one)."""
    if component.bundle is not None and component.bundle.recipe == "apt":
        return "apt"
    return component.name
