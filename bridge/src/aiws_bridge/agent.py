"""One running ACP agent for one thread, in the thread's workspace, reached one of two ways
(settings.Agent): a connection to the agent's Unix socket, where systemd starts the agent as
its own account and ends it when the connection closes; or a stdio child in its own process
group (parent-death signal; the whole group is killed with it). Either way agents end with
the Bridge. A running agent is a cache of its thread (threads.py): it is opened with a new
ACP session, or continues the thread's earlier one (`session/resume` or `session/load`
where the agent's `initialize` offers it)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from acp import PROTOCOL_VERSION, Client, text_block
from acp.client.connection import ClientSideConnection
from acp.schema import AllowedOutcome, InitializeResponse, RequestPermissionResponse

from aiws_bridge.rpc import EXECUTION_FAILED, RpcError
from aiws_bridge.settings import Agent

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
PR_SET_PDEATHSIG = 1
STOP_STATUS = {"end_turn": "completed", "cancelled": "cancelled"}
STREAM_LIMIT = 1 << 24  # one ACP message (a JSON line) at most
START_TIMEOUT = 60
# How an agent continued its thread's ACP session, or "new".
RESUME, LOAD, NEW = "session/resume", "session/load", "new"


def _die_with_parent() -> None:
    """In the child, after the account switch: SIGKILL when the Bridge dies (even kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Client:
    """The Bridge's side of ACP: updates go to the running turn (a `session/load` replays
    the thread's history as updates: outside a turn they are dropped); permission requests
    are granted once (the agent runs as its own account, in the thread's workspace). No file
    system or terminal methods: the Bridge does not offer them in `initialize`."""

    def __init__(self, running: RunningAgent):
        self.running = running

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        await self.running.on_update(update)

    async def request_permission(
        self, session_id: str, tool_call: Any, options: list[Any], **kwargs: Any
    ) -> RequestPermissionResponse:
        allow = next((o for o in options if str(o.kind).startswith("allow")), options[0])
        return RequestPermissionResponse(
            outcome=AllowedOutcome(option_id=allow.option_id, outcome="selected")
        )

    def on_connect(self, conn: Any) -> None:
        pass


class RunningAgent:
    def __init__(
        self, key: tuple[str, str], thread_id: str, provider: str, workspace: Path
    ) -> None:
        self.key = key  # (token name, session id)
        self.id, self.thread_id, self.provider, self.workspace = (
            key[1], thread_id, provider, workspace,
        )  # fmt: skip
        self.process: asyncio.subprocess.Process | None = None  # a child agent
        self.link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None  # a socket
        self.conn: ClientSideConnection | None = None
        self.acp_session = ""
        self.continued = NEW
        # The next prompt carries the thread's transcript (a new ACP session went on with it).
        self.primed = False
        self.served = False  # a turn answered
        self.updates = 0  # what the agent sent during the current (or last) turn
        # The agent's session options (ACP configOptions): its `model` among them.
        self.options: list[Any] = []
        self.model = ""  # the model this session was set to, or the agent's current one
        self.last_used = time.monotonic()
        self.turn_lock = asyncio.Lock()
        # Turns that hold this agent (a turn waiting for the lock counts): not evictable.
        self.claims = 0
        self._chunks: list[str] = []
        self._notify: Notify | None = None
        self._turn_id = ""
        self._heard = 0.0

    @property
    def alive(self) -> bool:
        if self.link is not None:
            reader, writer = self.link
            return not reader.at_eof() and not writer.is_closing()
        # A child that closed its stdout is gone even before it is reaped.
        process = self.process
        return (
            process is not None
            and process.returncode is None
            and not (process.stdout is not None and process.stdout.at_eof())
        )

    @property
    def busy(self) -> bool:
        return self.claims > 0 or self.turn_lock.locked()

    async def open(self, agent: Agent, root: Path, continue_session: str) -> None:
        """Start the agent and its ACP session: the thread's earlier one when the agent can
        continue it, else a new one (`continued` says which)."""
        writer, reader = await _connect(self, agent, root)
        self.conn = ClientSideConnection(cast(Client, _Client(self)), writer, reader)
        info: InitializeResponse = await asyncio.wait_for(
            self.conn.initialize(protocol_version=PROTOCOL_VERSION), START_TIMEOUT
        )
        cwd = str(self.workspace)
        if continue_session:
            way = _continuation(info)
            with contextlib.suppress(Exception):
                answer: Any = None
                if way == RESUME:
                    answer = await asyncio.wait_for(
                        self.conn.resume_session(session_id=continue_session, cwd=cwd,
                                                 mcp_servers=[]), START_TIMEOUT,
                    )  # fmt: skip
                elif way == LOAD:
                    answer = await asyncio.wait_for(
                        self.conn.load_session(cwd=cwd, session_id=continue_session,
                                               mcp_servers=[]), START_TIMEOUT,
                    )  # fmt: skip
                if way != NEW:
                    self.acp_session, self.continued = continue_session, way
                    self._note_options(getattr(answer, "config_options", None))
                    await self._replay_ended()
                    return
        created = await asyncio.wait_for(
            self.conn.new_session(cwd=cwd, mcp_servers=[]), START_TIMEOUT
        )
        self.acp_session = created.session_id
        self._note_options(created.config_options)

    def _note_options(self, options: list[Any] | None) -> None:
        self.options = list(options or [])
        option = self._model_option()
        self.model = str(option.current_value) if option is not None else ""

    def _model_option(self) -> Any:
        return next(
            (o for o in self.options
             if getattr(o, "type", "") == "select" and (o.id == "model"
                                                        or getattr(o, "category", "") == "model")),
            None,
        )  # fmt: skip

    async def use_model(self, model: str) -> None:
        """Set the session's model where the agent offers it as an option (the values may
        carry a provider: `litellm/<model>`, `litellm:<model>`); else it keeps its own."""
        option = self._model_option()
        if not model or option is None or self.model == model or self.conn is None:
            return
        values = [getattr(v, "value", None) for v in _flat(option.options)]
        chosen = next((v for v in values if _names(str(v), model)), None)
        if chosen is None:
            return
        await asyncio.wait_for(
            self.conn.set_config_option(config_id=option.id, session_id=self.acp_session,
                                        value=chosen), START_TIMEOUT,
        )  # fmt: skip
        self.model = model

    async def _replay_ended(self, quiet: float = 0.3, most: float = 5.0) -> None:
        """Wait until the history a load replays stops coming (gemini streams it after its
        answer to `session/load`): none of it may pass for the next turn's output."""
        deadline = time.monotonic() + most
        while time.monotonic() < deadline and time.monotonic() - self._heard < quiet:
            await asyncio.sleep(0.05)

    async def on_update(self, update: Any) -> None:
        if self._notify is None:
            self._heard = time.monotonic()
            return  # a replayed history, or an update after the turn ended
        self.updates += 1
        kind = getattr(update, "session_update", "")
        params: dict[str, Any] = {
            "sessionId": self.id, "threadId": self.thread_id, "turnId": self._turn_id,
            "update": update.model_dump(mode="json", by_alias=True, exclude_none=True),
        }  # fmt: skip
        if kind == "agent_message_chunk" and getattr(update.content, "type", "") == "text":
            text = update.content.text
            self._chunks.append(text)
            params |= {"type": "delta", "delta": text, "text": text, "pending": True}
        else:
            params |= {"type": "step", "event": "running", "pending": True}
        await self._notify("session.update", params)

    async def turn(
        self, prompt: str, notify: Notify, timeout: float, started: dict[str, Any]
    ) -> dict[str, Any]:
        """One prompt: streamed as session.update (the first, `started`, carries `started`'s
        fields), answered with the joined output."""
        assert self.conn is not None
        async with self.turn_lock:
            self._chunks, self.updates = [], 0
            self._turn_id = uuid.uuid4().hex
            await notify("session.update", {
                "sessionId": self.id, "threadId": self.thread_id, "turnId": self._turn_id,
                "type": "status", "event": "started", "pending": True, **started,
            })  # fmt: skip
            self._notify = notify
            try:
                answer = await asyncio.wait_for(
                    self.conn.prompt(session_id=self.acp_session, prompt=[text_block(prompt)]),
                    timeout,
                )
            except TimeoutError:
                raise RpcError(
                    EXECUTION_FAILED, "EXECUTION_FAILED: the agent did not answer in time"
                ) from None
            except asyncio.CancelledError:
                # The ACP connection gave up the prompt (not this request being cancelled).
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                raise RpcError(
                    EXECUTION_FAILED, "EXECUTION_FAILED: the agent's connection dropped the turn"
                ) from None
            except Exception as exc:
                raise RpcError(EXECUTION_FAILED, f"EXECUTION_FAILED: {reason(exc)}") from None
            finally:
                self._notify = None
                self.last_used = time.monotonic()
            output = "".join(self._chunks)
            status = STOP_STATUS.get(str(answer.stop_reason), "failed")
            if status == "completed" and not output:
                status = "failed"
            outcome = {
                "turnId": self._turn_id, "status": status, "success": status == "completed",
                "output": output, "summary": output, "stopReason": str(answer.stop_reason),
            }  # fmt: skip
            if status == "failed":
                outcome["error"] = "the agent gave no answer"
            return outcome

    async def completed(self, notify: Notify, outcome: dict[str, Any]) -> None:
        await notify("session.update", {
            "sessionId": self.id, "threadId": self.thread_id, "turnId": outcome["turnId"],
            "type": "status", "event": "completed", "pending": False,
            "status": outcome["status"],
        })  # fmt: skip

    async def cancel(self) -> None:
        if self.alive and self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.cancel(session_id=self.acp_session)

    async def close(self) -> bool:
        """End the agent (the connection, or the child's whole process group); True when it
        was running."""
        alive = self.alive
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
        link, self.link = self.link, None
        if link is not None:
            # systemd ends the agent's unit when its connection closes.
            link[1].close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link[1].wait_closed(), 3)
            return alive
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return False
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 3)
                break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what the agent left running in its group
        return True


def served_name(value: str, served: list[str]) -> str:
    """The LiteLLM model name behind an agent's model value (`litellm/<m>`, `litellm:<m>`)."""
    return next((m for m in served if _names(value, m)), value)


def _names(value: str, model: str) -> bool:
    return value == model or value.endswith(("/" + model, ":" + model))


def _flat(options: list[Any]) -> list[Any]:
    """A select option's values, its groups' flattened."""
    flat: list[Any] = []
    for entry in options:
        flat.extend(getattr(entry, "options", None) or [entry])
    return flat


def _continuation(info: InitializeResponse) -> str:
    """How this agent can continue an earlier ACP session in a new process: `session/load`
    (stable; codex, opencode, gemini, hermes and OpenClaw offer it) before the unstable
    `session/resume`."""
    caps = info.agent_capabilities
    if caps is None:
        return NEW
    if caps.load_session:
        return LOAD
    lifecycle = caps.session_capabilities
    return RESUME if lifecycle is not None and lifecycle.resume is not None else NEW


async def _connect(
    running: RunningAgent, agent: Agent, root: Path
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """Connect to the agent's socket (the agent's side makes the workspace, as its account)
    or run its launcher as a child in the workspace (made here, under `root`)."""
    workspace = running.workspace
    if agent.socket is not None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(agent.socket), limit=STREAM_LIMIT), START_TIMEOUT
        )
        running.link = reader, writer
        writer.write(f"{workspace}\n".encode())
        return writer, reader
    assert agent.launcher is not None
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        workspace.mkdir(mode=0o700, parents=True, exist_ok=True)
    finally:
        os.umask(old)
    process = await asyncio.create_subprocess_exec(
        *agent.launcher, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, cwd=workspace, start_new_session=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **agent.env},
        user=agent.user, group=agent.user, extra_groups=[] if agent.user else None,
        preexec_fn=_die_with_parent, limit=STREAM_LIMIT,
    )  # fmt: skip
    running.process = process
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


def reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
