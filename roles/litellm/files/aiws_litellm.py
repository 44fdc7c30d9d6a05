"""aiws's LiteLLM hooks, loaded by the proxy from its configuration directory.

auth: one key per consumer, without a database (general_settings.custom_auth). The keys
file (keys.json beside this file, 0640 root:aiws-litellm) maps each key to its consumer; it
is read again when it changes, so revoking a key needs no restart. An unknown key is
refused (HTTP 401). What custom_auth returns is taken as is (LiteLLM's own route checks do
not run after it), so the routes are checked here: the master key (the operator's) reaches
every route; every other key only the inference routes (chat, completions, embeddings, the
Responses API, Anthropic messages, Gemini's generate calls) and the model lists, nothing of
LiteLLM's management, health or pass-through routes. A key may be limited to some models
(litellm.consumers.<name>.models in the operator's configuration): any other model, or a
request naming none, is refused; the model lists are the only requests that name none.

mock_llm: aiws's offline test model (aiws-mock): a fixed answer for chat completions and
the Responses API, streaming included, without any network.

mock_slow: with the test models, a call to one of them whose request carries "aiws-mock-slow"
is held for a few seconds before it is answered: the mock answers at once otherwise, so a test
could not cancel a turn while the agent still waits for the model.
"""

import asyncio
import json
import os
import re

from litellm import CustomLLM, ModelResponse, completion
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS_FILE = os.path.join(HERE, "keys.json")
MOCK_TEXT = "aiws mock answer"
MOCK_MODELS = ("aiws-mock", "aiws-mock-gemini")
SLOW_MARKER = "aiws-mock-slow"
SLOW_SECONDS = 5
_keys = {"stamp": None, "by_key": {}}
# Routes that name the model in the path: Gemini's /models/<m>:generateContent, Azure's
# /deployments/<m>/..., the legacy /engines/<m>/...
MODEL_IN_PATH = re.compile(r"/(?:models/([^/:]+):|deployments/([^/]+)/|engines/([^/]+)/)")
ADMIN = "master"
# What a consumer key may ask: inference (POST) and the model lists (GET), each with or
# without LiteLLM's /v1 or /openai prefixes.
_PREFIX = r"(?:/openai)?(?:/v1)?"
CONSUMER_POST = re.compile(
    r"^" + _PREFIX + r"(?:/engines/[^/]+|/deployments/[^/]+)?"
    r"/(?:chat/completions|completions|embeddings|responses|messages|messages/count_tokens)$"
    r"|^/v1beta/models/[^/:]+:(?:generateContent|streamGenerateContent|countTokens)$"
)
CONSUMER_GET = re.compile(r"^(?:" + _PREFIX + r"|/v1beta)/models$")
CONSUMER_GET_ONE = re.compile(r"^(?:" + _PREFIX + r"|/v1beta)/models/([^/:]+)$")


def _current_keys():
    info = os.stat(KEYS_FILE)
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    if stamp != _keys["stamp"]:
        with open(KEYS_FILE) as handle:
            _keys["by_key"] = json.load(handle)
        _keys["stamp"] = stamp
    return _keys["by_key"]


async def auth(request, api_key):
    """The consumer a key belongs to, or an exception (LiteLLM answers 401)."""
    presented = (api_key or "").removeprefix("Bearer ").strip()
    entry = _current_keys().get(presented) if presented else None
    if entry is None:
        raise Exception("unknown API key")
    if entry["consumer"] == ADMIN:
        return UserAPIKeyAuth(
            api_key=presented, user_id=ADMIN, user_role=LitellmUserRoles.PROXY_ADMIN
        )
    kind = consumer_route(request.method, request.url.path)
    if kind is None:
        raise Exception("this key may not use %s %s" % (request.method, request.url.path))
    models = entry.get("models")
    if models is not None and kind != "models":
        asked = await _asked_model(request)
        if asked not in models:
            raise Exception("this key may not use model %r" % asked)
    return UserAPIKeyAuth(api_key=presented, user_id=entry["consumer"])


def consumer_route(method, path):
    """What a consumer key's request is: "inference", "models" (the model list), "model"
    (one model's entry, named in the path), or None (refused: management, health,
    pass-through, anything else)."""
    path = path.rstrip("/") or "/"
    if method == "POST" and CONSUMER_POST.match(path):
        return "inference"
    if method == "GET" and CONSUMER_GET.match(path):
        return "models"
    if method == "GET" and CONSUMER_GET_ONE.match(path):
        return "model"
    return None


async def _asked_model(request):
    """The model a request asks for (its path, else its JSON body), or None when it names
    none: a key limited to some models is refused then (fail closed)."""
    named = MODEL_IN_PATH.search(request.url.path) or CONSUMER_GET_ONE.match(
        request.url.path.rstrip("/")
    )
    if named:
        return next(group for group in named.groups() if group)
    try:
        body = await request.json()
    except Exception:
        return None
    return body.get("model") if isinstance(body, dict) else None


def _answer(kwargs):
    return completion(
        model="gpt-3.5-turbo", messages=kwargs.get("messages") or [], mock_response=MOCK_TEXT
    )


def _chunks():
    words = MOCK_TEXT.split(" ")
    for index, word in enumerate(words):
        last = index == len(words) - 1
        yield {
            "text": word + ("" if last else " "),
            "is_finished": last,
            "finish_reason": "stop" if last else None,
            "index": 0,
            "tool_use": None,
            "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}
            if last
            else None,
        }


class AiwsMock(CustomLLM):
    def completion(self, *args, **kwargs) -> ModelResponse:
        return _answer(kwargs)

    async def acompletion(self, *args, **kwargs) -> ModelResponse:
        return _answer(kwargs)

    def streaming(self, *args, **kwargs):
        yield from _chunks()

    async def astreaming(self, *args, **kwargs):
        for chunk in _chunks():
            yield chunk


mock_llm = AiwsMock()


class MockSlow(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        if data.get("model") in MOCK_MODELS and SLOW_MARKER in json.dumps(data, default=str):
            await asyncio.sleep(SLOW_SECONDS)
        return data


mock_slow = MockSlow()
