"""Replay fixtures: the JSON-RPC requests the real XWorkmate app sends to the Bridge.

The files under ``tests/fixtures/app_requests/`` were written from the app's source (see the
README there). They hold a few ``$NAME`` placeholders; :func:`load` fills them in:

- ``$PROVIDER``: agent provider id (codex, opencode, gemini, hermes)
- ``$THREAD``: the app's thread key (sessionId = threadId = appThreadKey)
- ``$THREAD_DIR``: the thread's folder name, derived from the key the way the app does
- ``$HINT``: remoteWorkingDirectoryHint; when empty the app leaves the field (and the prompt's
  ``remoteWorkspaceHint`` line) out, and so does the loader
- ``$PROMPT``: the user's text inside the app's prompt wrapper
- ``$ATTACHMENT_B64`` / ``$ATTACHMENT_SHA256`` / ``$ATTACHMENT_SIZE``: the inline attachment
  (the size becomes an int)
- ``$TOKEN``: the Bridge bearer token in the Authorization header
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from functools import cache
from typing import Any

from tests.helpers.paths import FIXTURES

APP_REQUESTS = FIXTURES / "app_requests"

#: The app's thread key: ``draft:<microseconds since epoch>-<per-process counter>``.
DEFAULT_THREAD = "draft:1786594930512345-1"
DEFAULT_PROVIDER = "codex"
DEFAULT_PROMPT = "List the files in this workspace and say what the project does."
DEFAULT_ATTACHMENT = b"Meeting notes\n- ship the bridge fixtures\n- check the SSE keepalive\n"
DEFAULT_TOKEN = "test-bridge-token"

#: One JSON-RPC id as the app builds it: ``<microseconds>-<method or short tag>-<counter>``.
APP_ID_RE = re.compile(r"^(?P<micros>\d{16})-(?P<tag>[A-Za-z0-9._-]+?)-(?P<n>\d+)$")
#: Short tags the app uses instead of the method name in a request id.
ID_TAGS = {
    "system.logs": "status",
    "acp.capabilities": "capabilities",
    "session.cancel": "cancel",
    "session.close": "close",
}

NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in APP_REQUESTS.glob("*.json")))

_PLACEHOLDER = re.compile(
    r"\$(ATTACHMENT_B64|ATTACHMENT_SHA256|ATTACHMENT_SIZE|THREAD_DIR|THREAD|PROVIDER|PROMPT"
    r"|HINT|TOKEN)(?![A-Z0-9_])"
)
_KNOWN = frozenset(
    {"provider", "thread", "thread_dir", "hint", "prompt", "attachment", "token"},
)


def thread_dir(thread_key: str) -> str:
    """The folder name the app gives a thread under ``.xworkmate/threads/``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", thread_key)
    name = re.sub(r"-{2,}", "-", name)
    name = re.sub(r"^[-.]+|[-.]+$", "", name)
    return name or "thread"


@cache
def _raw(name: str) -> dict[str, Any]:
    if name not in NAMES:
        raise KeyError(f"no app request fixture {name!r}; known: {', '.join(NAMES)}")
    doc: dict[str, Any] = json.loads((APP_REQUESTS / f"{name}.json").read_text(encoding="utf-8"))
    return doc


def source(name: str) -> str:
    """Which app files (and commit) the fixture was read from."""
    return str(_raw(name)["source"])


def _drop_hint(node: Any) -> Any:
    """Remove what the app omits when the hint is empty: the key and the prompt line."""
    if isinstance(node, dict):
        return {k: _drop_hint(v) for k, v in node.items() if v != "$HINT"}
    if isinstance(node, list):
        return [_drop_hint(v) for v in node]
    if isinstance(node, str) and "$HINT" in node and "\n" in node:
        return "\n".join(line for line in node.split("\n") if "$HINT" not in line)
    return node


def _fill(node: Any, table: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, table) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, table) for v in node]
    if isinstance(node, str):
        if node == "$ATTACHMENT_SIZE":
            return int(table["ATTACHMENT_SIZE"])
        return _PLACEHOLDER.sub(lambda m: table[m.group(1)], node)
    return node


def load(name: str, **values: object) -> tuple[dict[str, str], dict[str, Any]]:
    """Return ``(headers, body)`` of fixture ``name`` with its placeholders filled in.

    Keyword values: ``provider``, ``thread``, ``thread_dir`` (derived from ``thread`` unless
    given), ``hint`` (default ``""``), ``prompt``, ``attachment`` (bytes or str), ``token``.
    """
    unknown = set(values) - _KNOWN
    if unknown:
        raise TypeError(f"unknown fixture value(s): {', '.join(sorted(unknown))}")
    thread = str(values.get("thread", DEFAULT_THREAD))
    hint = str(values.get("hint", ""))
    attachment = values.get("attachment", DEFAULT_ATTACHMENT)
    data = attachment.encode() if isinstance(attachment, str) else attachment
    if not isinstance(data, bytes | bytearray):
        raise TypeError("attachment must be bytes or str")
    table = {
        "PROVIDER": str(values.get("provider", DEFAULT_PROVIDER)),
        "THREAD": thread,
        "THREAD_DIR": str(values.get("thread_dir", thread_dir(thread))),
        "HINT": hint,
        "PROMPT": str(values.get("prompt", DEFAULT_PROMPT)),
        "TOKEN": str(values.get("token", DEFAULT_TOKEN)),
        "ATTACHMENT_B64": base64.b64encode(data).decode("ascii"),
        "ATTACHMENT_SHA256": hashlib.sha256(data).hexdigest(),
        "ATTACHMENT_SIZE": str(len(data)),
    }
    doc = copy.deepcopy(_raw(name))
    if not hint.strip():
        doc = _drop_hint(doc)
    headers: dict[str, str] = _fill(doc["headers"], table)
    body: dict[str, Any] = _fill(doc["body"], table)
    return headers, body
