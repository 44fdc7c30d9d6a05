"""opencode: its own account, its LiteLLM key in a file only it reads, a launcher that refuses
anyone else (driven over ACP by the agents' test)."""

from __future__ import annotations

from aiws.sandbox.state import SandboxState
from tests.components.common import agent_is_confined_to_its_account


def check(sandbox: SandboxState) -> None:
    agent_is_confined_to_its_account(sandbox, "opencode")
