"""The thread is the record, a running agent only a cache of it. Each thread a token started
is kept under the Bridge's state directory (`<state>/threads/<token>/<thread>.json`, 0600,
written atomically): its provider, workspace, the agent's ACP session id, whether the client
closed it, and a bounded transcript. A thread whose agent is gone (idle timeout, a restart of
the Bridge, a crash) is continued from it."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiws_bridge.workspaces import safe_name

# The transcript kept per thread: the last turns, and no more text than a prompt can carry.
TRANSCRIPT_TURNS = 20
TRANSCRIPT_CHARS = 24_000
# Records kept in memory (the most recently used); the rest are read again when needed.
CACHED = 1024


@dataclass
class Thread:
    token: str
    session_id: str
    thread_id: str
    provider: str
    workspace: str
    acp_session: str = ""
    closed: bool = False
    model: str = ""
    # Agents opened for it so far: from the second on, each continues the thread.
    agents: int = 0
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    # [{"prompt": ..., "output": ...}], oldest first
    transcript: list[dict[str, str]] = field(default_factory=list)

    def add_turn(self, prompt: str, output: str) -> None:
        self.transcript.append({"prompt": prompt, "output": output})
        del self.transcript[:-TRANSCRIPT_TURNS]
        while len(self.transcript) > 1 and _chars(self.transcript) > TRANSCRIPT_CHARS:
            del self.transcript[0]
        self.updated = time.time()

    def primed(self, prompt: str) -> str:
        """The prompt of the first turn of a fresh agent session that continues this thread:
        the thread so far, then the new request."""
        if not self.transcript:
            return prompt
        earlier = "\n\n".join(
            f"User:\n{turn['prompt']}\n\nAssistant:\n{turn['output']}" for turn in self.transcript
        )[-TRANSCRIPT_CHARS:]
        return (
            "This conversation continues an earlier session whose agent is no longer running."
            f" The conversation so far:\n\n{earlier}\n\n---\nThe user's new request:\n{prompt}"
        )


def _chars(transcript: list[dict[str, str]]) -> int:
    return sum(len(t["prompt"]) + len(t["output"]) for t in transcript)


class ThreadStore:
    def __init__(self, state_dir: Path | None):
        self.root = state_dir / "threads" if state_dir is not None else None
        self._memory: OrderedDict[tuple[str, str], Thread] = OrderedDict()

    def _path(self, token: str, session_id: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / safe_name(token) / f"{safe_name(session_id)}.json"

    def get(self, token: str, session_id: str) -> Thread | None:
        key = (token, session_id)
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        path = self._path(token, session_id)
        if path is None:
            return None
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            thread = Thread(**data)
        except (OSError, ValueError, TypeError):
            return None
        self._remember(thread)
        return thread

    def _remember(self, thread: Thread) -> None:
        key = (thread.token, thread.session_id)
        self._memory[key] = thread
        self._memory.move_to_end(key)
        if self.root is not None:  # in memory only, the cache is the store
            while len(self._memory) > CACHED:
                self._memory.popitem(last=False)

    def save(self, thread: Thread) -> None:
        self._remember(thread)
        path = self._path(thread.token, thread.session_id)
        if path is None:
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".thread-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(asdict(thread), out, separators=(",", ":"))
            Path(scratch).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(scratch).unlink()
            raise

    def forget_token(self, token: str) -> None:
        """Drop the cached records of a token (they stay on disk)."""
        for key in [k for k in self._memory if k[0] == token]:
            del self._memory[key]
