"""The Bridge's side of workfiles.py: one request to the agent's account, through the agent's
socket (the session script runs workfiles.py for a connection whose first line is `files`)
or, for a launcher agent, as a child (as the agent's `user` when one is set). Attachments
are checked here before anything is sent: names made safe, base64, `sizeBytes`, `sha256`,
the size limits."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from aiws_bridge.agent import STREAM_LIMIT, reason
from aiws_bridge.rpc import EXECUTION_FAILED, INVALID_PARAMS, RpcError
from aiws_bridge.settings import Agent
from aiws_bridge.workspaces import safe_name

MAX_ATTACHMENT = 10 << 20
MAX_ATTACHMENTS_TOTAL = 20 << 20
MAX_ATTACHMENTS = 32
FILES_TIMEOUT = 60


def attachments(params: dict[str, Any]) -> list[dict[str, str]]:
    """The turn's `inlineAttachments`, checked, as workfiles.put takes them."""
    given = params.get("inlineAttachments") or []
    if not isinstance(given, list) or len(given) > MAX_ATTACHMENTS:
        raise RpcError(INVALID_PARAMS, f"inlineAttachments: a list of at most {MAX_ATTACHMENTS}")
    checked, total, names = [], 0, set()
    for entry in given:
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise RpcError(INVALID_PARAMS, "inlineAttachments: each needs name and content")
        name = safe_name(str(entry.get("name") or "attachment"))
        while name in names:
            name = f"_{name}"
        names.add(name)
        try:
            data = base64.b64decode(entry["content"], validate=True)
        except (binascii.Error, ValueError):
            raise RpcError(INVALID_PARAMS, f"inlineAttachments: {name}: not base64") from None
        total += len(data)
        if len(data) > MAX_ATTACHMENT or total > MAX_ATTACHMENTS_TOTAL:
            raise RpcError(
                INVALID_PARAMS,
                f"inlineAttachments: {name}: at most {MAX_ATTACHMENT >> 20} MiB a file and "
                f"{MAX_ATTACHMENTS_TOTAL >> 20} MiB in all",
            )
        size = entry.get("sizeBytes")
        if size not in (None, "") and int(size) != len(data):
            raise RpcError(INVALID_PARAMS, f"inlineAttachments: {name}: sizeBytes differs")
        digest = entry.get("sha256")
        if digest and str(digest).lower() != hashlib.sha256(data).hexdigest():
            raise RpcError(INVALID_PARAMS, f"inlineAttachments: {name}: sha256 differs")
        checked.append({"name": name, "content": entry["content"]})
    return checked


async def request(agent: Agent, root: Path, body: dict[str, Any]) -> dict[str, Any]:
    """One workfiles request as the agent's account; its answer, or -32002 naming why."""
    line = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    try:
        answer = await asyncio.wait_for(_exchange(agent, root, line), FILES_TIMEOUT)
        result: dict[str, Any] = json.loads(answer)
    except RpcError:
        raise
    except Exception as exc:
        why = reason(exc)
        raise RpcError(EXECUTION_FAILED, f"EXECUTION_FAILED: workspace files: {why}") from None
    if not result.get("ok"):
        why = str(result.get("error"))
        raise RpcError(EXECUTION_FAILED, f"EXECUTION_FAILED: workspace files: {why}")
    return result


async def _exchange(agent: Agent, root: Path, line: bytes) -> bytes:
    if agent.socket is not None:
        reader, writer = await asyncio.open_unix_connection(str(agent.socket), limit=STREAM_LIMIT)
        try:
            writer.write(b"files\n" + line)
            await writer.drain()
            return await reader.readline()
        finally:
            writer.close()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-m", "aiws_bridge.workfiles", str(root),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, user=agent.user, group=agent.user,
        extra_groups=[] if agent.user else None, limit=STREAM_LIMIT,
    )  # fmt: skip
    out, _ = await child.communicate(line)
    return out
