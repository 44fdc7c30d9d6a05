"""The download cache: one directory per pin, filled once, then reused as is.

A cache entry is complete when its directory exists: it is filled under a temporary
name and renamed into place, so an interrupted build leaves no half entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


class DownloadCache:
    def __init__(self, root: Path):
        self.root = root / "downloads"
        self.hits: list[str] = []
        self.misses: list[str] = []

    def entry(self, kind: str, key: dict[str, object], fill: Callable[[Path], None]) -> Path:
        """The cached directory for `key`, created by `fill(tmpdir)` on a miss."""
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        final = self.root / kind / digest
        if final.is_dir():
            self.hits.append(f"{kind}/{digest}")
            return final
        partial = final.with_name(f"{digest}.partial-{os.getpid()}")
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
