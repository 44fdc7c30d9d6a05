"""The download cache: one directory per pin, filled once, then reused as is.

A cache entry is complete when its directory exists: it is filled under a temporary
name and renamed into place, so an interrupted build leaves no half entry behind. Within
one build, artifacts fill entries from several threads: one entry is filled by one thread
at a time, and the others that need it wait for it and reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path


class DownloadCache:
    def __init__(self, root: Path):
        self.root = root / "downloads"
        self.hits: list[str] = []
        self.misses: list[str] = []
        self._filling: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def entry(self, kind: str, key: dict[str, object], fill: Callable[[Path], None]) -> Path:
        """The cached directory for `key`, created by `fill(tmpdir)` on a miss."""
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        final = self.root / kind / digest
        with self._guard:
            lock = self._filling.setdefault(final, threading.Lock())
        with lock:
            return self._entry(kind, digest, key, fill)

    def _entry(
        self, kind: str, digest: str, key: dict[str, object], fill: Callable[[Path], None]
    ) -> Path:
        final = self.root / kind / digest
        if final.is_dir():
            self.hits.append(f"{kind}/{digest}")
            return final
        partial = final.with_name(f"{digest}.partial-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            fill(partial)
            (final.parent / f"{digest}.key.json").write_text(json.dumps(key, indent=2))
            try:
                partial.rename(final)
            except OSError:
                if not final.is_dir():  # else a concurrent build filled it first: use that
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        self.misses.append(f"{kind}/{digest}")
        return final

    def scratch(self, name: str) -> Path:
        """A persistent working directory (e.g. a registry client's own cache)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
