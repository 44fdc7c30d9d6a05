"""LiteLLM's files as its role renders them, by the real Ansible on this machine (the render hook
runs on the controller and changes nothing): the model list from the operator's configuration,
provider keys as JSON-quoted references, the mock pair only when asked, and a keys file that
leaves out revoked consumers and carries each key's model limit.

On an installed host (`check`), LiteLLM: the operator's master key lists the models it serves, a
made-up key is refused; on loopback only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aiws.model.config import parse_config
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG, SECRETS, get, listens_on_loopback_only
from tests.helpers.hosts import inside
from tests.helpers.render import render

CONFIG = """
models:
  - {name: gpt, model: gpt-4.1, provider: openai, api_key_secret: openai-api-key}
  - {name: local, model: "llama3.1:8b", provider: ollama, api_base: "http://10.0.0.5:11434"}
litellm:
  test_models: %s
  consumers:
    codex: {models: [gpt]}
    gemini: {enabled: false}
    bridge: {enabled: true}
"""


def render_litellm(tmp_path: Path, config_text: str) -> dict[str, str]:
    """LiteLLM's files by their names, through the skeleton (tests/helpers/render)."""
    config = parse_config(config_text.encode(), "aiws.yml")
    rendered = render(tmp_path, ["litellm"], config)["litellm"]
    return {Path(dest).name: str(f["content"]) for dest, f in rendered.files.items()}


@pytest.fixture(scope="module")
def with_mocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render_litellm(tmp_path_factory.mktemp("mocks"), CONFIG % "true")


def test_models_come_from_the_configuration_with_quoted_key_references(
    with_mocks: dict[str, str],
) -> None:
    config = yaml.safe_load(with_mocks["config.yaml"].replace("@AIWS_SECRET", "x@AIWS_SECRET"))
    models = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    assert list(models) == ["gpt", "local", "aiws-mock", "aiws-mock-gemini"]
    # Not gemini/: LiteLLM would call Google on the streaming route instead of mocking.
    assert models["aiws-mock-gemini"]["model"] == "openai/aiws-mock-gemini"
    assert models["local"] == {"model": "ollama/llama3.1:8b", "api_base": "http://10.0.0.5:11434"}
    # Filled in on the host as a JSON string, whatever the key holds.
    assert "api_key: @AIWS_SECRET(openai-api-key|json)@" in with_mocks["config.yaml"]
    assert config["general_settings"]["custom_auth"] == "aiws_litellm.auth"
    assert config["litellm_settings"]["callbacks"] == [
        "aiws_litellm_log.request_log",
        "aiws_litellm.mock_slow",
    ]


def test_the_keys_file_leaves_out_revoked_keys_and_carries_limits(
    with_mocks: dict[str, str],
) -> None:
    keys = json.loads(with_mocks["keys.json"])
    by_consumer = {entry["consumer"]: entry for entry in keys.values()}
    assert "gemini" not in by_consumer
    assert by_consumer["codex"] == {"consumer": "codex", "models": ["gpt"]}
    assert by_consumer["bridge"] == {"consumer": "bridge"}
    assert set(by_consumer) == {"master", "bridge", "openclaw", "hermes", "codex", "opencode",
                                "operator"}  # fmt: skip
    assert "@AIWS_SECRET(litellm-key-codex)@" in keys


def test_no_mock_models_unless_asked(tmp_path: Path) -> None:
    files = render_litellm(tmp_path, CONFIG % "false")
    assert "aiws-mock" not in files["config.yaml"]
    assert "custom_provider_map" not in files["config.yaml"]
    assert "mock_slow" not in files["config.yaml"]  # the slow path comes with the mocks only


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("litellm").listen
    assert listen is not None
    url = f"{listen.url()}/v1/models"
    code, body = get(sandbox, url, f"{SECRETS}/litellm-master-key")
    assert code == 200 and json.loads(body)["data"], body
    inside(sandbox, "sh", "-c", "umask 077; echo sk-not-a-key > /root/.aiws-check-key")
    assert get(sandbox, url, "/root/.aiws-check-key")[0] == 401
    inside(sandbox, "rm", "-f", "/root/.aiws-check-key")
    listens_on_loopback_only(sandbox, "litellm")
