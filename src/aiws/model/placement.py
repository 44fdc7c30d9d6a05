"""Which hosts run which component, and how one component reaches another.

Components are placed by inventory group (catalog `placement`: data -> aiws_data, ...). An
inventory that defines none of those groups is a single-host layout: every component on
every host. A component reaches another on its own host through the catalog's (loopback)
listen address, and on another host through that host's address, so a multi-host layout is
inventory configuration, not a redesign. Pure functions: the Ansible filters in
aiws/ansible/plugins call them, and unit tests cover them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

# Host variables that name how other hosts reach a host, most specific first.
ADDRESS_VARS = ("aiws_address", "ansible_host")


def uses_groups(catalog: Mapping[str, Any], groups: Mapping[str, list[str]]) -> bool:
    """True when the inventory places components (has any non-empty aiws group)."""
    return any(groups.get(group) for group in catalog["placement"].values())


def placed_on(
    catalog: Mapping[str, Any], groups: Mapping[str, list[str]], component: str
) -> list[str]:
    """The inventory hosts that run `component`, in inventory order."""
    if not uses_groups(catalog, groups):
        return list(groups.get("all", []))
    group = catalog["placement"][catalog["components"][component]["group"]]
    return list(groups.get(group, []))


def is_placed(
    catalog: Mapping[str, Any], groups: Mapping[str, list[str]], component: str, host: str
) -> bool:
    return host in placed_on(catalog, groups, component)


def endpoint(
    catalog: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    component: str,
    host: str,
) -> dict[str, Any]:
    """How `host` reaches `component`: {host, port, url, local}."""
    listen = catalog["components"][component]["listen"]
    if listen is None:
        raise ValueError(f"component {component} listens on no address")
    hosts = placed_on(catalog, groups, component)
    if not hosts or host in hosts:
        address, local = listen["host"], True
    else:
        there = hostvars.get(hosts[0], {})
        address = next((str(there[v]) for v in ADDRESS_VARS if there.get(v)), hosts[0])
        local = False
    return {
        "host": address,
        "port": listen["port"],
        "url": f"{listen['scheme']}://{address}:{listen['port']}",
        "local": local,
    }


def endpoints(
    catalog: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    host: str,
) -> dict[str, dict[str, Any]]:
    """`endpoint` of every component that listens, as seen from `host`."""
    return {
        name: endpoint(catalog, groups, hostvars, name, host)
        for name, component in catalog["components"].items()
        if component["listen"] is not None
    }


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def ip_allow(component: Mapping[str, Any], endpoints: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What a unit may reach over IP (IPAddressAllow, everything else denied): localhost and
    the addresses of the services it uses on other hosts. Empty (no restriction) when it
    listens beyond loopback, calls out beyond the host (catalog `egress`) or uses a service
    by a host name rather than an address."""
    listen = component.get("listen")
    if component.get("egress") or (listen is not None and listen["host"] not in LOOPBACK):
        return []
    allow = ["localhost"]
    for name in component.get("requires", []):
        there = endpoints.get(name)
        if there is None or there["local"]:
            continue
        try:
            allow.append(str(ipaddress.ip_address(there["host"])))
        except ValueError:
            return []  # a name: systemd filters addresses only
    return allow
