"""Watching a process in a sandbox for network connection attempts: it runs under this
machine's strace (following every child, into the sandbox's namespaces), and every connect,
sendto or sendmsg to an IPv4/IPv6 address that is not loopback counts as an attempt, whether
it succeeded or not (a network-less sandbox makes them all fail; they must not be tried).
accept calls are traced too: they show that the trace saw a server at work."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiws.sandbox import host
from aiws.sandbox.state import SandboxState

TRACED = "connect,sendto,sendmsg,accept,accept4"
_IPV4 = re.compile(r'sa_family=AF_INET,.*?inet_addr\("([^"]+)"\)')
_IPV6 = re.compile(r'sa_family=AF_INET6,.*?inet_pton\(AF_INET6, "([^"]+)"')


def attempts(trace: str) -> list[str]:
    """The traced calls that address something other than this host's loopback."""
    found = []
    for line in trace.splitlines():
        match = _IPV4.search(line) or _IPV6.search(line)
        if match is None:
            continue
        address = ipaddress.ip_address(match.group(1))
        mapped = getattr(address, "ipv4_mapped", None)
        if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
            found.append(line.strip())
    return found


def as_user(user: str, argv: list[str], env: dict[str, str], cwd: str) -> list[str]:
    """`argv` as `user` (its own group, no others), in `cwd`, with exactly `env`."""
    assignments = [f"{key}={value}" for key, value in env.items()]
    return [
        "setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--",
        "env", "-i", "-C", cwd, *assignments, *argv,
    ]  # fmt: skip


@contextmanager
def traced(
    sandbox: SandboxState, argv: list[str], trace: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` inside the sandbox under strace for the duration of the block; then end
    its whole process group (strace, nsenter and the traced tree)."""
    command = ["strace", "-f", "-qq", "-e", f"trace={TRACED}", "-o", str(trace)]
    command += host.in_container(sandbox, argv)
    log = trace.with_suffix(".out").open("wb")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        _end(process)
        log.close()


def _end(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM to the group, SIGKILL to what is left after `grace` seconds; returns when
    nothing of the group is left (strace reaped)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + grace
        try:
            os.killpg(process.pid, sig)
            while time.monotonic() < deadline:
                process.poll()
                os.killpg(process.pid, 0)
                time.sleep(0.2)
        except ProcessLookupError:
            break
    process.wait(timeout=grace)
