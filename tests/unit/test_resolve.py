"""aiws.model.resolve: the catalog facts resolved for one platform and one run's overrides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiws.errors import AiwsError
from aiws.model.catalog import load_catalog
from aiws.model.resolve import fill, resolved_catalog

PLATFORMS = ["debian-11", "debian-12", "debian-13"]


def postgresql(platform: str, overrides: dict[str, dict[str, str]] | None = None) -> Any:
    catalog = load_catalog().with_overrides(overrides or {})
    return resolved_catalog(catalog, platform)["components"]["postgresql"]


@pytest.mark.parametrize(
    ("platform", "version"), [("debian-11", "13"), ("debian-12", "15"), ("debian-13", "17")]
)
def test_postgresql_follows_the_platform(platform: str, version: str) -> None:
    pg = postgresql(platform)
    assert pg["version"] == version
    assert pg["packages"] == [f"postgresql-{version}"]
    assert pg["layout"]["bin"] == f"/usr/lib/postgresql/{version}/bin"
    assert pg["layout"]["data"] == f"/var/lib/aiws/postgresql/{version}"
    assert pg["paths"]["runtime"] == f"/opt/aiws/postgresql/{version}"
    assert pg["artifact"] == "apt"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_version_override_wins_on_every_platform(platform: str) -> None:
    pg = postgresql(platform, {"postgresql": {"version": "16"}})
    assert pg["version"] == "16"
    assert pg["packages"] == ["postgresql-16"]
    assert pg["layout"]["bin"] == "/usr/lib/postgresql/16/bin"
    assert pg["layout"]["data"] == "/var/lib/aiws/postgresql/16"


def test_an_override_does_not_change_the_shared_catalog() -> None:
    load_catalog().with_overrides({"postgresql": {"version": "16"}})
    assert postgresql("debian-13")["version"] == "17"
    assert load_catalog().components["postgresql"].version == "15"


def test_without_a_platform_the_default_version_is_used() -> None:
    resolved = resolved_catalog(load_catalog())
    assert resolved["platform"] == ""
    assert resolved["components"]["postgresql"]["version"] == "15"


def test_vault_listen_ports_secrets_and_database() -> None:
    vault = resolved_catalog(load_catalog(), "debian-12")["components"]["vault"]
    assert vault["listen"]["ports"] == [8200, 8201]
    assert vault["listen"]["url"] == "http://127.0.0.1:8200"
    secrets = {s["name"]: s for s in vault["secrets"]}
    assert secrets["postgresql-aiws_vault"]["path"] == "/var/lib/aiws/secrets/postgresql-aiws_vault"
    assert secrets["postgresql-aiws_vault"]["mode"] == "0600"
    assert secrets["postgresql-aiws_vault"]["generated"] is True
    assert secrets["vault-unseal-key"]["generated"] is False
    assert vault["secret_files"] == {
        "unseal_key": "/var/lib/aiws/secrets/vault-unseal-key",
        "token": "/var/lib/aiws/secrets/vault-aiws-token",
    }
    assert vault["databases"] == [
        {
            "name": "vault",
            "owner": "aiws_vault",
            "secret": "postgresql-aiws_vault",
            "secret_path": "/var/lib/aiws/secrets/postgresql-aiws_vault",
        }
    ]
    assert vault["requires"] == ["postgresql"]
    assert vault["after_units"] == ["aiws-postgresql.service"]
    assert vault["layout"]["binary"] == "/opt/aiws/vault/2.7.2/bin/bao"
    assert vault["layout"]["unseal_helper"] == "/opt/aiws/vault/aiws-vault-unseal.py"
    assert vault["layout"]["socket"] == "/run/aiws-vault/vault.sock"
    assert vault["hardening"] == ["MemoryDenyWriteExecute=yes"]
    assert vault["ready"] == {
        "type": "http",
        "url": "http://127.0.0.1:8200/v1/sys/health",
        "timeout": 120,
        "expect": [200],  # the upgrade's health gate: unsealed and active
    }


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_postgresql_health_command_is_filled_in(platform: str) -> None:
    pg = postgresql(platform)
    command = pg["health"]["command"]
    assert not any("{" in arg or "}" in arg for arg in command)
    assert command == ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]
    assert pg["ready"] == {"type": "command", "command": command, "timeout": 120}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_template_field_is_left_anywhere(platform: str) -> None:
    resolved = resolved_catalog(load_catalog(), platform)
    for name, component in resolved["components"].items():
        for key in ("layout", "health", "paths", "runtime_root"):
            text = json.dumps(component[key])
            assert "{version}" not in text and "{state}" not in text, (name, key)
            assert "{runtime" not in text and "{host}" not in text, (name, key)


def test_a_platform_variant_changes_what_it_names_and_nothing_else() -> None:
    """PostgreSQL's version differs per Debian release (its package's name with it); Caddy,
    which has no variant, is the same static binary everywhere."""
    for platform, version in (("debian-11", "13"), ("debian-12", "15"), ("debian-13", "17")):
        components = resolved_catalog(load_catalog(), platform)["components"]
        postgresql, caddy = components["postgresql"], components["caddy"]
        assert postgresql["version"] == version and postgresql["artifact"] == "apt"
        assert postgresql["packages"] == [f"postgresql-{version}"]
        assert (caddy["version"], caddy["packages"], caddy["artifact"]) == ("2.11.7", [], "caddy")


def test_fill_replaces_known_fields() -> None:
    assert fill("{a}/x/{b}-{a}", {"a": "1", "b": "2"}, "here") == "1/x/2-1"
    assert fill("no fields", {}, "here") == "no fields"


def test_fill_refuses_an_unknown_field_naming_it_and_where() -> None:
    with pytest.raises(AiwsError) as caught:
        fill("{state}/{nope}", {"state": "/var/lib/aiws"}, "vault.layout.data")
    assert "{nope}" in str(caught.value) and "vault.layout.data" in str(caught.value)


def test_a_static_binary_runs_from_its_versioned_runtime_tree() -> None:
    """A unit that runs a bundled static binary names the file the bundle unpacks: the
    layout's `binary` under the component's versioned runtime tree (not the unversioned
    root the versions live in)."""
    catalog = load_catalog()
    for name, component in catalog.components.items():
        if component.bundle is None or component.bundle.recipe != "pypi-binary":
            continue
        resolved = resolved_catalog(catalog, "debian-12")["components"][name]
        runtime = catalog.component_paths(name)["runtime"]
        assert runtime.endswith(f"/{component.version}"), runtime
        assert resolved["layout"]["binary"] == f"{runtime}/{component.bundle.entry_points[0]}"
