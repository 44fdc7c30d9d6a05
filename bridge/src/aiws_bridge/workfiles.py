"""Files in and out of a thread's workspace, done as the agent's own account (the Bridge
cannot enter a workspace: each is 0700, its agent's). Standard library only: the agent's
session unit runs it with the Bridge's Python (`python -I -m aiws_bridge.workfiles ROOT`),
one request a connection, after the session script's `files` line; the Bridge's tests run
it as a child. One JSON object in on stdin, one JSON object out on stdout:

    {"op": "put", "workspace": W, "files": [{"name": N, "content": BASE64}]}
        -> {"ok": true, "paths": [W/attachments/N, ...]}
    {"op": "scan", "workspace": W} -> {"ok": true, "files": {relative path: [mtime_ns, size]}}
    {"op": "collect", "workspace": W, "before": <scan's files>}
        -> {"ok": true, "artifacts": [{relativePath, label, contentType, encoding, content,
            sizeBytes, sha256}], "skipped": N}

A workspace must lie inside ROOT; it is made 0700 when missing and refused unless it is a
directory this account owns with mode 0700. Nothing follows a symbolic link."""

# os-level calls on purpose: descriptors opened with O_NOFOLLOW, lstat, umask.
# ruff: noqa: PTH102, PTH103, PTH118, PTH119

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import os
import stat
import sys
from typing import Any

ATTACHMENTS = "attachments"
# Never sent back: the attachments, dot-entries, and what builds and packages leave behind.
SKIPPED_DIRS = {"node_modules", "build", "__pycache__"}
MAX_ARTIFACTS = 24
MAX_ARTIFACT_BYTES = 2 << 20
MAX_ARTIFACTS_TOTAL = 8 << 20
MAX_SCANNED = 20_000


class Refused(Exception):
    pass


def workspace_dir(root: str, asked: str) -> str:
    """The workspace, made when missing; refused outside ROOT or when not ours and 0700."""
    root = os.path.realpath(root)
    path = os.path.realpath(asked)
    if not path.startswith(root + os.sep):
        raise Refused(f"the workspace must be inside {root}: {asked}")
    old = os.umask(0o077)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    finally:
        os.umask(old)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise Refused(f"the workspace is not this account's directory: {asked}")
    if stat.S_IMODE(info.st_mode) != 0o700:
        raise Refused(f"the workspace is not 0700: {asked}")
    return path


def put(workspace: str, files: list[dict[str, str]]) -> dict[str, Any]:
    folder = os.path.join(workspace, ATTACHMENTS)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise Refused(f"{folder} is not a directory") from None
    paths = []
    for entry in files:
        name = entry["name"]
        if not name or "/" in name or name.startswith(".") or "\x00" in name:
            raise Refused(f"not a file name: {name!r}")
        try:
            data = base64.b64decode(entry["content"], validate=True)
        except (binascii.Error, ValueError):
            raise Refused(f"{name}: content is not base64") from None
        path = os.path.join(folder, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        paths.append(path)
    return {"ok": True, "paths": paths}


def _walk(workspace: str) -> dict[str, tuple[int, int]]:
    """Regular files below the workspace (relative path -> (mtime_ns, size)), without
    dot-entries or skipped folders, never through a link."""
    found: dict[str, tuple[int, int]] = {}
    for top, dirs, names in os.walk(workspace, followlinks=False):
        rel_top = os.path.relpath(top, workspace)
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS
            and not (rel_top == "." and d == ATTACHMENTS)
        )  # fmt: skip
        for name in names:
            if name.startswith("."):
                continue
            full = os.path.join(top, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(full, workspace)] = (info.st_mtime_ns, info.st_size)
            if len(found) >= MAX_SCANNED:
                return found
    return found


def scan(workspace: str) -> dict[str, Any]:
    return {"ok": True, "files": {p: list(v) for p, v in _walk(workspace).items()}}


def collect(workspace: str, before: dict[str, list[int]]) -> dict[str, Any]:
    """The files created or changed since `before`, newest first, within the limits."""
    changed = [
        (mtime, path, size) for path, (mtime, size) in _walk(workspace).items()
        if before.get(path) != [mtime, size]
    ]  # fmt: skip
    changed.sort(reverse=True)
    artifacts: list[dict[str, Any]] = []
    total = skipped = 0
    for _, path, size in changed:
        if len(artifacts) >= MAX_ARTIFACTS or size > MAX_ARTIFACT_BYTES:
            skipped += 1
            continue
        if total + size > MAX_ARTIFACTS_TOTAL:
            skipped += 1
            continue
        artifact = _artifact(workspace, path)
        if artifact is None:
            skipped += 1
            continue
        total += artifact["sizeBytes"]
        artifacts.append(artifact)
    return {"ok": True, "artifacts": artifacts, "skipped": skipped}


def _artifact(workspace: str, path: str) -> dict[str, Any] | None:
    try:
        fd = os.open(os.path.join(workspace, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as source:
        data = source.read(MAX_ARTIFACT_BYTES + 1)
    if len(data) > MAX_ARTIFACT_BYTES:
        return None
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    try:
        content, encoding = data.decode("utf-8"), "utf8"
        if kind == "application/octet-stream":
            kind = "text/plain"
    except UnicodeDecodeError:
        content, encoding = base64.b64encode(data).decode("ascii"), "base64"
    return {
        "relativePath": path, "label": os.path.basename(path), "contentType": kind,
        "encoding": encoding, "content": content, "sizeBytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip


def handle(root: str, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    workspace = workspace_dir(root, str(request.get("workspace") or ""))
    if op == "put":
        return put(workspace, list(request.get("files") or []))
    if op == "scan":
        return scan(workspace)
    if op == "collect":
        return collect(workspace, dict(request.get("before") or {}))
    raise Refused(f"unknown op: {op}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m aiws_bridge.workfiles ROOT", file=sys.stderr)
        return 2
    try:
        answer = handle(argv[0], json.loads(sys.stdin.buffer.readline()))
    except (Refused, OSError, ValueError, KeyError, TypeError) as exc:
        answer = {"ok": False, "error": str(exc)[:300] or type(exc).__name__}
    sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
