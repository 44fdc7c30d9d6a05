"""The Bridge's settings: one JSON file aiws renders (/etc/aiws/bridge/bridge.json)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The order and labels of the XWorkmate app's provider catalog.
AGENT_LABELS = {"codex": "Codex", "opencode": "OpenCode", "gemini": "Gemini", "hermes": "Hermes"}
# The gateway providers the app knows: label and logo.
GATEWAY_LABELS = {"openclaw": ("OpenClaw", "\U0001f99e")}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agent(Strict):
    """How to reach one ACP agent, one of two ways:
    - `socket`: a Unix socket where each connection is one agent process, started by systemd
      as the agent's own account (aiws's installs): the Bridge sends the session's
      workspace as the first line, then speaks ACP; closing the connection ends the agent.
      The Bridge needs no privilege for it.
    - `launcher`: an argv the Bridge runs as a child, in the session's workspace (as `user`
      when given, which needs CAP_SETUID/CAP_SETGID; development and tests).
    `installed`: a path that exists while the agent is installed (its launcher); an agent
    whose path is missing is not offered. `health`: an http://127.0.0.1 URL that answers 200
    while the provider's own service runs (OpenClaw's gateway), for `system.logs`. `models`:
    what LiteLLM serves it (a thread's explicit model must be one of them)."""

    launcher: list[str] | None = Field(default=None, min_length=1)
    socket: Path | None = None
    user: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    installed: Path | None = None
    health: str | None = Field(default=None, pattern=r"^http://127\.0\.0\.1:[0-9]{1,5}/")
    # A gateway provider's control plane (the app's OpenClaw panels): its WebSocket on the
    # loopback and a file with its token (gateway.py).
    control_url: str | None = Field(default=None, pattern=r"^ws://127\.0\.0\.1:[0-9]{1,5}/")
    control_token_file: Path | None = None
    # The models LiteLLM serves this agent: a thread may ask for one of them; empty: the
    # Bridge does not know, and asks the agent for whatever is given.
    models: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_transport(self) -> Agent:
        if (self.launcher is None) == (self.socket is None):
            raise ValueError("an agent has either a launcher or a socket")
        if (self.control_url is None) != (self.control_token_file is None):
            raise ValueError("control_url and control_token_file go together")
        return self

    def available(self) -> bool:
        return self.installed is None or self.installed.exists()


class Settings(Strict):
    host: str = "127.0.0.1"
    port: int = 8787
    tokens_file: Path
    # Origins a browser may call from; requests without an Origin (the app) are allowed.
    # An empty list allows no browser origin (the original allowed every one).
    origins: list[str] = Field(default_factory=lambda: ["http://localhost:*", "http://127.0.0.1:*"])
    workspace_root: Path
    # Thread records (threads.py); None keeps them in memory only (tests, development).
    state_dir: Path | None = None
    agents: dict[str, Agent] = Field(default_factory=dict)
    # The "gateway" execution target: each provider reached over ACP like an agent (OpenClaw's
    # `openclaw acp`, which forwards every prompt to its gateway).
    gateways: dict[str, Agent] = Field(default_factory=dict)
    # Running agents at most (threads are not limited), and those of one token.
    max_sessions: int = Field(8, ge=1)
    max_sessions_per_token: int = Field(0, ge=0)  # 0: max_sessions
    idle_timeout_s: float = Field(1800, gt=0)
    keepalive_s: float = Field(20, gt=0)
    prompt_timeout_s: float = Field(3600, gt=0)

    @model_validator(mode="after")
    def _distinct_providers(self) -> Settings:
        both = set(self.agents) & set(self.gateways)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: both an agent and a gateway")
        if not self.max_sessions_per_token or self.max_sessions_per_token > self.max_sessions:
            object.__setattr__(self, "max_sessions_per_token", self.max_sessions)
        return self

    def agent_ids(self) -> list[str]:
        """Configured agents that are installed, in the app's catalog order (others after,
        by name)."""
        return _installed(self.agents, AGENT_LABELS)

    def gateway_ids(self) -> list[str]:
        return _installed(self.gateways, GATEWAY_LABELS)

    def provider(self, name: str) -> Agent | None:
        """The agent or gateway provider `name`, when configured and installed."""
        found = self.agents.get(name) or self.gateways.get(name)
        return found if found is not None and found.available() else None


def _installed(providers: dict[str, Agent], order: Mapping[str, object]) -> list[str]:
    present = {name for name, agent in providers.items() if agent.available()}
    return [p for p in order if p in present] + sorted(p for p in present if p not in order)


def load_settings(path: Path) -> Settings:
    return Settings.model_validate_json(path.read_bytes())
