"""Ansible filters over aiws.model.placement and the skeleton's contract with a role
(aiws.model.parts); they run on the controller, inside aiws's own venv."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from aiws.model import parts, placement


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


def aiws_parts(given: Any, name: str, kind: str) -> dict[str, Any]:
    """{{ lookup('vars', name ~ '_parts') | aiws_parts(name, kind) }}: the role's parts,
    checked (an unknown or misspelt part fails the render) and completed with defaults."""
    try:
        return parts.role_parts(name, kind, given)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "aiws_placed": aiws_placed,
            "aiws_endpoints": aiws_endpoints,
            "aiws_ip_allow": aiws_ip_allow,
            "aiws_parts": aiws_parts,
        }
