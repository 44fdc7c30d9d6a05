"""The ledger on disk: reading, refusing a corrupt one, atomic writes and record merging."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from aiws.module_utils import aiws_common
from aiws.module_utils.aiws_common import (
    RECORD_LISTS,
    Failure,
    LedgerError,
    merge_record,
    read_ledger,
    record_secret,
    set_record,
    write_atomic,
)
from aiws.modules import aiws_ledger

CORRUPT = {
    "invalid JSON": b'{"schema": 1, "components": {',
    "not UTF-8": b'{"schema": 1, "aiws_version": "\xff\xfe"}',
    "a JSON list": b'[{"schema": 1}]',
    "a JSON string": b'"ledger"',
    "components not an object": b'{"schema": 1, "components": ["vault"]}',
    "secrets not an object": b'{"schema": 1, "secrets": []}',
    "runs not a list": b'{"schema": 1, "runs": {}}',
    "a record not an object": b'{"schema": 1, "components": {"vault": ["/a"]}}',
    "a record list field not a list": (
        b'{"schema": 1, "components": {"vault": {"version": "1", "paths": "/etc/aiws/vault"}}}'
    ),
}


def test_a_missing_ledger_reads_as_none(tmp_path: Path) -> None:
    assert read_ledger(str(tmp_path / "state.json")) is None


def test_a_good_ledger_reads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = {
        "schema": 1,
        "aiws_version": "0.1.0",
        "components": {"vault": {"version": "2.7.2", "paths": ["/etc/aiws/vault"]}},
        "secrets": {},
        "runs": [{"id": "r1"}],
    }
    path.write_text(json.dumps(data))
    assert read_ledger(str(path)) == data


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_ledger_is_one_line_naming_its_path(tmp_path: Path, case: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(CORRUPT[case])
    with pytest.raises(LedgerError) as caught:
        read_ledger(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    assert isinstance(caught.value, Failure)  # every module that catches Failure reports it


def test_an_unreadable_ledger_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # reading a directory fails with an OSError other than "not found"
    with pytest.raises(LedgerError, match="cannot read the ledger"):
        read_ledger(str(path))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"component": "vault", "record": {"version": "1"}}, id="set-record"),
        pytest.param({"component": "vault", "state": "absent"}, id="forget-component"),
        pytest.param({"run": {"id": "r2"}}, id="append-run"),
        pytest.param({"secret": {"name": "s", "path": "/var/lib/aiws/secrets/s"}}, id="secret"),
        pytest.param({"state": "query", "component": "vault"}, id="query"),
    ],
)
@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_the_ledger_module_fails_and_leaves_a_corrupt_ledger_byte_identical(
    tmp_path: Path, case: str, params: dict[str, Any]
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(CORRUPT[case])
    path.chmod(0o644)
    result = aiws_ledger.run({"path": str(path), **params})
    assert result["failed"] and str(path) in result["msg"]
    assert path.read_bytes() == CORRUPT[case]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not replaced by a 0600 rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_set_record_refuses_a_corrupt_ledger_without_writing(tmp_path: Path, case: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(CORRUPT[case])
    with pytest.raises(LedgerError):
        set_record(str(path), "vault", {"version": "1"}, create=True)
    assert path.read_bytes() == CORRUPT[case]


def test_write_atomic_leaves_mode_0600_and_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    write_atomic(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_write_atomic_honours_the_mode_and_makes_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "file"
    write_atomic(str(path), b"x", mode=0o640)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_bytes() == b"x"
    assert [p.name for p in path.parent.iterdir()] == ["file"]


def test_a_failed_write_atomic_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(str(path), "not bytes")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_merge_record_keeps_merged_fields_across_calls(tmp_path: Path) -> None:
    components: dict[str, Any] = {}
    merge = ("packages", "users")
    first = {"version": "15", "packages": ["postgresql-15"], "units": ["a.service"]}
    assert merge_record(components, "postgresql", first, merge) is True
    second = {"version": "15", "packages": ["libpq5"], "users": ["postgres"]}
    assert merge_record(components, "postgresql", second, merge) is True
    record = components["postgresql"]
    assert record["packages"] == ["libpq5", "postgresql-15"]
    assert record["users"] == ["postgres"]
    assert record["units"] == []  # not merged: replaced by what the second record says
    assert set(RECORD_LISTS) <= set(record)


def test_merge_record_reports_changed_only_on_real_change() -> None:
    components: dict[str, Any] = {}
    record = {"version": "15", "packages": ["b", "a"], "paths": ["/x"]}
    assert merge_record(components, "pg", record, ("packages",)) is True
    stored = json.loads(json.dumps(components))
    # same content, other order, duplicates, an already merged subset: no change
    assert merge_record(components, "pg", {**record, "packages": ["a", "b", "a"]}) is False
    assert merge_record(components, "pg", {**record, "packages": ["a"]}, ("packages",)) is False
    assert merge_record(components, "pg", {**record, "packages": []}, ("packages",)) is False
    assert components == stored  # not even the updated_at stamp moved
    # a real change
    assert merge_record(components, "pg", {**record, "version": "16"}, ("packages",)) is True
    assert components["pg"]["version"] == "16"
    assert components["pg"]["installed_at"] == stored["pg"]["installed_at"]
    # without merge, a list is replaced
    assert merge_record(components, "pg", {**record, "version": "16", "packages": ["c"]}) is True
    assert components["pg"]["packages"] == ["c"]


def test_set_record_create_starts_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "aiws" / "state.json"
    assert set_record(str(path), "base", {"version": "0.1.0"}, aiws_version="0.1.0", create=True)
    data = json.loads(path.read_text())
    assert data["schema"] == aiws_common.LEDGER_SCHEMA
    assert data["aiws_version"] == "0.1.0"
    assert data["components"]["base"]["version"] == "0.1.0"
    assert data["secrets"] == {} and data["runs"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert not set_record(str(path), "base", {"version": "0.1.0"}, aiws_version="0.1.0")
    assert path.read_bytes() == before


def test_set_record_without_create_needs_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with pytest.raises(Failure, match="does not exist"):
        set_record(str(path), "vault", {"version": "1"})
    assert not path.exists()


def test_set_record_in_check_mode_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert set_record(str(path), "vault", {"version": "1"}, check=True, create=True)
    assert not path.exists()


def test_query_returns_the_record_with_every_list_field(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    recorded = {"version": "2.7.2", "paths": ["/etc/aiws/vault"], "units": ["aiws-vault.service"]}
    path.write_text(json.dumps({"schema": 1, "components": {"vault": recorded}}))
    before = path.read_bytes()
    result = aiws_ledger.run({"path": str(path), "state": "query", "component": "vault"})
    assert result["changed"] is False and result["exists"] is True
    assert result["components"] == ["vault"]
    record = result["record"]
    assert set(RECORD_LISTS) <= set(record)
    assert record["paths"] == ["/etc/aiws/vault"] and record["units"] == ["aiws-vault.service"]
    assert record["version"] == "2.7.2"
    assert all(record[key] == [] for key in RECORD_LISTS if key not in recorded)
    assert path.read_bytes() == before


def test_query_of_a_missing_ledger_is_empty_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    result = aiws_ledger.run({"path": str(path), "state": "query", "component": "vault"})
    assert result["exists"] is False and result["components"] == []
    assert all(result["record"][key] == [] for key in RECORD_LISTS)
    assert not path.exists()


def test_record_secret_keeps_the_first_run_and_time() -> None:
    ledger: dict[str, Any] = {}
    assert record_secret(ledger, "db", "/s/db", "postgresql", "run-1") is True
    ledger["secrets"]["db"]["created_at"] = "2000-01-01T00:00:00+00:00"
    assert record_secret(ledger, "db", "/s/db", "postgresql", "run-2") is False
    assert record_secret(ledger, "db", "/s/db", "", "") is False
    assert record_secret(ledger, "db", "/s2/db", "postgresql", "run-3") is True
    assert ledger["secrets"]["db"] == {
        "path": "/s2/db",
        "component": "postgresql",
        "created_run": "run-1",
        "created_at": "2000-01-01T00:00:00+00:00",
    }


def test_the_ledger_module_records_a_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    secret = {"name": "db", "path": "/s/db", "component": "postgresql", "run": "run-1"}
    assert aiws_ledger.run({"path": str(path), "secret": secret})["changed"]
    first = json.loads(path.read_text())["secrets"]["db"]
    assert first["created_run"] == "run-1"
    later = aiws_ledger.run({"path": str(path), "secret": {**secret, "run": "run-2"}})
    assert later["changed"] is False
    assert json.loads(path.read_text())["secrets"]["db"] == first


def test_a_ledger_whose_secret_entry_is_not_an_object_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    raw = b'{"schema": 1, "components": {}, "secrets": {"db": "/s/db"}, "runs": []}'
    path.write_bytes(raw)
    try:
        result = aiws_ledger.run({"path": str(path), "component": "vault", "state": "absent"})
    finally:
        assert path.read_bytes() == raw
    assert result["failed"] and str(path) in result["msg"]


def test_forgetting_a_component_without_a_ledger_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "aiws" / "state.json"
    result = aiws_ledger.run({"path": str(path), "component": "vault", "state": "absent"})
    assert not path.parent.exists()
    assert result["changed"] is False
