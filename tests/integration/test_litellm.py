"""LiteLLM on a fresh network-less Debian 12 host, from the bundle, with aiws on the host (the
air-gapped way): its venv made from the bundle's wheels, aiws's offline mock models, one key
per consumer (unknown or revoked key -> 401, a key limited to one model refused another),
the Responses API streaming (what codex needs), the model list in status and the summary, no
outbound connection attempt, and reruns that touch only what changed: a model edited in the
configuration file or a provider key stored with `aiws secrets set` rewrites LiteLLM's
configuration and restarts aiws-litellm alone."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from aiws.commands.summary import DeploySummary
from aiws.sandbox.state import SandboxState
from tests.helpers import outbound
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import bootstrap, copy_in, exists, inside, kv_matches_file, on_host

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ("--mode", "core", "--only", "postgresql,vault,litellm")
UNITS = ("aiws-postgresql", "aiws-vault", "aiws-litellm")
MOCK_TEXT = "aiws mock answer"
CONFIG = "/root/aiws.yml"
PROVIDER_KEY = "provider-openai"
# A model behind a provider this host cannot reach: only its configuration is exercised.
MODEL = "  - {{name: upstream, model: {model}, provider: openai, api_key_secret: " + PROVIDER_KEY
MODEL += ", api_base: 'http://127.0.0.1:9/v1'}}\n"
SETTINGS = """litellm:
  test_models: true
  consumers:
    codex: {models: [aiws-mock]}
    gemini: {enabled: false}
"""

# Sends one request to LiteLLM on the host's loopback with a key; prints status and body.
CALL = r"""
import json, sys, urllib.error, urllib.request
port, path, key, body = sys.argv[1:5]
headers = {"Authorization": "Bearer " + key, "x-goog-api-key": key,
           "Content-Type": "application/json"}
request = urllib.request.Request("http://127.0.0.1:" + port + path,
    data=body.encode() if body else None, headers=headers)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=60) as reply:
        print(reply.status); print(reply.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code); print(exc.read().decode())
except OSError as exc:  # nothing answers (yet): status 0
    print(0); print(exc)
"""
CHAT = {"model": "aiws-mock", "messages": [{"role": "user", "content": "hi"}]}
GEMINI = "/v1beta/models/aiws-mock-gemini:generateContent"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def call(
    sandbox: SandboxState, path: str, key: str, body: dict[str, object] | None, port: int = 4000
) -> tuple[int, str]:
    data = json.dumps(body) if body is not None else ""
    status, _, text = inside(sandbox, "python3", "-c", CALL, str(port), path, key, data,
                             timeout=120).partition("\n")  # fmt: skip
    return int(status), text


def secret(sandbox: SandboxState, name: str) -> str:
    return inside(sandbox, "cat", f"/var/lib/aiws/secrets/{name}")


def write_config(sandbox: SandboxState, tmp_path: Path, upstream_model: str) -> None:
    local = tmp_path / "aiws.yml"
    local.write_text("models:\n" + MODEL.format(model=upstream_model) + SETTINGS)
    copy_in(sandbox, local, CONFIG)


def set_provider_key(sandbox: SandboxState, tmp_path: Path, value: str) -> None:
    local = tmp_path / "key"
    local.write_text(value + "\n")
    copy_in(sandbox, local, "/root/provider.key")
    rc, _, err = on_host(sandbox, "secrets", "set", PROVIDER_KEY, "--from-file",
                         "/root/provider.key")  # fmt: skip
    assert rc == 0, err
    inside(sandbox, "rm", "/root/provider.key")


def install(sandbox: SandboxState, bundle: str) -> DeploySummary:
    rc, out, err = on_host(sandbox, "install", *SELECTION, "--config", CONFIG, "--bundle", bundle,
                           "--json")  # fmt: skip
    assert out.strip(), err[-3000:]
    summary = DeploySummary.model_validate_json(out)
    assert rc == 0, (summary.run.failures, err[-3000:])
    return summary


def invocations(sandbox: SandboxState) -> dict[str, str]:
    """Each unit's invocation id: a new one for every start."""
    return {
        unit: inside(sandbox, "systemctl", "show", "-p", "InvocationID", "--value", unit)
        for unit in UNITS
    }


def file_sums(sandbox: SandboxState) -> dict[str, str]:
    listing = inside(sandbox, "find", "/etc/aiws", "/var/lib/aiws/secrets", "-type", "f",
                     "-exec", "sha256sum", "{}", "+")  # fmt: skip
    return {path: digest for digest, path in (line.split() for line in listing.splitlines())}


def changed_files(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def test_litellm_keys_limits_reruns_and_no_outbound(
    make_sandbox: MakeSandbox, models_bundle_file: Path, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    bundle = bootstrap(sandbox, models_bundle_file)
    write_config(sandbox, tmp_path, "gpt-4.1")

    # The configuration names a provider key the host does not have yet: refused, untouched.
    rc, out, err = on_host(sandbox, "install", *SELECTION, "--config", CONFIG, "--bundle", bundle)
    assert rc == 2 and "aiws secrets set provider-openai" in err + out, err
    assert not exists(sandbox, "/var/lib/aiws/state.json") and not exists(sandbox, "/etc/aiws")

    set_provider_key(sandbox, tmp_path, "sk-provider-1")
    started = time.monotonic()
    first = install(sandbox, bundle)
    print(f"\npostgresql+vault+litellm first install: {time.monotonic() - started:.1f} s")
    assert {row.name: row.health for row in first.components} == dict.fromkeys(
        ("postgresql", "vault", "litellm"), "healthy"
    )
    served = ["upstream", "aiws-mock", "aiws-mock-gemini"]
    (litellm_row,) = [row for row in first.components if row.name == "litellm"]
    assert litellm_row.models == served

    # One key per consumer: the bridge's gets the mock's answer, an unknown key 401.
    bridge = secret(sandbox, "litellm-key-bridge")
    status, body = call(sandbox, "/v1/chat/completions", bridge, CHAT)
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == MOCK_TEXT
    assert call(sandbox, "/v1/chat/completions", "sk-not-a-key", CHAT)[0] == 401
    # codex's key is limited to aiws-mock: the Responses API streams; another model is
    # refused, whether named in the body or in the path (the Gemini route); listing is not.
    codex = secret(sandbox, "litellm-key-codex")
    streamed = {"model": "aiws-mock", "input": "hi", "stream": True}
    status, body = call(sandbox, "/v1/responses", codex, streamed)
    assert status == 200 and "response.output_text.delta" in body and "mock" in body, body
    assert call(sandbox, "/v1/chat/completions", codex, {**CHAT, "model": "upstream"})[0] == 401
    assert call(sandbox, GEMINI, codex, GEMINI_BODY)[0] == 401
    assert call(sandbox, "/v1/models", codex, None)[0] == 200
    # A consumer key reaches inference and the model lists only: LiteLLM's management and
    # health routes are the master key's (aiws_litellm.auth decides, LiteLLM does not).
    for path in ("/health", "/v1/model/info", "/key/list"):
        assert call(sandbox, path, codex, None)[0] == 401, path
        assert call(sandbox, path, bridge, None)[0] == 401, path
    assert call(sandbox, "/key/generate", bridge, {"models": ["upstream"]})[0] == 401
    status, body = call(sandbox, "/v1/model/info", secret(sandbox, "litellm-master-key"), None)
    assert status == 200 and "aiws-mock" in body, body
    # gemini's key is revoked in the configuration; the operator's reaches the Gemini route.
    assert call(sandbox, GEMINI, secret(sandbox, "litellm-key-gemini"), GEMINI_BODY)[0] == 401
    status, body = call(sandbox, GEMINI, secret(sandbox, "litellm-key-operator"), GEMINI_BODY)
    assert status == 200 and MOCK_TEXT in body, body

    rc, out, _ = on_host(sandbox, "status", "--json")
    (litellm_status,) = [c for c in json.loads(out)["hosts"][0]["components"]
                         if c["name"] == "litellm"]  # fmt: skip
    assert rc == 0 and litellm_status["models"] == served

    # A rerun changes nothing.
    units, sums = invocations(sandbox), file_sums(sandbox)
    started = time.monotonic()
    rerun = install(sandbox, bundle)
    print(f"rerun: {time.monotonic() - started:.1f} s")
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    assert invocations(sandbox) == units and file_sums(sandbox) == sums

    # A model edited in the configuration file: LiteLLM's configuration alone, its unit alone.
    write_config(sandbox, tmp_path, "gpt-4.1-mini")
    edited = install(sandbox, bundle)
    assert {r.name: r.changed > 0 for r in edited.components} == {
        "postgresql": False, "vault": False, "litellm": True
    }  # fmt: skip
    assert changed_files(sums, file_sums(sandbox)) == {"/etc/aiws/litellm/config.yaml"}
    assert "gpt-4.1-mini" in inside(sandbox, "cat", "/etc/aiws/litellm/config.yaml")
    after = invocations(sandbox)
    assert [u for u in UNITS if after[u] != units[u]] == ["aiws-litellm"]

    # A new provider key: the secret, LiteLLM's configuration, its unit; Vault's copy follows.
    units, sums = after, file_sums(sandbox)
    set_provider_key(sandbox, tmp_path, "sk-provider-2")
    rotated = install(sandbox, bundle)
    assert {r.name: r.changed > 0 for r in rotated.components}["litellm"]
    assert changed_files(sums, file_sums(sandbox)) == {
        "/etc/aiws/litellm/config.yaml", f"/var/lib/aiws/secrets/{PROVIDER_KEY}"
    }  # fmt: skip
    after = invocations(sandbox)
    assert [u for u in UNITS if after[u] != units[u]] == ["aiws-litellm"]
    assert kv_matches_file(sandbox, PROVIDER_KEY)
    assert call(sandbox, "/v1/chat/completions", bridge, CHAT)[0] == 200

    no_outbound_from_start_to_answer(sandbox, tmp_path)


def no_outbound_from_start_to_answer(sandbox: SandboxState, tmp_path: Path) -> None:
    """LiteLLM as its unit runs it (binary, configuration, environment, account), on another
    port under strace, from start through a chat, a streamed Responses call and a Gemini-route
    call: no connection attempt to anything but loopback."""
    exec_start = inside(sandbox, "systemctl", "show", "-p", "ExecStart", "--value", "aiws-litellm")
    argv = re.search(r"argv\[\]=(.*?) ;", exec_start).group(1).split()  # type: ignore[union-attr]
    argv[argv.index("--port") + 1] = "4100"
    environment = inside(sandbox, "systemctl", "show", "-p", "Environment", "--value",
                         "aiws-litellm").split()  # fmt: skip
    env = dict(item.split("=", 1) for item in environment)
    cwd = inside(sandbox, "systemctl", "show", "-p", "WorkingDirectory", "--value", "aiws-litellm")
    command = outbound.as_user("aiws-litellm", argv, env, cwd)
    trace = tmp_path / "litellm.trace"
    bridge = secret(sandbox, "litellm-key-bridge")
    with outbound.traced(sandbox, command, trace):
        started = time.monotonic()
        while time.monotonic() - started < 180:
            if call(sandbox, "/health/liveliness", bridge, None, port=4100)[0] == 200:
                break
            time.sleep(0.5)
        else:
            output = trace.with_suffix(".out").read_text()[-2000:]
            pytest.fail(f"LiteLLM under strace never answered: {output}")
        print(f"LiteLLM under strace healthy after {time.monotonic() - started:.1f} s")
        assert call(sandbox, "/v1/chat/completions", bridge, CHAT, port=4100)[0] == 200
        streamed = {"model": "aiws-mock", "input": "hi", "stream": True}
        assert call(sandbox, "/v1/responses", bridge, streamed, port=4100)[0] == 200
        assert call(sandbox, GEMINI, bridge, GEMINI_BODY, port=4100)[0] == 200
    text = trace.read_text()
    assert "accept4(" in text  # the trace saw the server take the requests
    assert outbound.attempts(text) == []
