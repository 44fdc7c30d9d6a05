"""Ansible filters over aiws.model.placement (run on the controller, inside aiws's own venv)."""

from __future__ import annotations

from typing import Any

from aiws.model import placement


def aiws_placed(
    components: list[str], catalog: dict[str, Any], groups: dict[str, list[str]], host: str
) -> list[str]:
    """The components placed on `host`, in the given order:
    {{ aiws_run.components | aiws_placed(aiws_catalog, groups, inventory_hostname) }}"""
    return [c for c in components if placement.is_placed(catalog, groups, c, host)]


def aiws_endpoints(
    catalog: dict[str, Any], groups: dict[str, list[str]], hostvars: Any, host: str
) -> dict[str, dict[str, Any]]:
    """{{ aiws_catalog | aiws_endpoints(groups, hostvars, inventory_hostname) }}"""
    return placement.endpoints(catalog, groups, hostvars, host)


def aiws_ip_allow(component: dict[str, Any], endpoints: dict[str, dict[str, Any]]) -> list[str]:
    """{{ component_facts | aiws_ip_allow(aiws_endpoints) }}"""
    return placement.ip_allow(component, endpoints)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "aiws_placed": aiws_placed,
            "aiws_endpoints": aiws_endpoints,
            "aiws_ip_allow": aiws_ip_allow,
        }
