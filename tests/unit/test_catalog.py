"""The catalog is consistent, and everything derived from it is derived correctly."""

from __future__ import annotations

import pytest

from aiws.catalog import load_catalog
from aiws.errors import UsageError
from aiws.request import parse_sets, split_csv
from aiws.resolve import resolved_catalog

CATALOG = load_catalog()


def test_every_reference_names_a_known_component() -> None:
    for component in CATALOG.components.values():
        assert set(component.requires) <= set(CATALOG.components), component.name
        assert set(component.backends) <= set(CATALOG.backends), component.name
    for mode in CATALOG.modes.values():
        assert set(mode.components) <= set(CATALOG.components), mode.name
        for name in mode.components:  # a mode is self-sufficient
            assert set(CATALOG.components[name].requires) <= set(mode.components), (mode.name, name)


def test_ports_are_unique_and_only_public_components_leave_loopback() -> None:
    listens = [c.listen for c in CATALOG.components.values() if c.listen]
    ports = [listen.port for listen in listens]
    assert len(ports) == len(set(ports))
    for component in CATALOG.components.values():
        if component.listen and not component.public:
            assert component.listen.host == "127.0.0.1", component.name


def test_modes_from_the_brief() -> None:
    assert set(CATALOG.modes) >= {"all-in-one", "core", "local"}
    assert set(CATALOG.modes["core"].components) == {
        "postgresql",
        "vault",
        "litellm",
        "bridge",
        "caddy",
    }
    assert not any(CATALOG.components[c].public for c in CATALOG.modes["local"].components)


def test_install_order_puts_requirements_first() -> None:
    order = CATALOG.in_install_order(CATALOG.modes["all-in-one"].components)
    for index, name in enumerate(order):
        for dep in CATALOG.components[name].requires:
            assert order.index(dep) < index, (dep, name)


def test_units_users_and_paths_are_derived() -> None:
    vault = CATALOG.component("vault")
    assert vault.unit == "aiws-vault.service" and vault.user == "aiws-vault"
    assert CATALOG.component("codex").unit is None  # agents run under the Bridge
    assert CATALOG.component_paths("vault") == {
        "runtime": "/opt/aiws/vault/2.7.2",
        "config": "/etc/aiws/vault",
        "state": "/var/lib/aiws/vault",
        "log": "/var/log/aiws/vault",
    }


def test_version_override_reaches_paths_and_ansible_vars() -> None:
    overridden = CATALOG.with_overrides({"litellm": {"version": "1.200.0"}})
    assert overridden.component("litellm").version == "1.200.0"
    assert CATALOG.component("litellm").version != "1.200.0"  # the pin itself is untouched
    data = resolved_catalog(overridden, "debian-12")["components"]["litellm"]
    assert data["paths"]["runtime"] == "/opt/aiws/litellm/1.200.0"
    assert data["unit"] == "aiws-litellm.service"


def test_unknown_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="valid modes: all-in-one, core, local"):
        CATALOG.mode("everything")
    with pytest.raises(UsageError, match="choose from: postgresql"):
        CATALOG.component("redis")


def test_parse_sets_splits_overrides_from_extra_vars() -> None:
    overrides, extra = parse_sets(["litellm.version=1.2.3", "bridge_workers=4", "x=a=b"], CATALOG)
    assert overrides == {"litellm": {"version": "1.2.3"}}
    assert extra == {"bridge_workers": "4", "x": "a=b"}


@pytest.mark.parametrize(
    "bad", ["novalue", "=x", "litellm.port=1", "litellm.version=", "9x=1", "a-b=1"]
)
def test_parse_sets_refuses_malformed_items(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_sets([bad], CATALOG)


def test_split_csv_keeps_order_and_drops_duplicates() -> None:
    assert split_csv(["a,b", " c ", "a", ""]) == ("a", "b", "c")
    assert split_csv(None) == ()
