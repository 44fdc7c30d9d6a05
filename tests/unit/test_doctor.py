"""`aiws doctor`'s checks, each from the inputs a host gives, and its host-side module."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aiws.commands import doctor
from aiws.commands.status import ComponentStatus, HostStatus, StatusReport
from aiws.errors import ExitCode
from aiws.guard.checks import HostFacts
from aiws.model.catalog import load_catalog
from aiws.model.request import request_from_cli
from aiws.modules import aiws_doctor
from tests.helpers.facts import host_facts

CATALOG = load_catalog()
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def pem(start: datetime, end: datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def severities(checks: list[doctor.Check]) -> list[tuple[str, str]]:
    return [(c.check, c.severity) for c in checks]


def test_certificates_expired_overdue_early_and_good() -> None:
    found = [
        {"path": "good.crt", "pem": pem(NOW - timedelta(days=10), NOW + timedelta(days=80))},
        # Caddy renews at a third of the lifetime left: 12 h of a 90-day one is overdue.
        {"path": "overdue.crt", "pem": pem(NOW - timedelta(days=89), NOW + timedelta(hours=12))},
        {"path": "expired.crt", "pem": pem(NOW - timedelta(days=2), NOW - timedelta(hours=1))},
        {"path": "early.crt", "pem": pem(NOW + timedelta(days=1), NOW + timedelta(days=9))},
        {"path": "junk.crt", "pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
    ]
    checks = doctor.certificate_checks("h", found, NOW)
    assert [c.severity for c in checks] == ["ok", "warning", "error", "error", "error"]
    assert "renew" in checks[1].fix and "aiws logs caddy" in checks[2].fix
    assert "clock" in checks[3].fix
    # A short-lived certificate (Caddy's own CA: 12 h) with most of its life left is fine.
    fresh = pem(NOW - timedelta(hours=1), NOW + timedelta(hours=11))
    assert (
        doctor.certificate_checks("h", [{"path": "leaf.crt", "pem": fresh}], NOW)[0].severity
        == "ok"
    )


def row(name: str, healthy: bool, detail: str, unit: str = "") -> ComponentStatus:
    return ComponentStatus(
        name=name, kind="service" if unit else "agent", installed=True, version="1",
        unit=unit, unit_state="active", address="", public=False, listening=None,
        healthy=healthy, detail=detail, seconds=0.0,
    )  # fmt: skip


def test_probes_name_the_fix_sealed_vault_a_failed_unit_missing_files() -> None:
    status = StatusReport(
        hosts=[
            HostStatus.model_validate(
                {
                    "host": "h",
                    "ledger": {},
                    "components": [
                        row("postgresql", True, "exit 0", "aiws-postgresql.service"),
                        row("vault", False, "HTTP 503 (sealed)", "aiws-vault.service"),
                        row("litellm", False, "connection refused", "aiws-litellm.service"),
                        row("codex", False, "missing: /opt/aiws/codex/1/bin/aiws-codex-acp"),
                    ],
                }
            )
        ],
        seconds=0.1,
    )
    checks = doctor.probe_checks("h", status)
    assert severities(checks) == [
        ("probe:postgresql", "ok"),
        ("probe:vault", "error"),
        ("probe:litellm", "error"),
        ("probe:codex", "error"),
    ]
    assert "unseal" in checks[1].fix
    assert "aiws logs litellm" in checks[2].fix and "aiws-litellm.service" in checks[2].fix
    assert "rerun aiws install" in checks[3].fix


def facts(**changes: Any) -> HostFacts:
    return host_facts(**{
        "mem_total_mb": 10_000, "mem_available_mb": 6_000,
        "disk": [{"path": "/opt/aiws", "device": 1, "free_mb": 40_000},
                 {"path": "/var/lib/aiws", "device": 1, "free_mb": 40_000}],
        "installed": ["base", "postgresql", "vault", "litellm"],
        "last_install": {"mode": "core", "config": {}},
        **changes,
    })  # fmt: skip


def test_headroom_disk_per_filesystem_and_memory() -> None:
    good = doctor.headroom_checks("h", facts())
    assert severities(good) == [("disk", "ok"), ("memory", "ok")]
    assert "/opt/aiws, /var/lib/aiws" in good[0].line
    low = facts(
        disk=[{"path": "/opt/aiws", "device": 1, "free_mb": 300},
              {"path": "/var/lib/aiws", "device": 2, "free_mb": 1500}],
        mem_available_mb=400,
    )  # fmt: skip
    assert severities(doctor.headroom_checks("h", low)) == [
        ("disk", "error"),
        ("disk", "warning"),
        ("memory", "error"),
    ]


def test_clock_skew_both_ways() -> None:
    assert doctor.clock_checks("h", 2.0)[0].severity == "ok"
    late = doctor.clock_checks("h", -45.0)[0]
    assert (late.severity, "behind" in late.line) == ("warning", True)
    assert doctor.clock_checks("h", 400.0)[0].severity == "error"


def test_the_guard_replays_the_last_install_against_the_host_as_it_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("aiws.model.config.default_path", lambda catalog: tmp_path / "none.yml")

    def asked() -> Any:
        return request_from_cli(CATALOG, mode=None)

    taken = {"address": "127.0.0.1", "port": 4000, "process": "nc", "pid": 7}
    hosts = {"h": facts(listeners=[taken], mem_available_mb=100)}
    checks = doctor.guard_checks(CATALOG, hosts, asked)
    # LiteLLM's port taken by someone else; the install-time memory rule is not doctor's.
    assert severities(checks) == [("guard:host.port", "error")]
    assert "4000" in checks[0].line and checks[0].fix
    assert severities(doctor.guard_checks(CATALOG, {"h": facts()}, asked)) == [("guard", "ok")]
    nothing = {"h": facts(installed=[], last_install={})}
    assert doctor.guard_checks(CATALOG, nothing, asked)[0].line == "nothing installed by aiws"


def test_the_worst_finding_is_the_exit_code() -> None:
    def report(*levels: str) -> doctor.DoctorReport:
        checks = [doctor.Check(host="h", check="c", severity=s, line="x") for s in levels]  # type: ignore[arg-type]
        return doctor.DoctorReport(checks=checks, seconds=0.0)

    assert report("ok", "ok").exit_code == ExitCode.OK
    assert report("ok", "warning").exit_code == ExitCode.WARNINGS
    assert report("warning", "error", "ok").exit_code == ExitCode.FAILED


def test_the_module_reads_certificates_never_keys(tmp_path: Path) -> None:
    store = tmp_path / "caddy" / "certificates" / "local" / "bridge.example.com"
    store.mkdir(parents=True)
    (store / "bridge.example.com.crt").write_text(pem(NOW, NOW + timedelta(hours=12)))
    (store / "bridge.example.com.key").write_text("-----BEGIN EC PRIVATE KEY-----\nx\n")
    # A .crt that holds a key too is not sent.
    (store / "bundle.crt").write_text(pem(NOW, NOW) + "-----BEGIN PRIVATE KEY-----\nx\n")
    report = aiws_doctor.collect([str(tmp_path / "caddy"), str(tmp_path / "none.pem")])
    assert [Path(c["path"]).name for c in report["certificates"]] == ["bridge.example.com.crt"]
    assert report["acp"] == [] and abs(report["time"] - datetime.now(UTC).timestamp()) < 5


def serve_agent(path: Path, answer: bool, seen: dict[str, Any]) -> threading.Thread:
    """A stand-in for an agent socket: reads the workspace line, makes it as the session
    script does, and answers initialize (or hangs up)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        reader = conn.makefile("rb")
        workspace = reader.readline().decode().strip()
        Path(workspace).mkdir(parents=True)
        seen["workspace"] = workspace
        request = json.loads(reader.readline())
        seen["method"] = request["method"]
        if answer:
            conn.sendall(b"log line that is not ACP\n")
            result = {"protocolVersion": 1, "agentInfo": {"name": "fake", "version": "9"}}
            conn.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode())
            conn.sendall(b"\n")
        conn.close()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("answer", [True, False])
def test_the_module_initializes_each_agent_and_removes_its_workspace(
    tmp_path: Path, answer: bool
) -> None:
    sockets, workspaces = tmp_path / "acp", tmp_path / "ws"
    sockets.mkdir()
    workspaces.mkdir()
    seen: dict[str, Any] = {}
    thread = serve_agent(sockets / "fake.sock", answer, seen)
    (sockets / "not-a-socket.sock").write_text("")
    report = aiws_doctor.collect(acp_dir=str(sockets), workspaces=str(workspaces), timeout=10)
    thread.join(5)
    (result,) = report["acp"]
    assert result["name"] == "fake" and seen["method"] == "initialize"
    assert Path(seen["workspace"]).parent == workspaces / "fake"  # the agent's own directory
    assert not Path(seen["workspace"]).exists()  # removed after
    if answer:
        assert result["ok"] and result["detail"] == "fake 9", result
    else:
        assert not result["ok"] and "ended before answering" in result["detail"], result
    checks = doctor.acp_checks("h", report["acp"])
    assert checks[0].severity == ("ok" if answer else "error")
