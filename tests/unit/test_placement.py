"""Placement of components on inventory hosts and the endpoints one host uses to reach
another, over the real resolved catalog, and the Ansible filters that expose them."""

from __future__ import annotations

from typing import Any

import pytest

from aiws.ansible.plugins.filter import aiws as filters
from aiws.model import placement
from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog

SPLIT = {
    "all": ["db1", "app1", "edge1"],
    "ungrouped": [],
    "aiws_data": ["db1"],
    "aiws_services": ["app1"],
    "aiws_edge": ["edge1"],
}


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return resolved_catalog(load_catalog(), "debian-12")


def listening(catalog: dict[str, Any]) -> list[str]:
    return [n for n, c in catalog["components"].items() if c["listen"] is not None]


@pytest.mark.parametrize("hosts", [["h1"], ["h1", "h2"]])
def test_without_aiws_groups_every_component_is_on_every_host(
    catalog: dict[str, Any], hosts: list[str]
) -> None:
    groups = {"all": hosts, "ungrouped": hosts, "webservers": hosts[:1]}
    assert not placement.uses_groups(catalog, groups)
    for name in catalog["components"]:
        assert placement.placed_on(catalog, groups, name) == hosts
        assert all(placement.is_placed(catalog, groups, name, host) for host in hosts)
    assert not placement.is_placed(catalog, groups, "postgresql", "elsewhere")


def test_without_aiws_groups_endpoints_are_the_catalogs_listen_addresses(
    catalog: dict[str, Any],
) -> None:
    groups = {"all": ["h1", "h2"], "ungrouped": ["h1", "h2"]}
    hostvars = {"h1": {"ansible_host": "10.0.0.1"}, "h2": {"aiws_address": "10.0.0.2"}}
    for host in ("h1", "h2"):
        endpoints = placement.endpoints(catalog, groups, hostvars, host)
        assert sorted(endpoints) == sorted(listening(catalog))
        for name, endpoint in endpoints.items():
            listen = catalog["components"][name]["listen"]
            assert endpoint == {
                "host": listen["host"],
                "port": listen["port"],
                "url": f"{listen['scheme']}://{listen['host']}:{listen['port']}",
                "local": True,
            }
    assert placement.endpoints(catalog, groups, hostvars, "h1")["postgresql"]["host"] == (
        "127.0.0.1"
    )


def test_empty_aiws_groups_do_not_count_as_placement(catalog: dict[str, Any]) -> None:
    groups = {"all": ["h1"], "aiws_data": [], "aiws_services": [], "aiws_edge": []}
    assert not placement.uses_groups(catalog, groups)
    assert placement.placed_on(catalog, groups, "postgresql") == ["h1"]


def test_groups_place_each_component_on_its_group(catalog: dict[str, Any]) -> None:
    assert placement.uses_groups(catalog, SPLIT)
    expected = {"data": ["db1"], "services": ["app1"], "edge": ["edge1"]}
    for name, component in catalog["components"].items():
        assert placement.placed_on(catalog, SPLIT, name) == expected[component["group"]], name
    assert placement.placed_on(catalog, SPLIT, "postgresql") == ["db1"]
    assert placement.placed_on(catalog, SPLIT, "litellm") == ["app1"]
    assert placement.placed_on(catalog, SPLIT, "caddy") == ["edge1"]
    assert not placement.is_placed(catalog, SPLIT, "postgresql", "app1")


@pytest.mark.parametrize(
    ("db1_vars", "address"),
    [
        ({"aiws_address": "10.1.0.5", "ansible_host": "db1.example.net"}, "10.1.0.5"),
        ({"ansible_host": "db1.example.net"}, "db1.example.net"),
        ({"aiws_address": "", "ansible_host": "db1.example.net"}, "db1.example.net"),
        ({}, "db1"),
    ],
)
def test_another_host_reaches_postgresql_at_its_hosts_address(
    catalog: dict[str, Any], db1_vars: dict[str, str], address: str
) -> None:
    hostvars = {"db1": db1_vars, "app1": {"aiws_address": "10.1.0.6"}}
    endpoint = placement.endpoint(catalog, SPLIT, hostvars, "postgresql", "app1")
    assert endpoint == {
        "host": address,
        "port": 5432,
        "url": f"postgresql://{address}:5432",
        "local": False,
    }


def test_a_host_reaches_its_own_postgresql_on_loopback(catalog: dict[str, Any]) -> None:
    hostvars = {"db1": {"aiws_address": "10.1.0.5"}}
    endpoint = placement.endpoint(catalog, SPLIT, hostvars, "postgresql", "db1")
    assert endpoint == {
        "host": "127.0.0.1",
        "port": 5432,
        "url": "postgresql://127.0.0.1:5432",
        "local": True,
    }


def test_endpoints_from_a_services_host(catalog: dict[str, Any]) -> None:
    hostvars = {"db1": {"aiws_address": "10.1.0.5"}, "edge1": {"ansible_host": "edge.example"}}
    endpoints = placement.endpoints(catalog, SPLIT, hostvars, "app1")
    assert endpoints["litellm"]["local"] is True
    assert endpoints["litellm"]["host"] == "127.0.0.1"
    assert endpoints["vault"]["url"] == "http://10.1.0.5:8200"
    assert endpoints["bridge"]["url"] == "http://edge.example:8787"
    assert "node" not in endpoints  # listens on nothing


def test_an_endpoint_of_a_component_without_listen_is_an_error(catalog: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="node"):
        placement.endpoint(catalog, SPLIT, {}, "node", "app1")


def test_the_placed_filter_keeps_the_given_order(catalog: dict[str, Any]) -> None:
    wanted = ["vault", "litellm", "postgresql", "caddy", "bridge"]
    assert filters.aiws_placed(wanted, catalog, SPLIT, "db1") == ["vault", "postgresql"]
    assert filters.aiws_placed(wanted, catalog, SPLIT, "edge1") == ["caddy", "bridge"]
    assert filters.aiws_placed(wanted, catalog, SPLIT, "app1") == ["litellm"]
    single = {"all": ["h1"]}
    assert filters.aiws_placed(wanted, catalog, single, "h1") == wanted
    assert filters.aiws_placed(list(reversed(wanted)), catalog, single, "h1") == list(
        reversed(wanted)
    )


def test_the_endpoints_filter_is_placement_endpoints(catalog: dict[str, Any]) -> None:
    hostvars = {"db1": {"aiws_address": "10.1.0.5"}}
    assert filters.aiws_endpoints(catalog, SPLIT, hostvars, "app1") == placement.endpoints(
        catalog, SPLIT, hostvars, "app1"
    )
    assert filters.aiws_endpoints(catalog, SPLIT, hostvars, "app1")["postgresql"]["host"] == (
        "10.1.0.5"
    )


def test_the_filter_module_exposes_its_filters() -> None:
    assert filters.FilterModule().filters() == {
        "aiws_placed": filters.aiws_placed,
        "aiws_endpoints": filters.aiws_endpoints,
        "aiws_ip_allow": filters.aiws_ip_allow,
        "aiws_parts": filters.aiws_parts,
    }


def test_a_small_catalog_places_by_its_own_mapping() -> None:
    small = {
        "placement": {"db": "my_db"},
        "components": {
            "pg": {"group": "db", "listen": {"host": "127.0.0.1", "port": 1, "scheme": "tcp"}},
        },
    }
    groups = {"all": ["a", "b"], "my_db": ["b"]}
    assert placement.placed_on(small, groups, "pg") == ["b"]
    assert placement.endpoint(small, groups, {}, "pg", "a")["url"] == "tcp://b:1"
    assert placement.endpoint(small, groups, {}, "pg", "b")["url"] == "tcp://127.0.0.1:1"


def test_a_loopback_service_may_reach_only_localhost(catalog: dict[str, Any]) -> None:
    endpoints = placement.endpoints(catalog, {"all": ["h1"]}, {}, "h1")
    assert placement.ip_allow(catalog["components"]["postgresql"], endpoints) == ["localhost"]
    assert placement.ip_allow(catalog["components"]["vault"], endpoints) == ["localhost"]


def test_a_service_using_another_hosts_database_may_reach_that_address(
    catalog: dict[str, Any],
) -> None:
    hostvars = {"db1": {"aiws_address": "10.1.0.5"}}
    endpoints = placement.endpoints(catalog, SPLIT, hostvars, "app1")
    vault = catalog["components"]["vault"]
    assert filters.aiws_ip_allow(vault, endpoints) == ["localhost", "10.1.0.5"]


def test_no_address_filter_when_a_peer_is_a_name_or_the_service_is_public(
    catalog: dict[str, Any],
) -> None:
    hostvars = {"db1": {"ansible_host": "db.example"}}
    endpoints = placement.endpoints(catalog, SPLIT, hostvars, "app1")
    assert placement.ip_allow(catalog["components"]["vault"], endpoints) == []
    public = {**catalog["components"]["postgresql"], "listen": {"host": "0.0.0.0"}}
    assert placement.ip_allow(public, {}) == []


def test_a_service_that_calls_out_gets_no_address_filter(catalog: dict[str, Any]) -> None:
    endpoints = placement.endpoints(catalog, {"all": ["h1"]}, {}, "h1")
    assert catalog["components"]["litellm"]["egress"] is True
    assert placement.ip_allow(catalog["components"]["litellm"], endpoints) == []
