"""The Bridge's settings: one JSON file aiws renders (/etc/aiws/bridge/bridge.json)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# The order and labels of the XWorkmate app's provider catalog.
AGENT_LABELS = {"codex": "Codex", "opencode": "OpenCode", "gemini": "Gemini", "hermes": "Hermes"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agent(Strict):
    """How to start one ACP agent: its launcher, run as its account in the session's
    workspace (the Bridge needs CAP_SETUID/CAP_SETGID for `user`)."""

    launcher: list[str] = Field(min_length=1)
    user: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class Settings(Strict):
    host: str = "127.0.0.1"
    port: int = 8787
    tokens_file: Path
    # Origins a browser may call from; requests without an Origin (the app) are allowed.
    # An empty list allows no browser origin (the original allowed every one).
    origins: list[str] = Field(default_factory=lambda: ["http://localhost:*", "http://127.0.0.1:*"])
    workspace_root: Path
    agents: dict[str, Agent] = Field(default_factory=dict)
    max_sessions: int = Field(8, ge=1)
    idle_timeout_s: float = Field(1800, gt=0)
    keepalive_s: float = Field(20, gt=0)
    prompt_timeout_s: float = Field(3600, gt=0)

    def agent_ids(self) -> list[str]:
        """Configured agents, in the app's catalog order (others after, by name)."""
        known = [a for a in AGENT_LABELS if a in self.agents]
        return known + sorted(a for a in self.agents if a not in AGENT_LABELS)


def load_settings(path: Path) -> Settings:
    return Settings.model_validate_json(path.read_bytes())
