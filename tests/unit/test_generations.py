"""The parts of an upgrade's way back that need no service: a generation saved whole and put
back byte for byte (a file the new release added is removed again), only trees aiws unpacked
are pruned, the ledger's upgrades history, and check mode of `aiws rollback`, all on a
tmp_path tree. (The whole path, with systemd, PostgreSQL and Vault: test_upgrade.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiws.ansible.ledger import Ledger, parse_ledger
from aiws.module_utils import aiws_generations as generations
from aiws.module_utils.aiws_common import empty_ledger, write_json
from aiws.modules import aiws_rollback

NOW = "2026-12-07T00:00:00+00:00"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Any]:
    """A component `demo` at 1.0 recorded in a ledger under tmp_path, its config file and
    runtime trees there too."""
    assert str(tmp_path).startswith(("/tmp/", "/var/tmp/")) or "pytest" in str(tmp_path)
    ledger = tmp_path / "state" / "state.json"
    ledger.parent.mkdir()
    data = empty_ledger()
    root = tmp_path / "opt" / "demo"
    data["components"]["demo"] = {"version": "1.0", "runtime": [str(root)]}
    write_json(str(ledger), data)
    config = tmp_path / "etc" / "demo.conf"
    config.parent.mkdir()
    config.write_text("release = 1.0\n")
    config.chmod(0o640)
    return {"ledger": str(ledger), "config": config, "root": root, "tmp": tmp_path}


def params(site: dict[str, Any], version: str, added: Path | None = None) -> dict[str, Any]:
    files = [{"dest": str(site["config"])}] + ([{"dest": str(added)}] if added else [])
    return {
        "name": "demo",
        "version": version,
        "ledger": site["ledger"],
        "run": "run-" + version,
        "prepare_files": [],
        "files": files,
        "unit": None,
        "extra_units": [],
        "unit_dir": str(site["tmp"] / "units"),
        "databases": [],
        "postgres": None,
        "ready": None,
        "record": {"version": version, "runtime": [str(site["root"])]},
    }


def unpacked(root: Path, version: str) -> Path:
    tree = root / version
    tree.mkdir(parents=True)
    (tree / generations.UNPACK_MARKER).write_text("sha\n")
    return tree


def ledger_of(site: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(site["ledger"]).read_text())
    return data


def test_no_generation_without_a_version_change(site: dict[str, Any]) -> None:
    assert generations.begin(params(site, "1.0"), check=False) is None
    assert generations.begin(params(site, "2.0"), check=True) is None
    assert not Path(generations.generations_root(site["ledger"])).exists()


def test_a_rollback_puts_back_every_file_and_removes_what_the_new_release_added(
    site: dict[str, Any],
) -> None:
    added = site["tmp"] / "etc" / "new-in-2.conf"
    upgrade = generations.begin(params(site, "2.0", added), check=False)
    assert upgrade is not None and upgrade.old == "1.0"
    saved = Path(upgrade.directory)
    assert saved.stat().st_mode & 0o777 == 0o700
    assert oct((saved / generations.GENERATION_FILE).stat().st_mode & 0o777) == "0o600"
    site["config"].write_text("release = 2.0\n")
    added.write_text("only 2.0 has me\n")
    unpacked(site["root"], "1.0")
    unpacked(site["root"], "2.0")
    failure = generations.roll_back(upgrade, "it did not start")
    assert "demo 2.0 did not become healthy (it did not start); rolled back to 1.0" in str(failure)
    assert site["config"].read_text() == "release = 1.0\n"
    assert site["config"].stat().st_mode & 0o777 == 0o640
    assert not added.exists()
    assert sorted(p.name for p in site["root"].iterdir()) == ["1.0"]  # the failed tree is gone
    assert not saved.exists()  # what runs again is no way back
    (event,) = ledger_of(site)["upgrades"]
    assert (event["from"], event["to"], event["outcome"]) == ("1.0", "2.0", "rolled back")
    assert event["reason"] == "it did not start" and event["started_at"] and event["finished_at"]
    assert ledger_of(site)["components"]["demo"]["version"] == "1.0"


def test_a_success_keeps_one_previous_generation_and_prunes_only_unpacked_trees(
    site: dict[str, Any],
) -> None:
    for version in ("0.9", "1.0", "2.0"):
        unpacked(site["root"], version)
    foreign = site["root"] / "0.8"  # no unpack marker: not aiws's to remove
    foreign.mkdir()
    older = Path(generations.generation_dir(site["ledger"], "demo", "0.9"))
    older.mkdir(parents=True)
    upgrade = generations.begin(params(site, "2.0"), check=False)
    assert upgrade is not None
    generations.succeeded(upgrade)
    assert sorted(p.name for p in site["root"].iterdir()) == ["0.8", "1.0", "2.0"]
    assert generations.saved_versions(site["ledger"], "demo") == ["1.0"] and not older.exists()
    (event,) = ledger_of(site)["upgrades"]
    assert event["outcome"] == "upgraded" and event["run"] == "run-2.0"


def test_an_interrupted_attempt_stays_started_in_the_history(site: dict[str, Any]) -> None:
    generations.begin(params(site, "2.0"), check=False)
    (event,) = ledger_of(site)["upgrades"]
    assert event["outcome"] == "started" and "finished_at" not in event


def test_rollback_in_check_mode_says_what_it_would_do_and_changes_nothing(
    site: dict[str, Any],
) -> None:
    upgrade = generations.begin(params(site, "2.0"), check=False)
    assert upgrade is not None
    generations.succeeded(upgrade)
    data = ledger_of(site)
    data["components"]["demo"]["version"] = "2.0"
    write_json(site["ledger"], data)
    args = {"components": ["demo"], "ledger": site["ledger"], "required": ["demo"]}
    result = aiws_rollback.run(args, check_mode=True)
    assert result["ansible_facts"]["aiws_rollbacks"] == [
        {"component": "demo", "from": "2.0", "to": "1.0", "with_data": False}
    ]
    assert ledger_of(site) == data and generations.saved_versions(site["ledger"], "demo") == ["1.0"]


def test_rollback_of_a_component_without_a_generation(site: dict[str, Any]) -> None:
    args = {"components": ["demo"], "ledger": site["ledger"]}
    assert aiws_rollback.run(args) == {"changed": False, "ansible_facts": {"aiws_rollbacks": []}}
    named = aiws_rollback.run(dict(args, required=["demo"]))
    assert named["failed"] and "demo has no previous generation" in named["msg"]


def test_status_names_the_version_a_rolled_back_upgrade_asked_for() -> None:
    def ledger(*events: dict[str, str]) -> Ledger:
        record = {"version": "1.0", "installed_at": NOW, "updated_at": NOW}
        return parse_ledger({"components": {"demo": record}, "upgrades": list(events)})

    failed = {"component": "demo", "from": "1.0", "to": "2.0", "outcome": "rolled back"}
    by_hand = {"component": "demo", "from": "2.0", "to": "1.0",
               "outcome": "rolled back by the operator"}  # fmt: skip
    stays = {"component": "demo", "from": "1.0", "to": "1.0", "outcome": "stays"}
    assert ledger(failed).asked_versions() == {"demo": ("2.0", "rolled back")}
    assert ledger(by_hand).asked_versions() == {"demo": ("2.0", "rolled back by the operator")}
    assert ledger(failed, stays).asked_versions() == {}
    assert ledger().asked_versions() == {}


def test_a_rollback_leaves_a_symlink_the_operator_put_in_place_of_a_file(
    site: dict[str, Any],
) -> None:
    """The component step refuses a symlink where its file goes; the rollback that follows
    must not delete the operator's link (nor what it points to)."""
    theirs = site["tmp"] / "etc" / "theirs.conf"
    theirs.write_text("the operator's\n")
    site["config"].unlink()
    site["config"].symlink_to(theirs)
    upgrade = generations.begin(params(site, "2.0"), check=False)
    assert upgrade is not None
    generations.roll_back(upgrade, "refused: not a regular file")
    assert site["config"].is_symlink() and theirs.read_text() == "the operator's\n"
