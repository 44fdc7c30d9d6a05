"""The ACP coding agents' roles (codex, opencode, gemini): the models each is given, its
configuration and launcher as rendered for a run, and the catalog facts they rely on."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nativetypes
import pytest
import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog

ROLES = Path(__file__).resolve().parents[2] / "roles"
CATALOG = resolved_catalog(load_catalog(), "debian-12")
MODEL = {"name": "gpt", "model": "gpt-4.1", "provider": "openai", "api_key_secret": "k"}
WITH_MODELS = {"models": [MODEL, {**MODEL, "name": "other"}], "litellm": {"test_models": True}}
MOCK_ONLY = {"models": [], "litellm": {"test_models": True}}
NOTHING = {"models": [], "litellm": {"test_models": False}}
# What Codex refuses a model catalog entry without (its ModelInfo's fields with no default).
REQUIRED_IN_CODEX_CATALOG = {
    "slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility",
    "supported_in_api", "priority", "base_instructions", "supports_reasoning_summaries",
    "support_verbosity", "truncation_policy", "supports_parallel_tool_calls",
    "experimental_supported_tools",
}  # fmt: skip


def filters(env: jinja2.Environment) -> None:
    env.filters["basename"] = os.path.basename
    env.filters["dirname"] = os.path.dirname
    env.filters["bool"] = bool
    env.filters["to_json"] = json.dumps
    env.filters["to_nice_json"] = lambda value, indent=4: json.dumps(
        value, indent=indent, sort_keys=True
    )


def render_defaults(role: str, config: dict[str, Any]) -> dict[str, Any]:
    """The role's defaults as Ansible resolves them for a run with `config` (native types)."""
    env = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    filters(env)
    values: dict[str, Any] = {
        "aiws_catalog": CATALOG,
        "aiws_run": {"config": config},
        "aiws_endpoints": {"litellm": {"url": "http://127.0.0.1:4000"}},
        "ansible_managed": "Ansible managed",
    }
    raw = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    for name, value in raw.items():  # in order: later defaults use earlier ones
        values[name] = env.from_string(value).render(values) if isinstance(value, str) else value
    return values


def render(role: str, template: str, config: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    filters(env)
    source = (ROLES / role / "templates" / template).read_text()
    return env.from_string(source).render(render_defaults(role, config))


def test_the_agents_exec_their_platform_binaries_from_the_bundle_trees() -> None:
    """codex-acp and opencode run as binaries placed at build time (no Node, no cpu in the
    path); neither needs the node component."""
    for name, placed in {
        "codex": "node_modules/@zed-industries/codex-acp/bin/codex-acp",
        "opencode": "node_modules/opencode-ai/bin/opencode.exe",
    }.items():
        component = CATALOG["components"][name]
        runtime = f"{component['runtime_root']}/{component['version']}"
        assert component["layout"]["binary"] == f"{runtime}/{placed}"
        assert component["layout"]["launcher"] == f"{runtime}/bin/aiws-{name}-acp"
        assert component["requires"] == ["litellm"]
        bundle = load_catalog().component(name).bundle
        assert bundle is not None and bundle.place_binary is not None
        assert bundle.place_binary.to == placed and bundle.entry_points == [placed]


@pytest.mark.parametrize(
    ("config", "model", "catalog"),
    [
        (WITH_MODELS, "gpt", ["gpt", "other", "aiws-mock"]),
        (MOCK_ONLY, "aiws-mock", ["aiws-mock"]),
        (NOTHING, None, []),
    ],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_codex_is_given_the_first_model_and_a_catalog_of_all(
    config: dict[str, Any], model: str | None, catalog: list[str]
) -> None:
    settings = tomllib.loads(render("codex", "config.toml.j2", config))
    assert settings.get("model") == model
    provider = settings["model_providers"][settings["model_provider"]]
    assert provider == {
        "name": "aiws LiteLLM",
        "base_url": "http://127.0.0.1:4000/v1",
        "env_key": "AIWS_LITELLM_KEY",
        "wire_api": "responses",
        "requires_openai_auth": False,
        "supports_websockets": False,
    }
    layout = CATALOG["components"]["codex"]["layout"]
    assert settings["model_catalog_json"] == layout["models"]
    models = json.loads(render("codex", "models.json.j2", config))["models"]
    assert [entry["slug"] for entry in models] == catalog
    for entry in models:
        assert set(entry) >= REQUIRED_IN_CODEX_CATALOG
        assert entry["context_window"] == 128000


def test_codex_checks_no_update_and_sends_no_analytics_or_telemetry() -> None:
    settings = tomllib.loads(render("codex", "config.toml.j2", MOCK_ONLY))
    assert settings["check_for_update_on_startup"] is False
    assert settings["analytics"] == {"enabled": False}
    assert settings["otel"] == {"exporter": "none"}


@pytest.mark.parametrize(
    ("config", "model", "models"),
    [
        (WITH_MODELS, "aiws/gpt", ["gpt", "other", "aiws-mock"]),
        (MOCK_ONLY, "aiws/aiws-mock", ["aiws-mock"]),
        (NOTHING, None, []),
    ],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_opencode_is_given_litellm_as_its_only_provider(
    config: dict[str, Any], model: str | None, models: list[str]
) -> None:
    settings = json.loads(render("opencode", "opencode.json.j2", config))
    assert settings.get("model") == model and settings.get("small_model") == model
    assert settings["enabled_providers"] == ["aiws"]
    provider = settings["provider"]["aiws"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"  # bundled in opencode's binary
    assert provider["options"] == {
        "baseURL": "http://127.0.0.1:4000/v1",
        "apiKey": "{env:AIWS_LITELLM_KEY}",
    }
    assert sorted(provider["models"]) == sorted(models)  # to_nice_json sorts keys
    assert settings["autoupdate"] is False and settings["share"] == "disabled"


def launcher_checks(text: str, name: str) -> None:
    component = CATALOG["components"][name]
    config = component["paths"]["config"]
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{component["user"]}" ]' in text
    assert f'AIWS_LITELLM_KEY="$(cat "{config}/litellm.key")"' in text
    assert "umask 077" in text


def test_the_codex_launcher_runs_codex_acp_as_its_account_with_its_home() -> None:
    text = render("codex", "launcher.sh.j2", MOCK_ONLY)
    launcher_checks(text, "codex")
    codex = CATALOG["components"]["codex"]
    home, layout = codex["paths"]["state"], codex["layout"]
    assert f'CODEX_HOME="{home}"' in text and 'HOME="$CODEX_HOME"' in text
    assert f'install -m 0600 "{layout["settings"]}" "$CODEX_HOME/config.toml"' in text
    assert text.rstrip().endswith(f'exec "{layout["binary"]}" "$@"')


def test_the_opencode_launcher_gives_it_aiws_config_dir_read_only_and_every_switch() -> None:
    text = render("opencode", "launcher.sh.j2", MOCK_ONLY)
    launcher_checks(text, "opencode")
    opencode = CATALOG["components"]["opencode"]
    config = opencode["paths"]["config"]
    assert f'HOME="{opencode["paths"]["state"]}"' in text
    # opencode's global config dir ($XDG_CONFIG_HOME/opencode) is aiws's, root's.
    assert f'XDG_CONFIG_HOME="{Path(config).parent}"' in text
    assert opencode["layout"]["settings"] == f"{config}/opencode.json"
    for switch in ("AUTOUPDATE", "MODELS_FETCH", "DEFAULT_PLUGINS", "LSP_DOWNLOAD", "SHARE"):
        assert f"export OPENCODE_DISABLE_{switch}=true\n" in text
    assert text.rstrip().endswith(f'exec "{opencode["layout"]["binary"]}" acp "$@"')


@pytest.mark.parametrize(
    ("config", "model"),
    [(WITH_MODELS, "gpt"), (MOCK_ONLY, "aiws-mock-gemini"), (NOTHING, None)],
    ids=["the operator's first model", "LiteLLM's mock for the Gemini routes", "no model"],
)
def test_gemini_is_given_the_first_model_else_the_gemini_route_mock(
    config: dict[str, Any], model: str | None
) -> None:
    settings = json.loads(render("gemini", "settings.json.j2", config))
    assert settings.get("model", {}).get("name") == model
    # The gateway authentication follows from the launcher's GOOGLE_GEMINI_BASE_URL; as a
    # setting, gemini 0.61 refuses it at start ("Invalid auth method selected").
    assert "security" not in settings


def test_gemini_updates_nothing_and_sends_no_statistics_or_telemetry() -> None:
    settings = json.loads(render("gemini", "settings.json.j2", MOCK_ONLY))
    assert settings["general"] == {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}
    assert settings["privacy"] == {"usageStatisticsEnabled": False}
    assert settings["telemetry"] == {"enabled": False}


def test_the_gemini_launcher_runs_the_bundle_node_with_aiws_settings_as_system_settings() -> None:
    text = render("gemini", "launcher.sh.j2", MOCK_ONLY)
    gemini, node = CATALOG["components"]["gemini"], CATALOG["components"]["node"]
    layout, config = gemini["layout"], gemini["paths"]["config"]
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{gemini["user"]}" ]' in text and "umask 077" in text
    assert f'HOME="{gemini["paths"]["state"]}"' in text
    assert f'GEMINI_CLI_SYSTEM_SETTINGS_PATH="{layout["settings"]}"' in text
    # Gemini's gateway: LiteLLM's root URL (its Gemini routes are /v1beta/...), its own key.
    assert 'GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:4000"' in text
    assert f'GEMINI_API_KEY="$(cat "{config}/litellm.key")"' in text
    runs = f'exec "{node["layout"]["binary"]}" "{layout["entry"]}" --acp "$@"'
    assert text.rstrip().endswith(runs)
    assert gemini["requires"] == ["node", "litellm"]
