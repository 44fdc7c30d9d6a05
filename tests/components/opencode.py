"""opencode's role as the skeleton renders it (the real Ansible, tests/helpers/render): LiteLLM
as its only provider, every fetch and update switched off, its launcher.

On an installed host (`check`): its own account, its LiteLLM key in a file only it reads, a
launcher that refuses anyone else (driven over ACP by the agents' test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.sandbox.state import SandboxState
from tests.components.common import RESOLVED as CATALOG
from tests.components.common import agent_is_confined_to_its_account, file_of, launcher_checks
from tests.helpers.render import Renders


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


def check(sandbox: SandboxState) -> None:
    agent_is_confined_to_its_account(sandbox, "opencode")
