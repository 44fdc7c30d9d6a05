"""aiws's own Ansible modules, run in-process on real files, sockets, locks and servers."""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiws.module_utils.aiws_common import HISTORY_LIMIT
from aiws.modules import aiws_host_facts, aiws_ledger, aiws_remove, aiws_status

RECORD = {"version": "15", "paths": ["/b", "/a"], "units": ["aiws-postgresql.service"]}


def test_ledger_records_once_then_reports_no_change(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    changed, ledger = aiws_ledger.update(path, "postgresql", RECORD, aiws_version="0.1.0")
    assert changed and ledger is not None
    assert ledger["components"]["postgresql"]["paths"] == ["/a", "/b"]
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    before = Path(path).read_bytes()
    changed, _ = aiws_ledger.update(path, "postgresql", dict(RECORD), aiws_version="0.1.0")
    assert not changed
    assert Path(path).read_bytes() == before  # untouched, not rewritten


def test_host_facts_report_each_recorded_version_kept_data_included(tmp_path: Path) -> None:
    """What the guard's version rules compare the bundle with: every record's version, an
    uninstalled component's too (its data was written by that version)."""
    path = str(tmp_path / "state.json")
    aiws_ledger.update(path, "postgresql", RECORD)
    aiws_ledger.update(path, "vault", {"version": "2.7.2", "units": []})  # data kept
    assert aiws_host_facts.installed_versions(path) == {"postgresql": "15", "vault": "2.7.2"}
    assert aiws_host_facts.installed_versions(str(tmp_path / "none.json")) == {}


def test_ledger_keeps_installed_at_across_updates(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    _, first = aiws_ledger.update(path, "vault", {"version": "2.7.2"})
    _, second = aiws_ledger.update(path, "vault", {"version": "2.7.3"})
    assert first and second
    assert second["components"]["vault"]["version"] == "2.7.3"
    assert (
        second["components"]["vault"]["installed_at"]
        == first["components"]["vault"]["installed_at"]
    )


def test_ledger_check_mode_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    changed, _ = aiws_ledger.update(str(path), "vault", {"version": "1"}, check=True)
    assert changed and not path.exists()


def test_ledger_history_absent_and_removal(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    aiws_ledger.update(path, "vault", {"version": "1"})
    for index in range(HISTORY_LIMIT + 5):
        aiws_ledger.update(path, run={"id": str(index)})
    data = json.loads(Path(path).read_text())
    assert len(data["runs"]) == HISTORY_LIMIT and data["runs"][-1]["id"] == "204"
    assert aiws_ledger.update(path, "vault", state="absent")[0]
    assert aiws_ledger.update(path, "vault", state="absent")[0] is False
    assert aiws_ledger.update(path, remove_file=True)[0] and not Path(path).exists()
    assert aiws_ledger.update(path, remove_file=True)[0] is False


def test_ledger_run_refuses_a_component_without_record(tmp_path: Path) -> None:
    result = aiws_ledger.run({"path": str(tmp_path / "s.json"), "component": "vault"})
    assert result["failed"] and "record is required" in result["msg"]


def test_remove_reports_each_path_and_honours_check_mode(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    paths = [str(tree), str(tmp_path / "missing")]
    plan = aiws_remove.run({"roots": [str(tmp_path)], "paths": paths}, check_mode=True)
    assert [p["status"] for p in plan["aiws_paths"]] == ["would remove", "absent"]
    assert tree.exists()
    done = aiws_remove.run({"roots": [str(tmp_path)], "paths": paths})
    assert [p["status"] for p in done["aiws_paths"]] == ["removed", "absent"] and done["changed"]
    again = aiws_remove.run({"roots": [str(tmp_path)], "paths": paths})
    assert [p["status"] for p in again["aiws_paths"]] == ["absent", "absent"]
    assert not again["changed"]


def test_host_facts_sees_our_own_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        facts = aiws_host_facts.collect(["/opt/aiws/x"], "/nonexistent/state.json")
    mine = [s for s in facts["listeners"] if s["port"] == port]
    assert mine == [
        {
            "address": "127.0.0.1",
            "port": port,
            "pid": os.getpid(),
            "process": Path("/proc/self/comm").read_text().strip(),
            "unit": mine[0]["unit"],
        }
    ]
    assert facts["arch"] in {"amd64", "arm64"} and facts["os_id"] == "debian"
    assert facts["disk"][0]["path"] == "/opt/aiws/x" and facts["disk"][0]["free_mb"] > 0
    assert facts["installed"] == []


def test_host_facts_names_the_package_lock_holder(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    lock.touch()
    assert aiws_host_facts.package_lock([str(lock)]) == {"held": False, "holder": ""}
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time\nf=open(sys.argv[1],'w')\n"
            "fcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        state = aiws_host_facts.package_lock([str(lock)])
        assert state["held"] and f"(pid {holder.pid})" in state["holder"]
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert fcntl  # the holder uses POSIX locks, as dpkg does


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _spec(name: str, port: int, path: str = "/health") -> dict[str, object]:
    return {
        "name": name,
        "kind": "service",
        "unit": "",
        "listen": {"host": "127.0.0.1", "port": port},
        "health": {"type": "http", "path": path, "expect": [200]},
    }


def test_status_probes_health_and_versions(tmp_path: Path, health_server: int) -> None:
    ledger = tmp_path / "state.json"
    aiws_ledger.update(str(ledger), "good", {"version": "1.0"})
    aiws_ledger.update(str(ledger), "sick", {"version": "2.0"})
    aiws_ledger.update(str(ledger), "down", {"version": "3.0"})
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    specs = [
        _spec("good", health_server),
        _spec("sick", health_server, "/other"),
        _spec("down", closed_port),
        _spec("absent", health_server),
    ]
    report = aiws_status.probe_all(str(ledger), specs, timeout=2)
    rows = {r["name"]: r for r in report["components"]}
    assert (
        rows["good"]["healthy"] and rows["good"]["version"] == "1.0" and rows["good"]["listening"]
    )
    assert rows["sick"]["healthy"] is False and "HTTP 503" in rows["sick"]["detail"]
    assert rows["down"]["healthy"] is False and rows["down"]["listening"] is False
    assert rows["absent"]["installed"] is False and rows["absent"]["healthy"] is None


def test_status_command_probe_and_runtime_files(tmp_path: Path) -> None:
    ledger = tmp_path / "state.json"
    aiws_ledger.update(str(ledger), "cmd", {"version": "1"})
    aiws_ledger.update(
        str(ledger),
        "files",
        {"version": "1", "runtime": [str(tmp_path)], "files": [str(tmp_path / "gone")]},
    )
    specs = [
        {
            "name": "cmd",
            "kind": "service",
            "unit": "",
            "listen": None,
            "health": {"type": "command", "command": ["false"]},
        },
        {"name": "files", "kind": "runtime", "unit": "", "listen": None, "health": None},
    ]
    rows = {r["name"]: r for r in aiws_status.probe_all(str(ledger), specs)["components"]}
    assert rows["cmd"]["healthy"] is False
    assert rows["files"]["healthy"] is False and rows["files"]["detail"].startswith("missing:")
