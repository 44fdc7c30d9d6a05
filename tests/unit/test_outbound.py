"""The outbound-attempt detector the offline tests rely on, fed by the real strace: a
process in a network namespace with nothing but loopback tries loopback, an IPv4 and an
IPv6 address elsewhere (each fails at once; no packet leaves), and only the two foreign
attempts are reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.outbound import TRACED, attempts

TRIES = r"""
import socket
for family, address in ((socket.AF_INET, ("127.0.0.1", 9)), (socket.AF_INET, ("192.0.2.7", 53)),
                        (socket.AF_INET6, ("2001:db8::7", 443)), (socket.AF_INET6, ("::1", 9))):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.connect(address)
        except OSError:
            pass
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    try:
        s.sendto(b"x", ("198.51.100.9", 53))
    except OSError:
        pass
"""


def test_foreign_attempts_are_found_and_loopback_is_not(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    command = ["unshare", "--net", "strace", "-f", "-qq", "-e", f"trace={TRACED}", "-o",
               str(trace), sys.executable, "-c", TRIES]  # fmt: skip
    subprocess.run(command, check=True, timeout=60, capture_output=True)
    found = attempts(trace.read_text())
    assert len(found) == 3, found
    assert "192.0.2.7" in found[0] and "2001:db8::7" in found[1] and "198.51.100.9" in found[2]
