"""One ACP agent per session, in a workspace under the Bridge's root, reached one of two ways
(settings.Agent): a connection to the agent's Unix socket, where systemd starts the agent as
its own account and ends it when the connection closes; or a stdio child in its own process
group (parent-death signal; the whole group is killed with the session). A session whose
agent is gone is never restarted silently: the next message gets
SESSION_CONTINUATION_UNAVAILABLE. Either way agents end with the Bridge."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from acp import PROTOCOL_VERSION, Client, text_block
from acp.client.connection import ClientSideConnection
from acp.schema import AllowedOutcome, RequestPermissionResponse

from aiws_bridge.rpc import EXECUTION_FAILED, INVALID_PARAMS, RpcError
from aiws_bridge.settings import Agent, Settings

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
PR_SET_PDEATHSIG = 1
STOP_STATUS = {"end_turn": "completed", "cancelled": "cancelled"}
STREAM_LIMIT = 1 << 24  # one ACP message (a JSON line) at most
START_TIMEOUT = 60


def _die_with_parent() -> None:
    """In the child, after the account switch: SIGKILL when the Bridge dies (even kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Client:
    """The Bridge's side of ACP: updates go to the running turn; permission requests are
    granted once (the agent runs as its own account, in the session's workspace). No file
    system or terminal methods: the Bridge does not offer them in `initialize`."""

    def __init__(self, session: Session):
        self.session = session

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        await self.session.on_update(update)

    async def request_permission(
        self, session_id: str, tool_call: Any, options: list[Any], **kwargs: Any
    ) -> RequestPermissionResponse:
        allow = next((o for o in options if str(o.kind).startswith("allow")), options[0])
        return RequestPermissionResponse(
            outcome=AllowedOutcome(option_id=allow.option_id, outcome="selected")
        )

    def on_connect(self, conn: Any) -> None:
        pass


class Session:
    def __init__(self, session_id: str, thread_id: str, provider: str, workspace: Path):
        self.id, self.thread_id, self.provider, self.workspace = (
            session_id, thread_id, provider, workspace,
        )  # fmt: skip
        self.process: asyncio.subprocess.Process | None = None  # a child agent
        self.link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None  # a socket
        self.conn: ClientSideConnection | None = None
        self.acp_session = ""
        self.last_used = time.monotonic()
        self.turn_lock = asyncio.Lock()
        self._chunks: list[str] = []
        self._notify: Notify | None = None
        self._turn_id = ""

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

    async def on_update(self, update: Any) -> None:
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
        if self._notify is not None:
            await self._notify("session.update", params)

    async def turn(self, prompt: str, notify: Notify, timeout: float) -> dict[str, Any]:
        """One prompt: streamed as session.update, answered with the joined output."""
        assert self.conn is not None
        async with self.turn_lock:
            self._chunks, self._notify = [], notify
            self._turn_id = uuid.uuid4().hex
            await notify("session.update", {
                "sessionId": self.id, "threadId": self.thread_id, "turnId": self._turn_id,
                "type": "status", "event": "started", "pending": True,
            })  # fmt: skip
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
                raise RpcError(EXECUTION_FAILED, f"EXECUTION_FAILED: {_reason(exc)}") from None
            finally:
                self._notify = None
                self.last_used = time.monotonic()
            output = "".join(self._chunks)
            status = STOP_STATUS.get(str(answer.stop_reason), "failed")
            if status == "completed" and not output:
                status = "failed"
            await notify("session.update", {
                "sessionId": self.id, "threadId": self.thread_id, "turnId": self._turn_id,
                "type": "status", "event": "completed", "pending": False, "status": status,
            })  # fmt: skip
            outcome = {
                "turnId": self._turn_id, "status": status, "success": status == "completed",
                "output": output, "summary": output, "stopReason": str(answer.stop_reason),
            }  # fmt: skip
            if status == "failed":
                outcome["error"] = "the agent gave no answer"
            return outcome

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


async def _open(
    session: Session, agent: Agent, workspace: Path
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """Start the session's agent: connect to its socket (the agent's side makes the
    workspace, as its account) or run its launcher as a child in the workspace."""
    if agent.socket is not None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(agent.socket), limit=STREAM_LIMIT), START_TIMEOUT
        )
        session.link = reader, writer
        writer.write(f"{workspace}\n".encode())
        return writer, reader
    assert agent.launcher is not None
    workspace.mkdir(mode=0o770, parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        *agent.launcher, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, cwd=workspace, start_new_session=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **agent.env},
        user=agent.user, group=agent.user, extra_groups=[] if agent.user else None,
        preexec_fn=_die_with_parent, limit=STREAM_LIMIT,
    )  # fmt: skip
    session.process = process
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class Sessions:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._sessions: dict[str, Session] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(1 for s in self._sessions.values() if s.alive)

    def workspace(self, session_id: str, asked: str | None) -> Path:
        """The session's working directory: the client's, when it is inside the root, else
        a directory of its own under the root."""
        root = self.settings.workspace_root.resolve()
        if asked:
            path = Path(os.path.realpath(asked))
            if path != root and root not in path.parents:
                raise RpcError(INVALID_PARAMS, f"workingDirectory must be inside {root}: {asked}")
            return path
        return root / session_id

    async def start(
        self, session_id: str, thread_id: str, provider: str, workdir: str | None
    ) -> Session:
        if not SESSION_ID.match(session_id):
            raise RpcError(INVALID_PARAMS, "sessionId: 1-128 of A-Z a-z 0-9 . _ : -")
        agent = self.settings.provider(provider)
        if agent is None:
            raise RpcError(-32001, f"PROVIDER_NOT_FOUND: {provider}")
        old = self._sessions.pop(session_id, None)
        if old is not None:
            await old.close()
        if len(self) >= self.settings.max_sessions:
            raise RpcError(
                EXECUTION_FAILED,
                f"EXECUTION_FAILED: {self.settings.max_sessions} sessions are running; close one",
            )
        workspace = self.workspace(session_id, workdir)
        session = Session(session_id, thread_id, provider, workspace)
        try:
            writer, reader = await _open(session, agent, workspace)
            session.conn = ClientSideConnection(cast(Client, _Client(session)), writer, reader)
            await asyncio.wait_for(
                session.conn.initialize(protocol_version=PROTOCOL_VERSION), START_TIMEOUT
            )
            created = await asyncio.wait_for(
                session.conn.new_session(cwd=str(workspace), mcp_servers=[]), START_TIMEOUT
            )
            session.acp_session = created.session_id
        except RpcError:
            await session.close()
            raise
        except Exception as exc:
            await session.close()
            raise RpcError(
                EXECUTION_FAILED, f"EXECUTION_FAILED: {provider} did not start: {_reason(exc)}"
            ) from None
        self._sessions[session_id] = session
        self._start_reaper()
        return session

    def get(self, session_id: str, thread_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None or not session.alive:
            raise RpcError(
                EXECUTION_FAILED,
                "SESSION_CONTINUATION_UNAVAILABLE: the session's agent is not running",
                {"code": "SESSION_CONTINUATION_UNAVAILABLE", "sessionId": session_id,
                 "threadId": thread_id, "providerId": session.provider if session else "",
                 "reason": "no running agent for this session"},
            )  # fmt: skip
        return session

    async def cancel(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and session.alive and session.conn is not None:
            with contextlib.suppress(Exception):
                await session.conn.cancel(session_id=session.acp_session)

    async def close(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        return await session.close() if session is not None else False

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
        if self._reaper is not None:
            self._reaper.cancel()

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self._sessions:
            await asyncio.sleep(min(30.0, self.settings.idle_timeout_s / 2))
            now = time.monotonic()
            for session_id, session in list(self._sessions.items()):
                idle = now - session.last_used > self.settings.idle_timeout_s
                if (idle and not session.turn_lock.locked()) or not session.alive:
                    await self.close(session_id)
