"""Which system unit a listening process belongs to: only a service right under the host's
(or a container's) system.slice, never one a user named in their own slice."""

from __future__ import annotations

import pytest

from aiws.guard.checks import Listener
from aiws.modules.aiws_host_facts import unit_of_cgroup


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/aiws-vault.service", "aiws-vault.service"),
        ("system.slice/aiws-vault.service", "aiws-vault.service"),
        ("/system.slice/aiws-vault.service/", "aiws-vault.service"),
        (
            "/aiws-sandbox/t1/payload/system.slice/aiws-postgresql.service",
            "aiws-postgresql.service",
        ),
        ("/system.slice/aiws-vault.service/sub", "aiws-vault.service"),
        ("/system.slice/ssh.service", "ssh.service"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/aiws-vault.service", ""),
        ("/user.slice/user-1000.slice/user@1000.service/system.slice/aiws-x.service", ""),
        ("/user.slice/user-1000.slice/session-3.scope", ""),
        ("/system.slice/aiws-vault.scope", ""),
        ("/system.slice", ""),
        ("/init.scope", ""),
        ("/", ""),
        ("", ""),
    ],
)
def test_unit_of_cgroup(path: str, unit: str) -> None:
    assert unit_of_cgroup(path) == unit


@pytest.mark.parametrize(
    ("unit", "ours"),
    [
        ("aiws-vault.service", True),
        ("aiws-x.scope", False),
        ("aiws-x.service.d", False),
        ("vault.service", False),
        ("my-aiws-vault.service", False),
        ("", False),
    ],
)
def test_a_listener_is_ours_only_for_an_aiws_service(unit: str, ours: bool) -> None:
    assert Listener(address="127.0.0.1", port=8200, unit=unit).ours is ours
