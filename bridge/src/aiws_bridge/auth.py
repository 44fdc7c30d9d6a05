"""Who may talk to the Bridge: named tokens, stored hashed, always required (no token
configured means nothing is served), and failed attempts from one address slowed down."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from pathlib import Path


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def presented_token(header: str | None) -> str:
    """The token of an Authorization header: `Bearer <token>` (any case) or the bare token."""
    value = (header or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


class TokenStore:
    """The tokens file ({"tokens": [{"name", "sha256", ...}]}), read again when it changes,
    so that `aiws bridge tokens add|revoke` needs no restart. A missing or unreadable file
    holds no token: every request is refused."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._digests: dict[str, str] = {}  # sha256 -> name

    def _load(self) -> dict[str, str]:
        try:
            info = self.path.stat()
        except OSError:
            self._stamp, self._digests = None, {}
            return self._digests
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp != self._stamp:
            try:
                entries = json.loads(self.path.read_text()).get("tokens", [])
                self._digests = {
                    e["sha256"]: e["name"] for e in entries if isinstance(e, dict) and "sha256" in e
                }
            except (OSError, ValueError, AttributeError, KeyError):
                self._digests = {}
            self._stamp = stamp
        return self._digests

    def configured(self) -> bool:
        return bool(self._load())

    def names(self) -> list[str]:
        return list(self._load().values())

    def name_of(self, token: str) -> str | None:
        """The name of the token, or None (compared in constant time, hash against hash)."""
        if not token:
            return None
        presented = digest(token)
        found = None
        for known, name in self._load().items():
            if hmac.compare_digest(presented, known):
                found = name
        return found


class Throttle:
    """Failed auth per client address: after `free` failures within `window` seconds each
    further attempt from that address waits, doubling up to `ceiling` seconds."""

    def __init__(self, free: int = 5, window: float = 60.0, ceiling: float = 5.0, size: int = 4096):
        self.free, self.window, self.ceiling, self.size = free, window, ceiling, size
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def delay(self, address: str) -> float:
        now = time.monotonic()
        recent = [t for t in self._failures.get(address, []) if now - t < self.window]
        excess = len(recent) - self.free
        return 0.0 if excess < 0 else min(self.ceiling, 0.25 * 2**excess)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        recent = [t for t in self._failures.pop(address, []) if now - t < self.window]
        self._failures[address] = [*recent, now]
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


def origin_allowed(origin: str | None, allowlist: list[str]) -> bool:
    """No Origin (the app sends none) is allowed; otherwise an exact entry, or an entry
    ending in `:*` matching origins that start with the text before the `*`."""
    if not origin:
        return True
    for entry in allowlist:
        if entry == origin or (entry.endswith(":*") and origin.startswith(entry[:-1])):
            return True
    return False
