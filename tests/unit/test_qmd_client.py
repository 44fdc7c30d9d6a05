"""OpenClaw's stdio MCP server for QMD (roles/openclaw/files/aiws-qmd-mcp), run as the role
installs it, with the host's Python, against a real unix-socket server in tmp_path standing
where systemd's socket would: what OpenClaw writes reaches QMD, what QMD answers reaches
OpenClaw, OpenClaw's EOF is passed on and QMD's close ends it; a socket it cannot reach is
one line and exit 1."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

from aiws.resources import ansible_root

CLIENT = ansible_root() / "roles" / "openclaw" / "files" / "aiws-qmd-mcp"


def line_server(path: Path, seen: list[bytes]) -> socket.socket:
    """Answers each line with {"echo": line} and closes when its client half-closes."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                seen.append(line)
                stream.write(json.dumps({"echo": json.loads(line)}).encode() + b"\n")
                stream.flush()
        seen.append(b"EOF")

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_lines_go_both_ways_and_eof_ends_it(tmp_path: Path) -> None:
    seen: list[bytes] = []
    sock = tmp_path / "mcp.sock"
    with line_server(sock, seen):
        requests = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in (1, 2)]
        done = subprocess.run(
            [sys.executable, str(CLIENT), str(sock)],
            input="".join(json.dumps(r) + "\n" for r in requests).encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers == [{"echo": r} for r in requests]
    assert seen[-1] == b"EOF" and len(seen) == 3


def test_a_socket_it_cannot_reach_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(CLIENT), str(tmp_path / "absent.sock")],
        input=b"{}\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode() == (
        f"aiws: cannot reach QMD at {tmp_path / 'absent.sock'}: ENOENT No such file or directory\n"
    )


def test_it_runs_on_the_hosts_python_alone() -> None:
    """The role gives it to OpenClaw as `/usr/bin/python3 aiws-qmd-mcp`: standard library only,
    executable, and valid on the oldest Python a target has (3.9's grammar)."""
    text = CLIENT.read_text()
    assert text.startswith("#!/usr/bin/python3\n") and CLIENT.stat().st_mode & 0o111
    imported = {
        line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))
    }
    assert imported <= {"errno", "os", "selectors", "socket", "sys"}
    ast.parse(text, str(CLIENT), feature_version=(3, 9))
