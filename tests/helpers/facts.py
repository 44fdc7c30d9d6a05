"""Host facts for unit tests: the least aiws_host_facts reports about a healthy Debian 12
host, with a test's own fields on top."""

from __future__ import annotations

from typing import Any

from aiws.guard.checks import HostFacts

MINIMAL: dict[str, Any] = {
    "os_id": "debian",
    "os_version_id": "12",
    "arch": "amd64",
    "pid1": "systemd",
    "mem_total_mb": 16_000,
    "mem_available_mb": 15_000,
}


def host_facts(**fields: Any) -> HostFacts:
    return HostFacts.model_validate({**MINIMAL, **fields})
