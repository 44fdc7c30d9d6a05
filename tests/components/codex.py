"""Codex's role as the skeleton renders it (the real Ansible, tests/helpers/render): the first
model and a catalog of all of them, no update check, analytics or telemetry, its launcher.

On an installed host (`check`): its own account, its LiteLLM key in a file only it reads, a
launcher that refuses anyone else (driven over ACP by the agents' test)."""

from __future__ import annotations

import json
import tomllib

import pytest

from aiws.sandbox.state import SandboxState
from tests.components.common import RESOLVED as CATALOG
from tests.components.common import agent_is_confined_to_its_account, file_of, launcher_checks
from tests.helpers.render import Renders

# What Codex refuses a model catalog entry without (its ModelInfo's fields with no default).
REQUIRED_IN_CODEX_CATALOG = {
    "slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility",
    "supported_in_api", "priority", "base_instructions", "supports_reasoning_summaries",
    "support_verbosity", "truncation_policy", "supports_parallel_tool_calls",
    "experimental_supported_tools",
}  # fmt: skip


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


def check(sandbox: SandboxState) -> None:
    agent_is_confined_to_its_account(sandbox, "codex")
