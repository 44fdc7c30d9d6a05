"""The Bridge's recent log lines, kept in memory for `system.logs`.

Only what the Bridge already logs (uvicorn's access and error lines: client address, method,
path, status; never a header, a token or a prompt) and only the last lines.
"""

from __future__ import annotations

import logging
import time
from collections import deque

LOGGERS = ("uvicorn.access", "uvicorn.error")


class RecentLogs(logging.Handler):
    def __init__(self, size: int = 200) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        self.lines.append(f"{stamp}Z {record.levelname} {record.getMessage()}")

    def attach(self) -> RecentLogs:
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def detach(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self)
