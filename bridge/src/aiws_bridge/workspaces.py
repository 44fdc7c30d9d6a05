"""Where a thread works on this host. The app's `workingDirectory` is a path on the user's
device (`/Users/alice/.xworkmate/threads/...`, `<Documents>/.xworkmate/threads/...`, or an
owner-scoped name `/owners/<realm>/<subjectType>/<subjectId>/threads/<key>`): it names the
thread's place there and is never refused. Each thread gets a server workspace of its own:

    <root>/<provider>/<token>/owners/<realm>/<subjectType>/<subjectId>/threads/<key>
    <root>/<provider>/<token>/threads/<thread key>          (any other device path)

`<root>/<provider>` is the agent account's own directory, so everything below it is made by
that account (0700); workspaces of different tokens never overlap. Every name is made safe
for a file system (thread keys contain `:`): characters outside [A-Za-z0-9._-] become `_`
and a short digest of the original keeps two names from meeting."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from aiws_bridge.rpc import INVALID_PARAMS, RpcError

SAFE = re.compile(r"[^A-Za-z0-9._-]")
OWNER_SCOPED = re.compile(r"^/owners/([^/]+)/([^/]+)/([^/]+)/threads/([^/]+)/?$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH = 4096


def safe_name(name: str) -> str:
    """One path component made of [A-Za-z0-9._-], never `.`-led, unique per input."""
    safe = SAFE.sub("_", name)[:96]
    if safe != name or safe.startswith("."):
        safe = f"{safe.lstrip('.') or '_'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return safe


def refuse_control(field: str, value: str) -> None:
    if CONTROL.search(value) or len(value) > MAX_PATH:
        raise RpcError(INVALID_PARAMS, f"{field}: control characters or too long")


def thread_workspace(
    root: str, provider: str, token: str, thread_key: str, device_path: str | None,
    hint: str | None,
) -> PurePosixPath:  # fmt: skip
    """The thread's server workspace (see the module's docstring). A hint is a workspace
    this Bridge returned earlier: used as is when it is this token's and provider's."""
    base = PurePosixPath(root) / safe_name(provider) / safe_name(token)
    for value, field in ((device_path, "workingDirectory"), (hint, "remoteWorkingDirectoryHint")):
        if value:
            refuse_control(field, value)
    if hint:
        given = PurePosixPath(hint)
        if ".." not in given.parts and base in given.parents:
            return given
    owner = OWNER_SCOPED.match(device_path or "")
    if owner:
        realm, kind, subject, key = (safe_name(part) for part in owner.groups())
        return base / "owners" / realm / kind / subject / "threads" / key
    return base / "threads" / safe_name(thread_key)


def rewrite_prompt(prompt: str, workspace: PurePosixPath, *device_paths: str | None) -> str:
    """The prompt's mentions of the thread's device paths (its working directory, the hint
    the app made up) name the server workspace instead."""
    for device_path in sorted({p.rstrip("/") for p in device_paths if p}, key=len, reverse=True):
        if device_path and device_path != str(workspace):
            prompt = prompt.replace(device_path, str(workspace))
    return prompt


def remote_fields(workspace: PurePosixPath) -> dict[str, object]:
    """What every result (and a turn's first update) says of where the thread works: the app
    keeps `remoteWorkingDirectory` as the thread's hint for its next turn."""
    path = str(workspace)
    return {
        "remoteWorkingDirectory": path, "resolvedWorkingDirectory": path,
        "effectiveWorkingDirectory": path, "remoteWorkspaceRefKind": "remotePath",
        "remoteExecution": {"remoteWorkingDirectory": path, "workspaceRefKind": "remotePath"},
    }  # fmt: skip
