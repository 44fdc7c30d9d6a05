"""Driving an ACP agent the way the Bridge will: its launcher run as its own account inside a
sandbox, over stdio, by a real ACP client (the `acp` package) on this machine, under this
machine's strace (tests/helpers/outbound.py), so that every connection attempt it makes is
seen.

One session: initialize, session/new in a workspace directory, session/prompt (the mock's
answer streamed as agent_message_chunk, then end_turn), and optionally a second prompt that
is cancelled right after it is sent (session/cancel: stopReason cancelled)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import spawn_agent_process, text_block

from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers import outbound

ACP_TIMEOUT = 120
# How long an agent may take to end once its stdin is closed.
EOF_GRACE = 5.0
# The environment the launcher starts from (the SDK would pass a trimmed one of its own).
BASE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
SLOW_PROMPT = "aiws-mock-slow: again."


class Recorder:
    """The ACP client: records what the agent streams; refuses every permission request
    (the mock never asks for a tool)."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.kinds: list[str] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        kind = getattr(update, "session_update", type(update).__name__)
        self.kinds.append(kind)
        if kind == "agent_message_chunk":
            self.chunks.append(getattr(update.content, "text", ""))

    async def request_permission(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the test client grants no permission")

    def on_connect(self, conn: Any) -> None:
        pass


@dataclass
class Session:
    """What one driven session showed."""

    agent: str = ""
    stop_reason: str = ""
    text: str = ""
    kinds: list[str] = field(default_factory=list)
    took: dict[str, float] = field(default_factory=dict)
    cancelled: str | None = None  # the cancelled prompt's stopReason, when one was sent
    exits_on_eof: bool = False  # whether it ended by itself once its stdin was closed
    trace: str = ""  # strace's connect/send/accept lines
    stderr: str = ""  # the agent's stderr

    def timings(self) -> str:
        return ", ".join(f"{step} {value:.2f} s" for step, value in self.took.items())


async def _timed(took: dict[str, float], step: str, call: Any) -> Any:
    started = time.monotonic()
    result = await asyncio.wait_for(call, ACP_TIMEOUT)
    took[step] = time.monotonic() - started
    return result


async def _session(
    command: list[str], stderr: Path, workspace: str, cancel: bool, stop: Callable[[], object]
) -> Session:
    client = Recorder()
    seen = Session()
    with stderr.open("w") as err:
        async with spawn_agent_process(
            client, command[0], *command[1:], env=BASE_ENV, transport_kwargs={"stderr": err}
        ) as (conn, process):
            init = await _timed(seen.took, "initialize", conn.initialize(protocol_version=1))
            seen.agent = init.agent_info.name if init.agent_info else ""
            session = await _timed(
                seen.took, "session/new", conn.new_session(cwd=workspace, mcp_servers=[])
            )
            prompt = [text_block("Say hello.")]
            started = time.monotonic()
            asked = asyncio.ensure_future(conn.prompt(session_id=session.session_id, prompt=prompt))
            while not client.chunks and not asked.done():
                if time.monotonic() - started > ACP_TIMEOUT:
                    raise TimeoutError(f"no chunk and no answer to session/prompt: {client.kinds}")
                await asyncio.sleep(0.01)
            seen.took["first chunk"] = time.monotonic() - started
            answer = await _timed(seen.took, "session/prompt", asked)
            seen.took["session/prompt"] += seen.took["first chunk"]
            seen.stop_reason = answer.stop_reason
            seen.text, seen.kinds = "".join(client.chunks), list(client.kinds)
            if cancel:
                # The marker makes LiteLLM hold the mock's answer for seconds (aiws_litellm's
                # mock_slow): the cancel comes while the agent waits for the model, where an
                # instant answer could end the turn first.
                again = asyncio.ensure_future(
                    conn.prompt(session_id=session.session_id, prompt=[text_block(SLOW_PROMPT)])
                )
                await asyncio.sleep(0.5)
                await conn.cancel(session_id=session.session_id)
                seen.cancelled = (await asyncio.wait_for(again, ACP_TIMEOUT)).stop_reason
            # The session is over: its stdin closed, an agent should end. One that does not
            # keeps its stdout open, and the SDK would wait for it for ever: it is stopped.
            process.stdin.write_eof()
            ends = time.monotonic() + EOF_GRACE
            while process.returncode is None and time.monotonic() < ends:
                await asyncio.sleep(0.1)
            seen.exits_on_eof = process.returncode is not None
            if not seen.exits_on_eof:
                stop()
    return seen


def drive(
    sandbox: SandboxState,
    account: str,
    launcher: str,
    workspace: str,
    work: Path,
    cancel: bool = False,
) -> Session:
    """Run `launcher` as `account` in `workspace` inside the sandbox under strace, and drive
    one session over its stdio; `work` (on this machine) keeps the trace and stderr."""
    strace = shutil.which("strace")
    assert strace, "strace is missing on this machine: run `make setup` as root"
    work.mkdir(parents=True, exist_ok=True)
    trace = work / "connect.trace"
    # As the Bridge will run it: as its account, in the session's workspace.
    agent = host.in_container(
        sandbox, ["runuser", "-u", account, "--", "env", "-C", workspace, launcher]
    )
    command = [strace, "-f", "-qq", "-e", f"trace={outbound.TRACED}", "-o", str(trace), *agent]

    def stop() -> None:
        # Every process of the agent's account (kill -1 as that account): the agent and
        # whatever it started.
        kill = ["runuser", "-u", account, "--", "sh", "-c", "kill -KILL -1"]
        done = host.run_in(sandbox, kill, timeout=30)
        assert done.returncode == 0, done.stderr

    seen = asyncio.run(_session(command, work / "agent.stderr", workspace, cancel, stop))
    seen.trace = trace.read_text()
    seen.stderr = (work / "agent.stderr").read_text()
    return seen
