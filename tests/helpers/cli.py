"""Run the real `aiws` entry point in a subprocess: real exit codes, real streams."""

from __future__ import annotations

import os
import subprocess
import sys


def aiws(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiws", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
