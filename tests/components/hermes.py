"""Hermes's role as the skeleton renders it (the real Ansible, tests/helpers/render): the first
model else the mock, nothing reached on the internet by itself, its launcher.

On an installed host (`check`): its own account, its LiteLLM key in a file only it reads, a
launcher that refuses anyone else (driven over ACP by the agents' test)."""

from __future__ import annotations

import pytest
import yaml

from aiws.sandbox.state import SandboxState
from tests.components.common import RESOLVED as CATALOG
from tests.components.common import agent_is_confined_to_its_account, file_of, launcher_checks
from tests.helpers.render import Renders


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


def check(sandbox: SandboxState) -> None:
    agent_is_confined_to_its_account(sandbox, "hermes")
