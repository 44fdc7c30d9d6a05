"""Ansible's temp dirs (on the controller and on every target) must be root's alone: a
directory another user made or can write anywhere on the way would let that user swap the
module files root runs. `private_dir_problem` says why a path is not private."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiws.module_utils.aiws_common import private_dir_problem
from aiws.modules import aiws_host_facts

NOBODY = 65534


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir(mode=0o700)
    return path


def test_a_missing_dir_under_roots_home_is_fine(home: Path) -> None:
    assert private_dir_problem(str(home / ".ansible" / "tmp")) == ""


def test_an_existing_0700_dir_is_fine(home: Path) -> None:
    (home / ".ansible" / "tmp").mkdir(parents=True, mode=0o700)
    assert private_dir_problem(str(home / ".ansible" / "tmp")) == ""


def test_a_dir_made_first_by_another_user_is_refused(home: Path) -> None:
    (home / ".ansible").mkdir(mode=0o700)
    os.chown(home / ".ansible", NOBODY, NOBODY)
    assert "belongs to uid 65534" in private_dir_problem(str(home / ".ansible" / "tmp"))


def test_a_symlink_on_the_way_is_refused(home: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (home / ".ansible").symlink_to(tmp_path / "elsewhere")
    assert "is a symlink" in private_dir_problem(str(home / ".ansible" / "tmp"))


def test_an_open_temp_dir_is_refused(home: Path) -> None:
    (home / ".ansible" / "tmp").mkdir(parents=True)
    (home / ".ansible" / "tmp").chmod(0o755)
    assert "open to others" in private_dir_problem(str(home / ".ansible" / "tmp"))


def test_a_parent_others_can_write_is_refused(home: Path) -> None:
    home.chmod(0o777)
    assert "writable by others" in private_dir_problem(str(home / ".ansible" / "tmp"))


def test_a_fixed_path_in_tmp_is_refused_once_someone_made_it(tmp_path: Path) -> None:
    squat = tmp_path / "squat"
    squat.mkdir(mode=0o700)
    os.chown(squat, NOBODY, NOBODY)
    assert "belongs to uid" in private_dir_problem(str(squat / "ansible-tmp-1"))


def test_host_facts_report_the_problem(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(home))
    facts = aiws_host_facts.collect([str(home)], str(home / "no-ledger"))
    assert facts["ansible_tmp_problem"] == ""
    (home / ".ansible").mkdir(mode=0o777)
    (home / ".ansible").chmod(0o777)
    facts = aiws_host_facts.collect([str(home)], str(home / "no-ledger"))
    assert "writable by others" in facts["ansible_tmp_problem"]
