"""LiteLLM's custom auth (roles/litellm/files/aiws_litellm.py) decides the routes itself:
what it returns is taken as is, LiteLLM's own route checks do not run after it. A consumer
key (an agent's, which any Bridge token holder can use through that agent) gets inference
and the model lists, nothing of management, health or pass-through; the master key
everything. The real proxy is exercised by tests/integration/test_litellm.py; here the
rule itself, every route kind, against the file the role installs (LiteLLM's own classes,
which this venv does not have, are replaced by stand-ins only to import it)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

HOOKS = Path(__file__).resolve().parents[2] / "roles" / "litellm" / "files" / "aiws_litellm.py"


class Auth:
    def __init__(self, **fields: Any):
        self.fields = fields


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name, attrs in {
        "litellm": {"CustomLLM": object, "ModelResponse": object, "completion": None},
        "litellm.integrations": {},
        "litellm.integrations.custom_logger": {"CustomLogger": object},
        "litellm.proxy": {},
        "litellm.proxy._types": {"UserAPIKeyAuth": Auth,
                                 "LitellmUserRoles": types.SimpleNamespace(PROXY_ADMIN="admin")},
    }.items():  # fmt: skip
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("aiws_litellm_under_test", HOOKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({
        "sk-master": {"consumer": "master"},
        "sk-codex": {"consumer": "codex", "models": ["aiws-mock"]},
        "sk-bridge": {"consumer": "bridge"},
    }))  # fmt: skip
    monkeypatch.setattr(module, "KEYS_FILE", str(keys))
    return module


class Request:
    def __init__(self, method: str, path: str, body: dict[str, Any] | None = None):
        self.method = method
        self.url = types.SimpleNamespace(path=path)
        self._body = body

    async def json(self) -> Any:
        if self._body is None:
            raise ValueError("no body")
        return self._body


def allowed(hooks: Any, key: str, method: str, path: str, body: Any = None) -> bool:
    try:
        asyncio.run(hooks.auth(Request(method, path, body), f"Bearer {key}"))
    except Exception:  # LiteLLM turns any exception of custom_auth into a 401
        return False
    return True


INFERENCE = [
    "/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/embeddings",
    "/v1/responses", "/responses", "/v1/messages",
    "/openai/deployments/aiws-mock/chat/completions", "/engines/aiws-mock/chat/completions",
]  # fmt: skip
MANAGEMENT = [
    ("GET", "/health"), ("GET", "/health/readiness/details"), ("GET", "/v1/model/info"),
    ("POST", "/key/generate"), ("GET", "/key/list"), ("POST", "/model/new"),
    ("POST", "/user/new"), ("GET", "/global/spend"), ("POST", "/config/update"),
    ("POST", "/openai/v1/files"), ("GET", "/v1/responses/resp_1"),
    ("POST", "/anthropic/v1/messages"),
    ("POST", "/vertex_ai/v1/projects/x"), ("POST", "/v1/chat/completions/../../key/generate"),
    ("DELETE", "/v1/models"), ("GET", "/v1/chat/completions"),
]  # fmt: skip


@pytest.mark.parametrize("path", INFERENCE)
def test_a_consumer_key_reaches_inference_for_its_models(hooks: Any, path: str) -> None:
    assert allowed(hooks, "sk-bridge", "POST", path, {"model": "upstream"})
    model = "aiws-mock" if "/deployments/" in path or "/engines/" in path else None
    assert allowed(hooks, "sk-codex", "POST", path, {"model": model or "aiws-mock"})
    if model is None:
        assert not allowed(hooks, "sk-codex", "POST", path, {"model": "upstream"})
        assert not allowed(hooks, "sk-codex", "POST", path, {})  # names none: refused


def test_gemini_routes_name_the_model_in_the_path(hooks: Any) -> None:
    route = "/v1beta/models/{}:streamGenerateContent"
    assert allowed(hooks, "sk-codex", "POST", route.format("aiws-mock"), {})
    assert not allowed(hooks, "sk-codex", "POST", route.format("upstream"), {})
    assert allowed(hooks, "sk-bridge", "POST", route.format("upstream"), {})


@pytest.mark.parametrize("path", ["/v1/models", "/models", "/v1beta/models", "/v1/models/"])
def test_a_consumer_key_lists_the_models(hooks: Any, path: str) -> None:
    assert allowed(hooks, "sk-codex", "GET", path)


def test_one_models_entry_only_for_a_model_the_key_may_use(hooks: Any) -> None:
    for route in ("/v1/models/{}", "/v1beta/models/{}"):
        assert allowed(hooks, "sk-codex", "GET", route.format("aiws-mock"))
        assert not allowed(hooks, "sk-codex", "GET", route.format("upstream"))
        assert allowed(hooks, "sk-bridge", "GET", route.format("upstream"))


@pytest.mark.parametrize(("method", "path"), MANAGEMENT)
def test_a_consumer_key_reaches_nothing_else_and_the_master_key_everything(
    hooks: Any, method: str, path: str
) -> None:
    assert not allowed(hooks, "sk-bridge", method, path, {"model": "aiws-mock"})
    assert not allowed(hooks, "sk-codex", method, path, {"model": "aiws-mock"})
    assert allowed(hooks, "sk-master", method, path, {"model": "aiws-mock"})


def test_the_master_key_is_litellms_admin_and_an_unknown_key_nobody(hooks: Any) -> None:
    result = asyncio.run(hooks.auth(Request("GET", "/key/list"), "Bearer sk-master"))
    assert result.fields["user_role"] == "admin" and result.fields["user_id"] == "master"
    assert not allowed(hooks, "sk-nope", "POST", "/v1/chat/completions", {"model": "x"})
    assert not allowed(hooks, "", "GET", "/v1/models")
