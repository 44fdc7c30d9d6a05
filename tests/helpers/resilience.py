"""What an installed host must survive with no action from anyone: a reboot, and a kill -9
of every service's main process. Shared by the all-in-one tests of each Debian release."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from aiws.model.catalog import load_catalog
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers.door import Door, wait_for
from tests.helpers.hosts import inside, main_pids, status


def service_units(components: Collection[str]) -> dict[str, str]:
    """Each service among `components` with a process of its own, and its unit (agents and
    runtimes have none running; a socket-activated one runs only while a client is
    connected, its socket is systemd's)."""
    catalog = load_catalog()
    return {
        name: catalog.component(name).unit or ""
        for name in components
        if catalog.component(name).kind == "service" and catalog.component(name).socket is None
    }


def healthy_within(
    sandbox: SandboxState, components: Collection[str], seconds: float = 180
) -> float:
    """Seconds until exactly `components` are installed and all healthy, by waiting alone."""
    started = time.monotonic()
    while True:
        report = status(sandbox)
        installed = {c["name"] for c in report["by_name"].values() if c["installed"]}
        if report["healthy"] and installed == set(components):
            return round(time.monotonic() - started, 1)
        unhealthy = {n: c["detail"] for n, c in report["by_name"].items() if not c["healthy"]}
        assert time.monotonic() - started < seconds, (installed, unhealthy)
        time.sleep(1)


def reboot_then_kill_every_service(
    sandbox: SandboxState, door: Door, components: Collection[str], units: Mapping[str, str]
) -> tuple[float, float]:
    """Reboot the host, then kill -9 each of `units`' main process: each time every component
    is healthy again (Vault unsealed, the Bridge answering through Caddy) and every service
    has a new main process. Returns the seconds to healthy after each."""
    started = time.monotonic()
    host.reboot(sandbox)
    rebooted = round(time.monotonic() - started + healthy_within(sandbox, components), 1)
    assert wait_for(door.healthy, 30)
    assert "unsealed" in status(sandbox)["by_name"]["vault"]["detail"]
    old = main_pids(sandbox, units.values())
    for pid in old.values():
        inside(sandbox, "sh", "-c", f"kill -9 {pid}")  # minbase has no kill(1)
    killed = healthy_within(sandbox, components)
    assert all(main_pids(sandbox, old)[unit] not in (0, old[unit]) for unit in old)
    assert wait_for(door.healthy, 30)
    return rebooted, killed
