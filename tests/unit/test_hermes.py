"""What an agent adds to the skeleton's status and records: an agent's status (no unit, no
probe: its files), and records that gained the `files` list. (Hermes's rendered files:
tests/components/hermes.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from aiws.module_utils.aiws_common import merge_record
from aiws.modules import aiws_status

CATALOG = resolved_catalog(load_catalog(), "debian-12")
HERMES = CATALOG["components"]["hermes"]


def agent_spec() -> dict[str, Any]:
    return {"name": "hermes", "kind": "agent", "unit": "", "listen": None, "health": None}


def test_an_agent_is_healthy_when_its_directories_and_files_are_there(tmp_path: Path) -> None:
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    state.mkdir()
    launcher = tmp_path / "launcher"
    launcher.write_text("#!/bin/sh\n")
    record = {
        "version": "0.19.0",
        "paths": [str(config), str(state)],
        "runtime": [str(tmp_path)],
        "units": [],
        "files": [str(config / "config.yaml"), str(launcher)],
    }
    (config / "config.yaml").write_text("model: {}\n")
    result = aiws_status.probe_one(agent_spec(), record, 1.0)
    assert (result["installed"], result["healthy"], result["detail"]) == (
        True,
        True,
        "files present",
    )
    assert result["unit"] == "" and result["version"] == "0.19.0"

    launcher.unlink()
    result = aiws_status.probe_one(agent_spec(), record, 1.0)
    assert result["healthy"] is False and result["detail"] == f"missing: {launcher}"


def test_an_uninstalled_agent_with_its_data_kept_is_not_installed() -> None:
    kept = {"version": "0.19.0", "paths": ["/x"], "runtime": [], "units": [], "files": []}
    result = aiws_status.probe_one(agent_spec(), kept, 1.0)
    assert result["installed"] is False
    assert result["detail"] == "uninstalled; data kept (uninstall --purge removes it)"


def test_a_record_without_the_files_list_is_not_changed_by_an_empty_one() -> None:
    old = {"version": "15", "paths": ["/etc/aiws/postgresql"], "units": ["aiws-postgresql.service"]}
    components: dict[str, Any] = {"postgresql": dict(old)}
    assert merge_record(components, "postgresql", {**old, "files": []}) is False
    assert merge_record(components, "postgresql", {**old, "files": ["/etc/x"]}) is True
    assert components["postgresql"]["files"] == ["/etc/x"]
