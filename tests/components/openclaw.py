"""OpenClaw's role as rendered: its openclaw.json (LiteLLM with its own key, QMD as its MCP server,
its gateway token, every update/telemetry/catalog switch off, logs in its state), the unit and
the ACP launcher the Bridge runs.

On an installed host (`check`), OpenClaw: its gateway on loopback only; the configuration it
runs with is its own copy, private to its account, and holds its LiteLLM key filled in (no
placeholder left)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_layout, resolved_catalog
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG as MODEL
from tests.components.common import SECRETS, listens_on_loopback_only
from tests.helpers.hosts import inside
from tests.helpers.render import Renders

CATALOG = resolved_catalog(load_catalog(), "debian-12")


OPENCLAW = CATALOG["components"]["openclaw"]


def settings(rendered: Renders, config: str) -> dict[str, Any]:
    text = rendered[config]["openclaw"].text(OPENCLAW["layout"]["settings"])
    # The secrets are JSON strings once filled in on the host.
    text = re.sub(r"@AIWS_SECRET\(([^|)]+)\|json\)@", lambda m: json.dumps(m.group(1)), text)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@pytest.mark.parametrize(
    ("config", "models", "primary"),
    [
        ("WITH_MODELS", ["gpt", "other", "aiws-mock"], "gpt"),
        ("MOCK_ONLY", ["aiws-mock"], "aiws-mock"),
        ("NOTHING", [], None),
    ],
    ids=["the operator's models first", "the offline mock", "no model at all"],
)
def test_models_go_through_litellm_with_openclaws_own_key(
    rendered: Renders, config: str, models: list[str], primary: str | None
) -> None:
    out = settings(rendered, config)
    provider = out["models"]["providers"]["litellm"]
    assert provider["baseUrl"] == "http://127.0.0.1:4000/v1"
    assert provider["apiKey"] == "litellm-key-openclaw"  # filled in on the host
    assert provider["api"] == "openai-completions"
    assert [m["id"] for m in provider["models"]] == models
    defaults = out["agents"]["defaults"]
    assert defaults.get("model", {}).get("primary") == (f"litellm/{primary}" if primary else None)
    assert sorted(defaults["models"]) == sorted(f"litellm/{m}" for m in models)


def test_gateway_qmd_and_everything_that_would_leave_the_host(
    rendered: Renders,
) -> None:
    out = settings(rendered, "MOCK_ONLY")
    listen = OPENCLAW["listen"]
    assert out["gateway"]["port"] == listen["port"] and out["gateway"]["bind"] == "loopback"
    assert out["gateway"]["auth"] == {"mode": "token", "token": "openclaw-gateway-token"}
    # QMD through its socket: a stdio server of aiws's on the host's Python, never a URL;
    # a session's MCP servers closed after a minute unused (else kept for the gateway's life).
    qmd_socket = CATALOG["components"]["qmd"]["socket"]["path"]
    assert out["mcp"]["servers"]["qmd"] == {
        "command": "/usr/bin/python3",
        "args": [OPENCLAW["layout"]["qmd_client"], qmd_socket],
    }
    assert out["mcp"]["sessionIdleTtlMs"] == 60000
    client = rendered["MOCK_ONLY"]["openclaw"].files[OPENCLAW["layout"]["qmd_client"]]
    assert client["mode"] == "0755" and client["content"].startswith("#!/usr/bin/python3\n")
    assert out["models"]["catalogRefresh"] == {"enabled": False}
    assert out["update"] == {"checkOnStart": False, "auto": {"enabled": False}}
    assert out["telemetry"] == {"enabled": False}
    assert out["discovery"] == {"mdns": {"mode": "off"}}
    # Logs in its state directory, not /tmp/openclaw.
    assert out["logging"]["file"] == OPENCLAW["layout"]["log"]
    assert out["logging"]["file"].startswith(OPENCLAW["paths"]["state"] + "/")


def test_the_unit_runs_the_gateway_on_the_bundles_node_with_aiws_paths(
    rendered: Renders,
) -> None:
    unit = rendered["MOCK_ONLY"]["openclaw"].parts["unit"]
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
    # The one account given QMD's group, which its socket admits.
    qmd_group = CATALOG["components"]["qmd"]["socket"]["group"]
    assert f"SupplementaryGroups={qmd_group}" in unit["directives"]
    # Its own hardening: no SUID filter (openat2), and host names from /etc/hosts only.
    nsswitch = OPENCLAW["layout"]["nsswitch"]
    assert OPENCLAW["hardening"] == [
        "RestrictSUIDSGID=no",
        f"BindReadOnlyPaths={nsswitch}:/etc/nsswitch.conf",
    ]


def test_the_acp_launcher_runs_as_its_account_with_its_environment(
    rendered: Renders,
) -> None:
    text = rendered["MOCK_ONLY"]["openclaw"].text(OPENCLAW["layout"]["launcher"])
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{OPENCLAW["user"]}" ]' in text
    assert f"export OPENCLAW_CONFIG_PATH={OPENCLAW['layout']['config']}\n" in text
    assert text.rstrip().endswith(f'{OPENCLAW["layout"]["cli"]} acp "$@"')


def check(sandbox: SandboxState) -> None:
    listens_on_loopback_only(sandbox, "openclaw")
    layout = resolve_layout(MODEL, MODEL.component("openclaw"))
    assert inside(sandbox, "stat", "-c", "%a %U", layout["config"]) == "600 aiws-openclaw"
    running = inside(sandbox, "cat", layout["config"])
    assert inside(sandbox, "cat", f"{SECRETS}/litellm-key-openclaw") in running
    assert "AIWS_SECRET" not in running
