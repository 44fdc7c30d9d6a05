"""LiteLLM on a fresh network-less Debian 12 host, from the bundle: its venv made from the
bundle's wheels, aiws's offline mock model, one key per consumer (unknown key -> 401), the
Responses API streaming (what codex needs), and a rerun that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.sandbox.state import SandboxState
from tests.helpers.bundles import build
from tests.helpers.hosts import inside, install

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ("--mode", "core", "--only", "litellm")
MOCK_TEXT = "aiws mock answer"

# POSTs JSON to LiteLLM on the host's loopback with a key; prints status and body.
CALL = r"""
import json, sys, urllib.error, urllib.request
path, key, body = sys.argv[1], sys.argv[2], sys.argv[3]
request = urllib.request.Request("http://127.0.0.1:4000" + path, data=body.encode(),
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=60) as reply:
        print(reply.status); print(reply.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code); print(exc.read().decode())
"""


@pytest.fixture(scope="module")
def litellm_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("litellm-bundle")
    return build("debian-12-amd64", ["litellm", CONTROLLER], out).package


def call(sandbox: SandboxState, path: str, key: str, body: dict[str, object]) -> tuple[int, str]:
    status, _, text = inside(sandbox, "python3", "-c", CALL, path, key, json.dumps(body),
                             timeout=120).partition("\n")  # fmt: skip
    return int(status), text


def secret(sandbox: SandboxState, name: str) -> str:
    return inside(sandbox, "cat", f"/var/lib/aiws/secrets/{name}")


def test_litellm_serves_the_mock_to_each_consumer_key(
    sandbox: SandboxState, litellm_bundle: Path, tmp_path: Path
) -> None:
    config = tmp_path / "aiws.yml"
    config.write_text("litellm:\n  test_models: true\n")
    first, seconds = install(sandbox, litellm_bundle, *SELECTION, "--config", str(config))
    assert {row.name: row.health for row in first.components} == {"litellm": "healthy"}
    print(f"\nlitellm first install: {seconds:.1f} s", flush=True)

    chat = {"model": "aiws-mock", "messages": [{"role": "user", "content": "hi"}]}
    status, body = call(
        sandbox, "/v1/chat/completions", secret(sandbox, "litellm-key-bridge"), chat
    )
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == MOCK_TEXT

    status, body = call(sandbox, "/v1/chat/completions", "sk-not-a-key", chat)
    assert status == 401, body

    responses = {"model": "aiws-mock", "input": "hi", "stream": True}
    status, body = call(sandbox, "/v1/responses", secret(sandbox, "litellm-key-codex"), responses)
    assert status == 200, body
    assert "response.output_text.delta" in body and "mock" in body

    rerun, seconds = install(sandbox, litellm_bundle, *SELECTION, "--config", str(config))
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    print(f"litellm rerun: {seconds:.1f} s", flush=True)
