"""Threads and the agents that serve them. A thread belongs to the token that started it
(keyed by token name and session id: another token never reaches it). Its agent runs while it
is used: the first turn after the agent is gone (idle timeout, a restart of the Bridge, a
crash, eviction) opens a new one that continues the thread's ACP session (`session/resume`
or `session/load`, where the agent offers it) or, where it cannot, a new ACP session whose
first prompt carries the thread's transcript; the client is told in a `session.update`
(`event: "resumed"`). SESSION_CONTINUATION_UNAVAILABLE stays for a thread its token closed or
never started.

`max_sessions` bounds running agents, not threads (and `max_sessions_per_token` those of
one token): at the cap the least recently used idle agent is stopped (its thread stays), and
a turn that finds every agent mid-turn waits, told so by a `queued` status update."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiws_bridge import files
from aiws_bridge.agent import NEW, Notify, RunningAgent, reason, served_name
from aiws_bridge.rpc import EXECUTION_FAILED, INVALID_PARAMS, RpcError
from aiws_bridge.settings import Agent, Settings
from aiws_bridge.threads import Thread, ThreadStore
from aiws_bridge.workspaces import safe_name

LOG = logging.getLogger("uvicorn.error")  # the journal and system.logs, never a prompt
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
Key = tuple[str, str]


def unavailable(session_id: str, thread_id: str, provider: str, why: str) -> RpcError:
    return RpcError(
        EXECUTION_FAILED, f"SESSION_CONTINUATION_UNAVAILABLE: {why}",
        {"code": "SESSION_CONTINUATION_UNAVAILABLE", "sessionId": session_id,
         "threadId": thread_id, "providerId": provider, "reason": why},
    )  # fmt: skip


class Sessions:
    def __init__(self, settings: Settings, store: ThreadStore | None = None):
        self.settings = settings
        self.threads = store or ThreadStore(settings.state_dir)
        self._running: dict[Key, RunningAgent] = {}
        self._opening: dict[Key, tuple[asyncio.Lock, int]] = {}
        self._freed = asyncio.Condition()
        self._reaper: asyncio.Task[None] | None = None

    def tokens_running(self) -> set[str]:
        return {key[0] for key in self._running}

    def agent_root(self, provider: str) -> Path:
        """The agent account's own directory under the workspace root."""
        return self.settings.workspace_root / safe_name(provider)

    def begin(self, token: str, session_id: str, thread_id: str, provider: str,
              workspace: Path, model: str) -> Thread:  # fmt: skip
        """A new thread (session.start): a thread already open under this id starts over in
        the same workspace (its running agent is stopped by the first turn)."""
        if not SESSION_ID.match(session_id):
            raise RpcError(INVALID_PARAMS, "sessionId: 1-128 of A-Z a-z 0-9 . _ : -")
        if self.settings.provider(provider) is None:
            raise RpcError(-32001, f"PROVIDER_NOT_FOUND: {provider}")
        thread = Thread(token=token, session_id=session_id, thread_id=thread_id,
                        provider=provider, workspace=str(workspace), model=model)  # fmt: skip
        stale = self._running.get((token, session_id))
        if stale is not None:
            stale.acp_session = ""  # marks it as not this thread's any more
        self.threads.save(thread)
        return thread

    def thread(self, token: str, session_id: str, thread_id: str) -> Thread:
        thread = self.threads.get(token, session_id)
        if thread is None:
            raise unavailable(session_id, thread_id, "", "no session was started under this id")
        if thread.closed:
            raise unavailable(session_id, thread_id, thread.provider, "the session was closed")
        return thread

    async def turn(
        self, thread: Thread, prompt: str, notify: Notify, params: dict[str, Any],
        started: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        """One turn of the thread: its attachments written into the workspace, the agent
        (running, or opened now), the prompt, then the files the turn made or changed."""
        agent = self.settings.provider(thread.provider)
        if agent is None:
            raise RpcError(-32001, f"PROVIDER_NOT_FOUND: {thread.provider}")
        sent = files.attachments(params)
        root = self.agent_root(thread.provider)
        if sent:
            put = {"op": "put", "workspace": thread.workspace, "files": sent}
            paths = (await files.request(agent, root, put))["paths"]
            prompt = f"{prompt}\n\nAttached files (in the workspace):\n" + "\n".join(
                f"- {path}" for path in paths
            )
        running = await self._agent(thread, agent, notify)
        try:
            return await self._prompt(thread, agent, running, prompt, notify, started)
        except RpcError as exc:
            # Once more, in a new agent that continues the thread, when the agent could not
            # have done anything of this turn: it accepted a session it cannot continue
            # (hermes answers a load of an id it lost with success), or it was gone before
            # the turn reached it (killed a moment before: its end not yet seen).
            after_continuing = running.continued != NEW and not running.served
            gone_before = not running.alive and running.updates == 0
            if not (after_continuing or gone_before) or "in time" in exc.message:
                raise
            LOG.warning(
                "%s: a turn failed before the agent did anything (%s); continuing the thread "
                "in a new agent", thread.provider, exc.message[:200],
            )  # fmt: skip
            if after_continuing:
                thread.acp_session = ""  # what the agent accepted, it could not continue
            await self._drop(running)
            again = await self._agent(thread, agent, notify)
            try:
                return await self._prompt(thread, agent, again, prompt, notify, started)
            finally:
                again.claims -= 1
        finally:
            running.claims -= 1
            await self._wake()

    async def _prompt(
        self, thread: Thread, agent: Agent, running: RunningAgent, prompt: str, notify: Notify,
        started: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        root = self.agent_root(thread.provider)
        send = thread.primed(prompt) if running.primed else prompt
        await running.use_model(thread.model)
        scan = {"op": "scan", "workspace": thread.workspace}
        before = (await files.request(agent, root, scan))["files"]
        outcome = await running.turn(send, notify, self.settings.prompt_timeout_s, started)
        running.primed, running.served = False, True
        collect = {"op": "collect", "workspace": thread.workspace, "before": before}
        outcome["artifacts"] = (await files.request(agent, root, collect))["artifacts"]
        outcome["model"] = served_name(running.model, agent.models)
        thread.acp_session = running.acp_session
        thread.add_turn(prompt, outcome["output"])
        self.threads.save(thread)
        await running.completed(notify, outcome)
        return outcome

    async def _drop(self, running: RunningAgent) -> None:
        if self._running.get(running.key) is running:
            del self._running[running.key]
        await running.close()

    async def _agent(self, thread: Thread, agent: Agent, notify: Notify) -> RunningAgent:
        """The thread's running agent, claimed for one turn; opened (continuing the thread)
        when there is none."""
        key = (thread.token, thread.session_id)
        async with self._one_opening(key):
            running = self._running.get(key)
            if running is not None and running.alive and running.acp_session:
                running.claims += 1
                return running
            if running is not None:
                self._running.pop(key, None)
                await running.close()
            running = RunningAgent(key, thread.thread_id, thread.provider, Path(thread.workspace))
            running.claims = 1
            await self._slot(thread.token, notify, running)
            try:
                await running.open(agent, self.agent_root(thread.provider), thread.acp_session)
            except Exception as exc:
                self._running.pop(key, None)
                running.claims = 0
                await running.close()
                await self._wake()
                if isinstance(exc, RpcError):
                    raise
                raise RpcError(
                    EXECUTION_FAILED,
                    f"EXECUTION_FAILED: {thread.provider} did not start: {reason(exc)}",
                ) from None
            self._start_reaper()
            thread.agents += 1
            self.threads.save(thread)
        # Continued or new, the thread went on without its earlier agent: say so.
        running.primed = bool(thread.transcript) and running.continued == NEW
        if thread.agents > 1:
            how = (
                running.continued
                if running.continued != NEW
                else ("transcript" if thread.transcript else "a new session")
            )
            await notify("session.update", {
                "sessionId": thread.session_id, "threadId": thread.thread_id, "turnId": "",
                "type": "status", "event": "resumed", "pending": True, "resumedWith": how,
                "message": f"the session's agent had stopped; continued with {how}",
            })  # fmt: skip
        return running

    @contextlib.asynccontextmanager
    async def _one_opening(self, key: Key) -> AsyncIterator[None]:
        """One opening of a thread's agent at a time (parallel starts of one id cannot leak
        an agent); the lock goes when nobody holds or waits for it."""
        lock, users = self._opening.get(key, (asyncio.Lock(), 0))
        self._opening[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._opening[key]
            if users > 1:
                self._opening[key] = (lock, users - 1)
            else:
                del self._opening[key]

    async def _slot(self, token: str, notify: Notify, running: RunningAgent) -> None:
        """Room for one more running agent (registered as `running` once there is): the
        least recently used idle agent is stopped at a cap; with none idle, wait."""
        told = False
        deadline = time.monotonic() + self.settings.prompt_timeout_s
        async with self._freed:
            while True:
                # An agent being opened is busy, not yet alive: it counts.
                everyone = [r for r in self._running.values() if r.alive or r.busy]
                mine = [r for r in everyone if r.key[0] == token]
                if len(everyone) < self.settings.max_sessions and (
                    len(mine) < self.settings.max_sessions_per_token
                ):
                    self._running[running.key] = running
                    return
                full = mine if len(mine) >= self.settings.max_sessions_per_token else everyone
                idle = sorted((r for r in full if not r.busy), key=lambda r: r.last_used)
                if idle:
                    self._running.pop(idle[0].key, None)
                    await idle[0].close()
                    continue
                if not told:
                    told = True
                    await notify("session.update", {
                        "sessionId": running.id, "threadId": running.thread_id, "turnId": "",
                        "type": "status", "event": "queued", "pending": True,
                        "queue": {"running": len(everyone), "max": self.settings.max_sessions},
                        "message": "every agent is busy; this turn waits for one",
                    })  # fmt: skip
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RpcError(EXECUTION_FAILED, "EXECUTION_FAILED: no agent became free")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), min(remaining, 5))

    async def _wake(self) -> None:
        async with self._freed:
            self._freed.notify_all()

    async def cancel(self, token: str, session_id: str) -> None:
        running = self._running.get((token, session_id))
        if running is not None:
            await running.cancel()

    async def close(self, token: str, session_id: str) -> bool:
        """The client archived the thread: its agent stops, later messages are refused."""
        thread = self.threads.get(token, session_id)
        if thread is not None and not thread.closed:
            thread.closed = True
            self.threads.save(thread)
        running = self._running.pop((token, session_id), None)
        stopped = await running.close() if running is not None else False
        await self._wake()
        return stopped or thread is not None

    async def stop_token(self, token: str) -> None:
        """A revoked token: its agents stop (its threads stay on disk)."""
        for key in [k for k in self._running if k[0] == token]:
            running = self._running.pop(key)
            await running.cancel()
            await running.close()
        self.threads.forget_token(token)
        await self._wake()

    async def close_all(self) -> None:
        for key in list(self._running):
            await self._running.pop(key).close()
        if self._reaper is not None:
            self._reaper.cancel()

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self._running:
            await asyncio.sleep(min(30.0, self.settings.idle_timeout_s / 2))
            now = time.monotonic()
            for key, running in list(self._running.items()):
                idle = now - running.last_used > self.settings.idle_timeout_s
                if (idle and not running.busy) or not running.alive:
                    self._running.pop(key, None)
                    await running.close()
            await self._wake()
