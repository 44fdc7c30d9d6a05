"""Ansible connection into an aiws sandbox: nsenter into its PID 1, with pipelining.

Like community.docker.nsenter, but each module runs in one process (pipelining: the module
is fed on stdin, no temp files), and the leader's identity is checked before every use: a
sandbox whose leader died and whose PID was reused by another process is refused, never
entered.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = r"""
name: aiws_nsenter
short_description: Run tasks inside an aiws sandbox through nsenter, with pipelining
description:
  - Enters the mount, UTS, IPC, network, PID and cgroup namespaces of the sandbox's leader.
options:
  nsenter_pid:
    description: PID of the sandbox's leader (its systemd) on this machine.
    type: int
    required: true
    vars:
      - name: ansible_nsenter_pid
  leader_start:
    description: >-
      Start time of the leader (field 22 of /proc/PID/stat); when set, a process with another
      start time at that PID is refused.
    type: str
    default: ""
    vars:
      - name: aiws_sandbox_leader_start
"""

TIMEOUT = 3600


def start_time(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return stat.rsplit(")", 1)[1].split()[19]


class Connection(ConnectionBase):  # type: ignore[misc]  # Ansible is untyped
    transport = "aiws_nsenter"
    has_pipelining = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cwd = None

    def _connect(self) -> Connection:
        pid = int(self.get_option("nsenter_pid"))
        expected = str(self.get_option("leader_start") or "")
        try:
            actual = start_time(pid)
        except (OSError, IndexError):
            raise AnsibleConnectionFailure(f"sandbox leader pid {pid} is gone") from None
        if expected and actual != expected:
            raise AnsibleConnectionFailure(
                f"pid {pid} is no longer the sandbox's leader (started {actual}, "
                f"expected {expected}): refusing to enter it"
            )
        self._pid = pid
        self._connected = True
        return self

    def _argv(self, cmd: str) -> list[str]:
        return [
            "nsenter", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup",
            f"--target={self._pid}", "--", "/bin/sh", "-c", cmd,
        ]  # fmt: skip

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        try:
            done = subprocess.run(
                self._argv(cmd), input=in_data or b"", capture_output=True, timeout=TIMEOUT,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AnsibleConnectionFailure(f"nsenter: {exc}") from None
        return done.returncode, done.stdout, done.stderr

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        self._connect()
        with Path(in_path).open("rb") as source:  # streamed: tarballs can be large
            done = subprocess.run(
                self._argv(f"cat > {shlex.quote(out_path)}"), stdin=source,
                capture_output=True, timeout=TIMEOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise AnsibleConnectionFailure(f"cannot write {out_path}: {done.stderr[-200:]!r}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        rc, out, err = self.exec_command(f"cat {shlex.quote(in_path)}")
        if rc != 0:
            raise AnsibleConnectionFailure(f"cannot read {in_path}: {err.decode()[-200:]}")
        Path(out_path).write_bytes(out)

    def close(self) -> None:
        self._connected = False
