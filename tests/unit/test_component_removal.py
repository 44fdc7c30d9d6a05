"""`aiws_component` with state absent and purged: one call removes a component as its ledger
record says. Run on a tree under tmp_path only (every path the record names is asserted to
be under it first); no units or accounts (those need the host's systemd: the all-in-one
tests uninstall and purge real components)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiws.modules import aiws_component


def roots(root: Path) -> list[str]:
    """aiws's own paths in the test's tree (the catalog's runtime, config, state roots)."""
    return [str(root / "opt"), str(root / "etc" / "c"), str(root / "var"), str(root / "secrets")]


def _tree(root: Path) -> tuple[Path, dict[str, Any]]:
    """A component's runtime tree, data, config and secret under `root`, and its ledger."""
    for rel in ("opt/c/1.0/bin/c", "etc/c/c.conf", "var/lib/c/data", "secrets/c-key"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    record = {
        "version": "1.0", "paths": [str(root / "etc/c"), str(root / "var/lib/c")],
        "runtime": [str(root / "opt/c")], "units": [], "packages": [], "users": [],
        "groups": [], "secrets": ["c-key"], "files": [str(root / "opt/c/1.0/bin/c")],
        "installed_at": "2026-12-07T00:00:00Z", "updated_at": "2026-12-07T00:00:00Z",
    }  # fmt: skip
    ledger = root / "state.json"
    ledger.write_text(json.dumps({
        "schema": 1, "aiws_version": "0.1.0", "components": {"c": record, "other": record},
        "secrets": {"c-key": {"component": "c", "path": str(root / "secrets/c-key")}},
        "runs": [],
    }))  # fmt: skip
    return ledger, record


def _remove(root: Path, ledger: Path, state: str, check: bool = False) -> dict[str, Any]:
    named = json.loads(ledger.read_text())["components"].get("c", {})
    for path in named.get("runtime", []) + named.get("paths", []):
        assert Path(path).is_relative_to(root), path  # never anything outside the tree
    params = {"name": "c", "state": state, "ledger": str(ledger), "roots": roots(root),
              "secrets_dir": str(root / "secrets")}  # fmt: skip
    return aiws_component.run(params, check)


def test_uninstall_removes_the_runtime_and_keeps_data_and_a_record(tmp_path: Path) -> None:
    ledger, _ = _tree(tmp_path)
    dry = _remove(tmp_path, ledger, "absent", check=True)
    assert dry["changed"] and (tmp_path / "opt/c").exists()
    assert {p["status"] for p in dry["aiws_paths"]} == {"would remove"}
    done = _remove(tmp_path, ledger, "absent")
    assert done["changed"] and not (tmp_path / "opt/c").exists()
    assert (tmp_path / "etc/c/c.conf").exists() and (tmp_path / "secrets/c-key").exists()
    kept = json.loads(ledger.read_text())["components"]["c"]
    assert (kept["units"], kept["runtime"], kept["files"]) == ([], [], [])
    assert kept["paths"] == [str(tmp_path / "etc/c"), str(tmp_path / "var/lib/c")]
    assert _remove(tmp_path, ledger, "absent")["changed"] is False  # again: nothing to do


def test_purge_removes_data_config_secrets_and_forgets_only_this_component(
    tmp_path: Path,
) -> None:
    ledger, _ = _tree(tmp_path)
    done = _remove(tmp_path, ledger, "purged")
    assert done["changed"] and "forgotten" in done["actions"]
    for rel in ("opt/c", "etc/c", "var/lib/c", "secrets/c-key"):
        assert not (tmp_path / rel).exists(), rel
    after = json.loads(ledger.read_text())
    assert list(after["components"]) == ["other"] and after["secrets"] == {}
    assert _remove(tmp_path, ledger, "purged")["changed"] is False


# Spelled inside the test's tree: this test runs the real removal code, so a broken check
# must never be able to reach a path of this machine (those go through the predicate only:
# tests/unit/test_remove_module.py).
@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda d: f"{d}/elsewhere", id="beside the roots"),
        pytest.param(lambda d: f"{d}/opt/../elsewhere", id="dot-dot"),
        pytest.param(lambda d: f"{d}//opt", id="double-slash"),
        pytest.param(lambda d: f"{str(d)[1:]}/opt", id="relative"),
    ],
)
def test_a_damaged_record_removes_nothing(tmp_path: Path, spell: Callable[[Path], str]) -> None:
    ledger, record = _tree(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    bad = spell(tmp_path)
    data = json.loads(ledger.read_text())
    data["components"]["c"]["paths"].append(bad)
    ledger.write_text(json.dumps(data))
    params = {"name": "c", "state": "purged", "ledger": str(ledger), "roots": roots(tmp_path),
              "secrets_dir": str(tmp_path / "secrets")}  # fmt: skip
    refused = aiws_component.run(params, False)
    assert refused.get("failed") and "refusing to remove" in refused["msg"], refused
    assert (tmp_path / "opt/c/1.0/bin/c").exists() and (tmp_path / "etc/c/c.conf").exists()
    assert (tmp_path / "elsewhere").exists()
    assert record["runtime"][0].startswith(str(tmp_path))
