"""The Bridge's files and units as roles/bridge renders them, by the real Ansible on this machine
(the render hook runs on the controller and changes nothing): the agents it offers are those
installed on its host before the run or by it, each behind a socket only the Bridge's group
reaches, its sessions run as the agent's account under systemd's hardening.

On an installed host (`check`), the Bridge: its root open, everything else behind a token; every
agent's socket listening; on loopback only (Caddy is its public side)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiws.model.config import TEST_MODELS, OperatorConfig
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG, get, listens_on_loopback_only
from tests.helpers.hosts import inside
from tests.helpers.render import render as render_components


def render(
    tmp_path: Path,
    components: list[str],
    installed: list[str],
    more: dict[str, Any] | None = None,
    **bridge: Any,
) -> dict[str, Any]:
    """The Bridge through the skeleton (tests/helpers/render) for a run that installs
    `components` on a host that has `installed`."""
    operator = OperatorConfig.model_validate({"bridge": bridge, **(more or {})})
    step = render_components(tmp_path, ["bridge"], operator, components=components,
                             installed=installed)["bridge"]  # fmt: skip
    return {
        "files": list(step.files.values()),
        "units": step.units,
        "directories": step.directories,
        "unit": step.parts["unit"],
    }


def test_agents_installed_before_or_now_are_offered_each_behind_a_socket(tmp_path: Path) -> None:
    rendered = render(tmp_path, ["litellm", "codex", "bridge"], ["hermes", "qmd"])
    files = {Path(f["dest"]).name: f for f in rendered["files"]}
    settings = json.loads(files["bridge.json"]["content"])
    assert list(settings["agents"]) == ["codex", "hermes"]
    codex = CATALOG.component("codex")
    assert settings["agents"]["codex"] == {
        "socket": "/run/aiws-acp/codex.sock",
        "installed": f"/opt/aiws/codex/{codex.version}/bin/aiws-codex-acp",
        "models": [],  # no model configured
    }
    assert settings["host"] == "127.0.0.1" and settings["workspace_root"] == (
        "/var/lib/aiws/workspaces"
    )
    # The threads' records live in the Bridge's own state directory.
    assert settings["state_dir"] == "/var/lib/aiws/bridge"
    # The root lets agents through, not list it; each agent's directory is its own alone.
    directories = {d["path"]: d for d in rendered["directories"]}
    assert directories["/var/lib/aiws/workspaces"]["mode"] == "0711"
    for name in ("codex", "hermes"):
        own = directories[f"/var/lib/aiws/workspaces/{name}"]
        assert (own["owner"], own["group"], own["mode"]) == (f"aiws-{name}",) * 2 + ("0700",)
    assert files["bridge.json"]["mode"] == "0640" and files["aiws-acp-session"]["mode"] == "0755"

    units = {u["name"]: u for u in rendered["units"]}
    assert sorted(units) == [
        "aiws-acp-codex.socket", "aiws-acp-codex@.service",
        "aiws-acp-hermes.socket", "aiws-acp-hermes@.service",
    ]  # fmt: skip
    assert units["aiws-acp-codex.socket"]["start"] is True
    socket_unit = units["aiws-acp-codex.socket"]["content"]
    for line in ("Accept=yes", "SocketGroup=aiws-bridge", "SocketMode=0660",
                 "ListenStream=/run/aiws-acp/codex.sock"):  # fmt: skip
        assert line in socket_unit.splitlines(), line
    service = units["aiws-acp-codex@.service"]["content"].splitlines()
    writable = "ReadWritePaths=/var/lib/aiws/codex /var/lib/aiws/workspaces/codex /etc/aiws/codex"
    for line in ("User=aiws-codex", "StandardInput=socket", "StandardOutput=socket",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=", "IPAddressDeny=any",
                 writable):  # fmt: skip
        assert line in service, line
    exec_start = next(line for line in service if line.startswith("ExecStart="))
    assert exec_start.split()[1:] == ["/var/lib/aiws/workspaces/codex", codex.layout[
        "launcher"].replace("{runtime}", f"/opt/aiws/codex/{codex.version}")]  # fmt: skip
    bridge = CATALOG.component("bridge")
    python = f"Environment=AIWS_BRIDGE_PYTHON=/opt/aiws/bridge/{bridge.version}/venv/bin/python"
    assert python in service


def test_no_agent_on_the_host_means_none_offered(tmp_path: Path) -> None:
    rendered = render(tmp_path, ["bridge"], [])
    settings = json.loads(
        next(f for f in rendered["files"] if f["dest"].endswith("bridge.json"))["content"]
    )
    assert settings["agents"] == {} and rendered["units"] == []
    assert settings["gateways"] == {}


def test_openclaw_is_the_gateway_behind_its_own_socket(tmp_path: Path) -> None:
    rendered = render(tmp_path, ["bridge"], ["litellm", "node", "qmd", "openclaw"])
    files = {Path(f["dest"]).name: f for f in rendered["files"]}
    settings = json.loads(files["bridge.json"]["content"])
    openclaw = CATALOG.component("openclaw")
    assert settings["agents"] == {}
    assert settings["gateways"] == {
        "openclaw": {
            "socket": "/run/aiws-acp/openclaw.sock",
            "installed": f"/opt/aiws/openclaw/{openclaw.version}/bin/aiws-openclaw-acp",
            # system.logs says `running` while the gateway answers its health route
            "health": "http://127.0.0.1:18789/healthz",
            # the app's OpenClaw panels: read-only requests to the gateway, with its token
            "control_url": "ws://127.0.0.1:18789/",
            "control_token_file": "/etc/aiws/bridge/openclaw-gateway.token",
        }
    }
    token = files["openclaw-gateway.token"]
    assert token["content"] == "@AIWS_SECRET(openclaw-gateway-token)@\n"
    assert (token["mode"], token["group"]) == ("0640", "aiws-bridge")
    units = {u["name"]: u["content"].splitlines() for u in rendered["units"]}
    assert sorted(units) == ["aiws-acp-openclaw.socket", "aiws-acp-openclaw@.service"]
    service = units["aiws-acp-openclaw@.service"]
    # As OpenClaw's own account (its gateway token), with OpenClaw's own hardening and a
    # private /tmp (every OpenClaw command claims /tmp/openclaw).
    nsswitch = "BindReadOnlyPaths=/etc/aiws/openclaw/nsswitch.conf:/etc/nsswitch.conf"
    for line in ("User=aiws-openclaw", "PrivateTmp=yes", "RestrictSUIDSGID=no", nsswitch):
        assert line in service, line


def test_the_operators_bridge_settings_reach_the_bridge_and_its_sockets(tmp_path: Path) -> None:
    rendered = render(
        tmp_path, ["codex", "bridge"], [], max_sessions=12, origins=["https://app.example.com"]
    )
    files = {Path(f["dest"]).name: f for f in rendered["files"]}
    settings = json.loads(files["bridge.json"]["content"])
    assert settings["max_sessions"] == 12 and settings["idle_timeout_s"] == 1800
    assert settings["origins"] == ["https://app.example.com"]
    socket_unit = next(u for u in rendered["units"] if u["name"] == "aiws-acp-codex.socket")
    # The running agents, and room for the short connections that move files.
    assert "MaxConnections=20" in socket_unit["content"].splitlines()
    assert settings["max_sessions_per_token"] == 0
    # The public service's own bounds fit its sessions.
    limits = [d for d in rendered["unit"]["directives"] if d.split("=")[0] in
              ("MemoryMax", "TasksMax", "LimitNOFILE")]  # fmt: skip
    assert limits == ["MemoryMax=1G", "TasksMax=128", "LimitNOFILE=1216"]


def session_stderr(rendered: dict[str, Any]) -> set[str]:
    sessions = [u for u in rendered["units"] if u["name"].endswith("@.service")]
    assert sessions
    return {line for u in sessions for line in u["content"].splitlines()
            if line.startswith("StandardError=")}  # fmt: skip


def test_agents_stderr_is_dropped_unless_the_operator_keeps_it(tmp_path: Path) -> None:
    """What an agent writes on stderr can hold prompts and tool output: not in the journal
    by default (docs/bridge.md says so); `bridge.agent_stderr: journal` keeps it."""
    for name in ("default", "kept"):
        (tmp_path / name).mkdir()
    dropped = render(tmp_path / "default", ["codex", "hermes", "bridge"], ["openclaw"])
    assert session_stderr(dropped) == {"StandardError=null"}
    kept = render(tmp_path / "kept", ["codex", "bridge"], [], agent_stderr="journal")
    assert session_stderr(kept) == {"StandardError=journal"}


def test_each_agent_knows_the_models_litellm_serves_it(tmp_path: Path) -> None:
    """A thread may pick one of its agent's models: every configured model (and the test
    models when on), or the consumer key's own list where the configuration limits it."""
    models = [{"name": "fast", "provider": "openai", "model": "gpt-x"},
              {"name": "deep", "provider": "openai", "model": "gpt-y"}]  # fmt: skip
    more = {
        "models": models,
        "litellm": {"test_models": True, "consumers": {"hermes": {"models": ["deep"]}}},
    }
    rendered = render(tmp_path, ["codex", "hermes", "bridge"], [], more)
    files = {Path(f["dest"]).name: f for f in rendered["files"]}
    agents = json.loads(files["bridge.json"]["content"])["agents"]
    assert agents["codex"]["models"] == ["fast", "deep", *TEST_MODELS]
    assert agents["hermes"]["models"] == ["deep"]


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("bridge").listen
    assert listen is not None
    assert get(sandbox, listen.url("/")) == (200, "xworkmate-bridge is running")
    assert get(sandbox, listen.url("/api/ping"))[0] == 401
    sockets = inside(sandbox, "systemctl", "list-unit-files", "aiws-acp-*.socket",
                     "--no-legend", "--plain").splitlines()  # fmt: skip
    assert sockets, "no agent socket"
    for line in sockets:
        unit = line.split()[0]
        assert inside(sandbox, "systemctl", "is-active", unit) == "active", unit
        # Its sessions' stderr (prompts, tool output) stays out of the journal.
        session = unit.removesuffix(".socket") + "@check.service"
        shown = inside(sandbox, "systemctl", "show", "-p", "StandardError", "--value", session)
        assert shown == "null", (session, shown)
    listens_on_loopback_only(sandbox, "bridge")
