"""Gemini CLI's role as the skeleton renders it (the real Ansible, tests/helpers/render): the
first model else the Gemini routes' mock, no update, statistics or telemetry, its launcher on
the bundle's Node.

On an installed host (`check`): its own account, its LiteLLM key in a file only it reads, a
launcher that refuses anyone else (driven over ACP by the agents' test)."""

from __future__ import annotations

import json

import pytest

from aiws.sandbox.state import SandboxState
from tests.components.common import RESOLVED as CATALOG
from tests.components.common import agent_is_confined_to_its_account, file_of
from tests.helpers.render import Renders


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


def check(sandbox: SandboxState) -> None:
    agent_is_confined_to_its_account(sandbox, "gemini")
