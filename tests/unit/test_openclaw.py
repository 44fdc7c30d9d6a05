"""OpenClaw's role as rendered: its openclaw.json (LiteLLM with its own key, QMD as its MCP
server, its gateway token, every update/telemetry/catalog switch off, logs in its state),
the unit and the ACP launcher the Bridge runs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nativetypes
import pytest
import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog

ROLE = Path(__file__).resolve().parents[2] / "roles" / "openclaw"
CATALOG = resolved_catalog(load_catalog(), "debian-12")
OPENCLAW = CATALOG["components"]["openclaw"]
ENDPOINTS = {"litellm": {"url": "http://127.0.0.1:4000"}, "qmd": {"url": "http://127.0.0.1:8181"}}
MODEL = {"name": "gpt", "model": "gpt-4.1", "provider": "openai", "api_key_secret": "k"}


def filters(env: jinja2.Environment) -> None:
    env.filters["basename"] = os.path.basename
    env.filters["dirname"] = os.path.dirname
    env.filters["bool"] = bool
    env.filters["to_nice_json"] = lambda value, indent=4: json.dumps(
        value, indent=indent, sort_keys=True
    )
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)


def render_defaults(config: dict[str, Any]) -> dict[str, Any]:
    env = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    filters(env)
    values: dict[str, Any] = {
        "aiws_catalog": CATALOG,
        "aiws_run": {"config": config},
        "aiws_endpoints": ENDPOINTS,
        "ansible_managed": "Ansible managed",
    }
    raw = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name, value in raw.items():
        values[name] = deep(env, value, values)
    return values


def deep(env: jinja2.Environment, value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return env.from_string(value).render(values)
    if isinstance(value, dict):
        return {k: deep(env, v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [deep(env, v, values) for v in value]
    return value


def render(template: str, config: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    filters(env)
    env.globals["lookup"] = lambda *args, **kwargs: ""
    return env.from_string((ROLE / "templates" / template).read_text()).render(
        render_defaults(config)
    )


def settings(config: dict[str, Any]) -> dict[str, Any]:
    text = render("openclaw.json.j2", config)
    # The secrets are JSON strings once filled in on the host.
    text = re.sub(r"@AIWS_SECRET\(([^|)]+)\|json\)@", lambda m: json.dumps(m.group(1)), text)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@pytest.mark.parametrize(
    ("config", "models", "primary"),
    [
        ({"models": [MODEL], "litellm": {"test_models": True}}, ["gpt", "aiws-mock"], "gpt"),
        ({"models": [], "litellm": {"test_models": True}}, ["aiws-mock"], "aiws-mock"),
        ({"models": [], "litellm": {"test_models": False}}, [], None),
    ],
    ids=["the operator's models first", "the offline mock", "no model at all"],
)
def test_models_go_through_litellm_with_openclaws_own_key(
    config: dict[str, Any], models: list[str], primary: str | None
) -> None:
    out = settings(config)
    provider = out["models"]["providers"]["litellm"]
    assert provider["baseUrl"] == "http://127.0.0.1:4000/v1"
    assert provider["apiKey"] == "litellm-key-openclaw"  # filled in on the host
    assert provider["api"] == "openai-completions"
    assert [m["id"] for m in provider["models"]] == models
    defaults = out["agents"]["defaults"]
    assert defaults.get("model", {}).get("primary") == (f"litellm/{primary}" if primary else None)
    assert sorted(defaults["models"]) == sorted(f"litellm/{m}" for m in models)


def test_gateway_qmd_and_everything_that_would_leave_the_host() -> None:
    out = settings({"models": [], "litellm": {"test_models": True}})
    listen = OPENCLAW["listen"]
    assert out["gateway"]["port"] == listen["port"] and out["gateway"]["bind"] == "loopback"
    assert out["gateway"]["auth"] == {"mode": "token", "token": "openclaw-gateway-token"}
    assert out["mcp"]["servers"]["qmd"] == {
        "url": "http://127.0.0.1:8181/mcp",
        "transport": "streamable-http",
    }
    assert out["models"]["catalogRefresh"] == {"enabled": False}
    assert out["update"] == {"checkOnStart": False, "auto": {"enabled": False}}
    assert out["telemetry"] == {"enabled": False}
    assert out["discovery"] == {"mdns": {"mode": "off"}}
    # Logs in its state directory, not /tmp/openclaw.
    assert out["logging"]["file"] == OPENCLAW["layout"]["log"]
    assert out["logging"]["file"].startswith(OPENCLAW["paths"]["state"] + "/")


def test_the_unit_runs_the_gateway_on_the_bundles_node_with_aiws_paths() -> None:
    values = render_defaults({"models": [], "litellm": {"test_models": True}})
    unit = values["openclaw_unit"]
    node = CATALOG["components"]["node"]["layout"]["binary"]
    assert unit["exec_start"].split()[:4] == [node, OPENCLAW["layout"]["cli"], "gateway", "run"]
    env = dict(
        d.removeprefix("Environment=").split("=", 1)
        for d in unit["directives"]
        if d.startswith("Environment=")
    )
    assert env["OPENCLAW_CONFIG_PATH"] == OPENCLAW["layout"]["config"]
    assert env["OPENCLAW_STATE_DIR"] == env["HOME"] == OPENCLAW["paths"]["state"]
    assert env["OPENCLAW_NO_AUTO_UPDATE"] == "1"
    assert env["PATH"].startswith(str(Path(node).parent) + ":")
    copy = f"ExecStartPre=/usr/bin/install -m 0600 {OPENCLAW['layout']['settings']} "
    assert copy + OPENCLAW["layout"]["config"] in unit["directives"]
    # Its own hardening: no SUID filter (openat2), and host names from /etc/hosts only.
    nsswitch = OPENCLAW["layout"]["nsswitch"]
    assert OPENCLAW["hardening"] == [
        "RestrictSUIDSGID=no",
        f"BindReadOnlyPaths={nsswitch}:/etc/nsswitch.conf",
    ]


def test_the_acp_launcher_runs_as_its_account_with_its_environment() -> None:
    text = render("acp-launcher.sh.j2", {"models": [], "litellm": {"test_models": True}})
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{OPENCLAW["user"]}" ]' in text
    assert f"export OPENCLAW_CONFIG_PATH={OPENCLAW['layout']['config']}\n" in text
    assert text.rstrip().endswith(f'{OPENCLAW["layout"]["cli"]} acp "$@"')
