"""The catalog is consistent, and everything derived from it is derived correctly."""

from __future__ import annotations

import pytest

from aiws.errors import UsageError
from aiws.model.catalog import SET_KEYS, load_catalog
from aiws.model.request import parse_overrides, split_csv
from aiws.model.resolve import resolved_catalog

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


def test_set_takes_component_versions() -> None:
    overrides = parse_overrides(["litellm.version=1.2.3", "vault.version=2.7.2"], CATALOG)
    assert overrides == {"litellm": {"version": "1.2.3"}, "vault": {"version": "2.7.2"}}


@pytest.mark.parametrize(
    "key", ["aiws_catalog", "aiws_run", "aiws_bundle", "bridge_workers", "x", "litellm.port"]
)
def test_set_refuses_every_other_key_naming_it_and_what_is_allowed(key: str) -> None:
    """A free KEY would reach Ansible as an extra var, above every role variable."""
    with pytest.raises(UsageError) as refusal:
        parse_overrides([f"{key}=value"], CATALOG)
    assert refusal.value.problem == f"--set {key}: not a key aiws accepts"
    assert refusal.value.fix.startswith(f"allowed: {', '.join(SET_KEYS)}")
    assert SET_KEYS == ("<component>.version",)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("novalue", "is not KEY=VALUE"),
        ("=x", "is not KEY=VALUE"),
        ("litellm.version=", "has an empty value"),
        ("redis.version=1", "no component named 'redis'"),
        ("9x=1", "not a key aiws accepts"),
        ("a-b=1", "not a key aiws accepts"),
    ],
)
def test_parse_overrides_refuses_malformed_items(bad: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_overrides([bad], CATALOG)


def test_split_csv_keeps_order_and_drops_duplicates() -> None:
    assert split_csv(["a,b", " c ", "a", ""]) == ("a", "b", "c")
    assert split_csv(None) == ()


@pytest.mark.parametrize(
    ("selection", "installed", "expected"),
    [
        (["postgresql", "vault", "litellm"], set(), True),  # LiteLLM's keys after Vault's start
        (["postgresql", "vault"], set(), False),  # Vault mirrors what is there when it starts
        (["litellm"], {"postgresql", "vault"}, True),  # Vault from an earlier run
        (["litellm"], set(), False),  # no Vault at all
        (["node"], {"vault"}, False),  # nothing with a secret
    ],
)
def test_secrets_are_mirrored_after_vault_only_when_a_later_component_has_some(
    selection: list[str], installed: set[str], expected: bool
) -> None:
    assert load_catalog().mirror_after_vault(selection, installed) is expected
