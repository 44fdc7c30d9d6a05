"""The ACP coding agents' roles (codex, opencode, gemini): the models each is given, its
configuration and launcher as rendered for a run, and the catalog facts they rely on."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from tests.helpers.render import Renders

CATALOG = resolved_catalog(load_catalog(), "debian-12")
# What Codex refuses a model catalog entry without (its ModelInfo's fields with no default).
REQUIRED_IN_CODEX_CATALOG = {
    "slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility",
    "supported_in_api", "priority", "base_instructions", "supports_reasoning_summaries",
    "support_verbosity", "truncation_policy", "supports_parallel_tool_calls",
    "experimental_supported_tools",
}  # fmt: skip


AGENTS = ["codex", "opencode", "gemini", "hermes"]


def file_of(rendered: Renders, config: str, name: str, what: str) -> str:
    """The text of one of the agent's files: a layout name (settings, models, launcher)."""
    agent = rendered[config][name]
    return agent.text(CATALOG["components"][name]["layout"][what])


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
        ("WITH_MODELS", "gpt", ["gpt", "other", "aiws-mock"]),
        ("MOCK_ONLY", "aiws-mock", ["aiws-mock"]),
        ("NOTHING", None, []),
    ],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_codex_is_given_the_first_model_and_a_catalog_of_all(
    rendered: Renders, config: str, model: str | None, catalog: list[str]
) -> None:
    settings = tomllib.loads(file_of(rendered, config, "codex", "settings"))
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
    models = json.loads(file_of(rendered, config, "codex", "models"))["models"]
    assert [entry["slug"] for entry in models] == catalog
    for entry in models:
        assert set(entry) >= REQUIRED_IN_CODEX_CATALOG
        assert entry["context_window"] == 128000


def test_codex_checks_no_update_and_sends_no_analytics_or_telemetry(
    rendered: Renders,
) -> None:
    settings = tomllib.loads(file_of(rendered, "MOCK_ONLY", "codex", "settings"))
    assert settings["check_for_update_on_startup"] is False
    assert settings["analytics"] == {"enabled": False}
    assert settings["otel"] == {"exporter": "none"}


@pytest.mark.parametrize(
    ("config", "model", "models"),
    [
        ("WITH_MODELS", "aiws/gpt", ["gpt", "other", "aiws-mock"]),
        ("MOCK_ONLY", "aiws/aiws-mock", ["aiws-mock"]),
        ("NOTHING", None, []),
    ],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_opencode_is_given_litellm_as_its_only_provider(
    rendered: Renders, config: str, model: str | None, models: list[str]
) -> None:
    settings = json.loads(file_of(rendered, config, "opencode", "settings"))
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


def test_the_codex_launcher_runs_codex_acp_as_its_account_with_its_home(
    rendered: Renders,
) -> None:
    text = file_of(rendered, "MOCK_ONLY", "codex", "launcher")
    launcher_checks(text, "codex")
    codex = CATALOG["components"]["codex"]
    home, layout = codex["paths"]["state"], codex["layout"]
    assert f'CODEX_HOME="{home}"' in text and 'HOME="$CODEX_HOME"' in text
    assert f'install -m 0600 "{layout["settings"]}" "$CODEX_HOME/config.toml"' in text
    assert text.rstrip().endswith(f'exec "{layout["binary"]}" "$@"')


def test_the_opencode_launcher_gives_it_aiws_config_dir_read_only_and_every_switch(
    rendered: Renders,
) -> None:
    text = file_of(rendered, "MOCK_ONLY", "opencode", "launcher")
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
    [("WITH_MODELS", "gpt"), ("MOCK_ONLY", "aiws-mock-gemini"), ("NOTHING", None)],
    ids=["the operator's first model", "LiteLLM's mock for the Gemini routes", "no model"],
)
def test_gemini_is_given_the_first_model_else_the_gemini_route_mock(
    rendered: Renders, config: str, model: str | None
) -> None:
    settings = json.loads(file_of(rendered, config, "gemini", "settings"))
    assert settings.get("model", {}).get("name") == model
    # The gateway authentication follows from the launcher's GOOGLE_GEMINI_BASE_URL; as a
    # setting, gemini 0.61 refuses it at start ("Invalid auth method selected").
    assert "security" not in settings


def test_gemini_updates_nothing_and_sends_no_statistics_or_telemetry(
    rendered: Renders,
) -> None:
    settings = json.loads(file_of(rendered, "MOCK_ONLY", "gemini", "settings"))
    assert settings["general"] == {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}
    assert settings["privacy"] == {"usageStatisticsEnabled": False}
    assert settings["telemetry"] == {"enabled": False}


def test_the_gemini_launcher_runs_the_bundle_node_with_aiws_settings_as_system_settings(
    rendered: Renders,
) -> None:
    text = file_of(rendered, "MOCK_ONLY", "gemini", "launcher")
    gemini, node = CATALOG["components"]["gemini"], CATALOG["components"]["node"]
    layout, config = gemini["layout"], gemini["paths"]["config"]
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{gemini["user"]}" ]' in text and "umask 077" in text
    assert f'HOME="{gemini["paths"]["state"]}"' in text
    assert f'GEMINI_CLI_SYSTEM_SETTINGS_PATH="{layout["settings"]}"' in text
    # Gemini's gateway: LiteLLM's root URL (its Gemini routes are /v1beta/...), its own key.
    assert 'GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:4000"' in text
    assert f'AIWS_LITELLM_KEY="$(cat "{config}/litellm.key")"' in text
    assert 'GEMINI_API_KEY="$AIWS_LITELLM_KEY"' in text
    runs = f'exec "{node["layout"]["binary"]}" "{layout["entry"]}" --acp "$@"'
    assert text.rstrip().endswith(runs)
    assert gemini["requires"] == ["node", "litellm"]


@pytest.mark.parametrize(
    ("config", "model"),
    [("WITH_MODELS", "gpt"), ("MOCK_ONLY", "aiws-mock"), ("NOTHING", None)],
    ids=["the operator's first model", "the offline mock", "no model at all"],
)
def test_hermes_is_given_the_first_model_else_the_mock(
    rendered: Renders, config: str, model: str | None
) -> None:
    settings = yaml.safe_load(file_of(rendered, config, "hermes", "settings"))
    assert settings["model"].get("default") == model
    assert settings["model"]["provider"] == "custom"
    assert settings["model"]["base_url"] == "http://127.0.0.1:4000/v1"
    # Filled in on the host from LiteLLM's secret for the hermes consumer.
    assert settings["model"]["api_key"] == "@AIWS_SECRET(litellm-key-hermes)@"
    # Hermes refuses less than 64000 tokens and looks the length up online without it.
    assert settings["model"]["context_length"] >= 64000


def test_hermes_reaches_nothing_on_the_internet_by_itself(
    rendered: Renders,
) -> None:
    settings = yaml.safe_load(file_of(rendered, "MOCK_ONLY", "hermes", "settings"))
    assert settings["model_catalog"]["enabled"] is False
    assert settings["lsp"]["enabled"] is False
    assert settings["curator"]["enabled"] is False
    assert settings["security"] == {"allow_lazy_installs": False, "tirith_enabled": False}


def test_the_hermes_launcher_runs_hermes_acp_as_its_account_with_its_home(
    rendered: Renders,
) -> None:
    text = file_of(rendered, "NOTHING", "hermes", "launcher")
    launcher_checks(text, "hermes")
    hermes = CATALOG["components"]["hermes"]
    layout, home = hermes["layout"], hermes["paths"]["state"]
    assert f'HERMES_HOME="{home}"' in text and 'HOME="$HERMES_HOME"' in text
    assert f'install -m 0600 "{layout["settings"]}" "$HERMES_HOME/config.yaml"' in text
    assert text.rstrip().endswith(f'exec "{layout["venv"]}/bin/hermes" acp "$@"')
    assert layout["launcher"] == f"{hermes['runtime_root']}/{hermes['version']}/bin/aiws-hermes-acp"


@pytest.mark.parametrize("name", AGENTS)
def test_every_agent_gets_the_skeleton_s_key_file_launcher_and_directory(
    rendered: Renders, name: str
) -> None:
    """What the skeleton gives each agent, whatever its role says: its LiteLLM key file
    (0640, its group), its launcher (0755) in a root-owned directory, both in its record."""
    agent = rendered["MOCK_ONLY"][name]
    component = CATALOG["components"][name]
    key = agent.files[f"{component['paths']['config']}/litellm.key"]
    assert key["content"] == f"@AIWS_SECRET(litellm-key-{name})@\n"
    assert (key["mode"], key["group"]) == ("0640", component["user"])
    launcher = component["layout"]["launcher"]
    assert agent.files[launcher]["mode"] == "0755"
    assert {"path": str(Path(launcher).parent), "owner": "root", "group": "root",
            "mode": "0755"} in agent.directories  # fmt: skip
    assert set(agent.record["files"]) == set(agent.files)
    assert agent.unit is None and agent.units == []


def test_only_hermes_of_the_agents_builds_a_venv(rendered: Renders) -> None:
    """The venv step comes from the catalog's layout (a wheelhouse), not from the role."""
    steps = {name: rendered["NOTHING"][name].init for name in AGENTS}
    venv = CATALOG["components"]["hermes"]["layout"]["venv"]
    assert [step["creates"] for step in steps.pop("hermes")] == [
        f"{venv}/pyvenv.cfg", f"{venv}/.aiws-installed"]  # fmt: skip
    assert all(step == [] for step in steps.values()), steps
