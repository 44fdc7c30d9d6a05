"""The secrets model: aiws_secret on real files, the ledger's secret records, `aiws secrets`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiws.commands import secrets as secrets_logic
from aiws.commands.summary import Credentials
from aiws.errors import UsageError
from aiws.modules import aiws_ledger, aiws_secret

ME = {"owner": "root", "group": "root"}


def secret(tmp_path: Path, **params: object) -> dict[str, object]:
    return aiws_secret.run({"name": "postgresql-aiws_vault", "dir": str(tmp_path), **params})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.fail("secret files are chowned: run the unit tests as root (make test-unit)")


def test_generated_once_0600_never_returned_then_reused(tmp_path: Path) -> None:
    first = secret(tmp_path)
    path = tmp_path / "postgresql-aiws_vault"
    assert first["changed"] and first["created"] and first["path"] == str(path)
    value = path.read_text()
    assert len(value) >= 43 and value not in json.dumps(first)
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left over
    again = secret(tmp_path)
    assert not again["changed"] and not again["created"]
    assert path.read_text() == value


def test_each_purpose_gets_its_own_value(tmp_path: Path) -> None:
    names = ["postgresql-aiws_vault", "postgresql-aiws_litellm", "bridge-token"]
    values = set()
    for name in names:
        assert secret(tmp_path, name=name)["created"]
        values.add((tmp_path / name).read_text())
    assert len(values) == len(names)


def test_service_group_mode_and_drift_repair(tmp_path: Path) -> None:
    path = tmp_path / "postgresql-aiws_vault"
    secret(tmp_path, mode="0640", group="daemon")
    assert mode(path) == 0o640 and path.stat().st_gid != 0
    value = path.read_text()
    path.chmod(0o644)
    repaired = secret(tmp_path, mode="0640", group="daemon")
    assert repaired["changed"] and not repaired["created"]
    assert mode(path) == 0o640 and path.read_text() == value


def test_check_mode_creates_nothing(tmp_path: Path) -> None:
    result = aiws_secret.run({"name": "x", "dir": str(tmp_path)}, check_mode=True)
    assert result["changed"] and not (tmp_path / "x").exists()


def test_read_reveals_only_when_asked(tmp_path: Path) -> None:
    secret(tmp_path)
    quiet = secret(tmp_path, state="read")
    assert quiet["exists"] and "value" not in quiet
    shown = secret(tmp_path, state="read", reveal=True)
    assert shown["value"] == (tmp_path / "postgresql-aiws_vault").read_text()
    missing = secret(tmp_path, name="nope", state="read", reveal=True)
    assert missing["failed"] and "does not exist" in str(missing["msg"])


def test_rejects_bad_names_and_modes(tmp_path: Path) -> None:
    assert secret(tmp_path, name="../etc/passwd")["failed"]
    assert secret(tmp_path, mode="0644")["failed"]
    assert not list(tmp_path.iterdir())


def test_absent_removes(tmp_path: Path) -> None:
    secret(tmp_path)
    assert secret(tmp_path, state="absent")["changed"]
    assert not secret(tmp_path, state="absent")["changed"]


def test_ledger_records_a_secret_once_with_its_run(tmp_path: Path) -> None:
    ledger = str(tmp_path / "state.json")
    item = {"name": "vault-root-token", "path": "/var/lib/aiws/secrets/vault-root-token"}
    changed, data = aiws_ledger.update(ledger, secret={**item, "run": "run-1"})
    assert changed and data is not None
    assert data["secrets"]["vault-root-token"]["created_run"] == "run-1"
    before = Path(ledger).read_bytes()
    changed, _ = aiws_ledger.update(ledger, secret={**item, "run": "run-2"})
    assert not changed and Path(ledger).read_bytes() == before


def test_ledger_merge_keeps_packages_an_earlier_run_installed(tmp_path: Path) -> None:
    ledger = str(tmp_path / "state.json")
    record = {"version": "15", "packages": ["postgresql-15", "libpq5"]}
    aiws_ledger.update(ledger, "postgresql", record)
    changed, data = aiws_ledger.update(
        ledger, "postgresql", {"version": "15", "packages": []}, merge=["packages"]
    )
    assert not changed and data is not None
    assert data["components"]["postgresql"]["packages"] == ["libpq5", "postgresql-15"]
    assert aiws_ledger.run({"path": ledger, "merge": ["bogus"]})["failed"]


def test_status_calls_vault_codes_by_their_meaning_and_knows_kept_data() -> None:
    from aiws.modules import aiws_status

    meanings = {"503": "sealed", "501": "not initialised"}
    assert aiws_status.meaning(meanings, 503) == "sealed"
    assert aiws_status.meaning({}, 503) == ""
    spec = {"name": "vault", "unit": "aiws-vault.service", "listen": None, "health": None}
    kept = aiws_status.probe_one(spec, {"version": "2.7.2", "units": []}, 1.0)
    assert kept["installed"] is False and "data kept" in kept["detail"]


def test_the_summary_has_no_slot_for_a_secret_value() -> None:
    """The install summary names where credentials are and how to read them, nothing more:
    no field could carry a value into the terminal, the JSON document or a CI log."""
    assert set(Credentials.model_fields) == {"location", "how_to_read"}


def store(tmp_path: Path, value: str, name: str = "openai-api-key") -> dict[str, Any]:
    return aiws_secret.run(
        {"state": "set", "name": name, "value": value, "dir": str(tmp_path / "secrets"),
         "ledger": str(tmp_path / "state.json")}
    )  # fmt: skip


def test_set_stores_the_operators_value_once_0600_and_records_it(tmp_path: Path) -> None:
    first = store(tmp_path, "sk-abc")
    assert first["changed"] and "sk-abc" not in json.dumps(first)
    path = tmp_path / "secrets" / "openai-api-key"
    assert path.read_text() == "sk-abc" and oct(path.stat().st_mode & 0o777) == "0o600"
    record = json.loads((tmp_path / "state.json").read_text())["secrets"]["openai-api-key"]
    assert record["component"] == "operator" and "sk-abc" not in json.dumps(record)
    assert store(tmp_path, "sk-abc")["changed"] is False
    assert store(tmp_path, "sk-new")["changed"] is True and path.read_text() == "sk-new"


@pytest.mark.parametrize("value", ["", "  \n", "a\0b", "x" * 70000])
def test_set_refuses_an_unusable_value(tmp_path: Path, value: str) -> None:
    result = store(tmp_path, value)
    assert result["failed"] and "must be 1 to" in result["msg"]
    assert not (tmp_path / "secrets").exists()


def test_set_refuses_a_name_that_is_a_path(tmp_path: Path) -> None:
    assert store(tmp_path, "v", name="../etc/passwd")["failed"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"", "no usable value"), (b"\xff\xfe", "not UTF-8"), (b"x" * 70000, "more than")],
)
def test_read_value_refuses_with_one_line(data: bytes, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        secrets_logic.read_value(data, "stdin")


def test_read_value_drops_one_trailing_newline() -> None:
    assert secrets_logic.read_value(b"sk-1\n", "stdin") == "sk-1"
    assert secrets_logic.read_value(b"sk-1\r\n", "stdin") == "sk-1"


def set_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiws", "secrets", "set", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_set_refuses_a_secret_aiws_generates_before_writing_anything() -> None:
    done = set_cli("vault-unseal-key", stdin="sk-operator-value")
    assert done.returncode == 2
    assert "generated by aiws for vault" in done.stderr and "sk-operator-value" not in done.stderr


def test_set_refuses_an_empty_stdin() -> None:
    done = set_cli("openai-api-key", stdin="\n")
    assert done.returncode == 2 and "stdin holds no usable value" in done.stderr


def test_set_never_takes_the_value_from_the_command_line() -> None:
    done = set_cli("openai-api-key", "sk-on-argv", stdin="")
    assert done.returncode == 2  # no such argument: the value is read from stdin or a file
