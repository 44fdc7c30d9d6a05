"""The run lock: one install or uninstall at a time, a second one waits a bounded time with a
countdown and then exits 2 naming the holder; a dead holder's lock is gone with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiws.ansible import runlock
from aiws.cli.main import app
from aiws.commands import uninstall as uninstall_logic
from aiws.errors import AiwsError
from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_component
from tests.helpers.cli import aiws

# A second process holding the lock exactly as an `aiws install` does, until killed.
HOLDER = """
import sys, time
from aiws.ansible.runlock import run_lock
with run_lock("aiws install --mode core", 0):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIWS_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def start_holder(seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


@pytest.fixture
def holder(run_dir: Path) -> Iterator[subprocess.Popen[str]]:
    process = start_holder(120)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def fake_bundle(tmp_path: Path) -> Path:
    """Not a bundle: an install that got the lock stops at its first check of it."""
    path = tmp_path / "aiws-bundle.tar"
    path.write_text("not a bundle")
    return path


def install_args(tmp_path: Path, wait: str) -> list[str]:
    bundle = str(fake_bundle(tmp_path))
    return ["install", "--mode", "core", "--only", "postgresql", "--bundle", bundle, "--wait", wait]


def take_the_lock() -> None:
    with runlock.run_lock("aiws install", 0):
        pass


def test_a_second_install_counts_down_then_exits_2_naming_the_holder(
    holder: subprocess.Popen[str], run_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = aiws(*install_args(tmp_path, "2"))
    waited = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    who = rf"pid {holder.pid} \(aiws install --mode core, started \d\d:\d\d:\d\d\)"
    assert re.fullmatch(rf"waiting for the run lock held by {who} … 2 s", lines[0]), lines
    assert re.fullmatch(
        rf"error: the run lock {run_dir}/run\.lock is held by {who} after waiting 2 s; "
        r"let that run finish, or wait longer with --wait SECONDS",
        lines[-1],
    ), lines
    assert 2 <= waited < 30


def test_wait_0_does_not_wait(holder: subprocess.Popen[str], tmp_path: Path) -> None:
    result = aiws(*install_args(tmp_path, "0"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is held by pid {holder.pid} " in lines[0]
    assert "waiting" not in result.stderr


def test_the_second_run_goes_on_once_the_first_one_ends(run_dir: Path, tmp_path: Path) -> None:
    first = start_holder(1.5)
    try:
        result = aiws(*install_args(tmp_path, "30"))
    finally:
        first.kill()
        first.wait(timeout=30)
    assert f"waiting for the run lock held by pid {first.pid} " in result.stderr
    assert "is held by" not in result.stderr
    # It got the lock and went on to its next step: the (fake) bundle's first check.
    assert "aiws-bundle.tar.sha256: missing" in result.stderr
    assert (run_dir / "run.lock").read_text() == ""  # released: it names nobody


def test_a_killed_holder_leaves_no_lock_behind(run_dir: Path) -> None:
    holder = start_holder(120)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with runlock.run_lock("aiws install", 0):
        assert f'"pid": {os.getpid()}' in (run_dir / "run.lock").read_text()


def test_uninstall_waits_for_the_lock_too(
    holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("uninstall ran while another run held the lock")

    monkeypatch.setattr(uninstall_logic, "uninstall", must_not_run)
    for args in (["uninstall"], ["uninstall", "--dry-run"]):
        result = CliRunner().invoke(app, [*args, "--wait", "0"])
        assert isinstance(result.exception, AiwsError), result.output
        assert result.exception.exit_code == 2
        assert f"is held by pid {holder.pid} (aiws install" in str(result.exception)


def test_the_lock_file_is_root_only_and_the_directory_0700(run_dir: Path) -> None:
    with runlock.run_lock("aiws install", 0):
        assert (run_dir.stat().st_mode & 0o777, run_dir.stat().st_uid) == (0o700, 0)
        lock = (run_dir / "run.lock").stat()
        assert (lock.st_mode & 0o777, lock.st_uid) == (0o600, 0)


def test_a_symlinked_lock_file_is_refused_not_followed(run_dir: Path, tmp_path: Path) -> None:
    run_dir.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (run_dir / "run.lock").symlink_to(victim)
    with pytest.raises(AiwsError, match=r"run\.lock is a symlink") as refused:
        take_the_lock()
    assert refused.value.exit_code == 2
    assert victim.read_text() == "keep me"


def test_a_lock_file_of_another_user_is_refused(run_dir: Path) -> None:
    run_dir.mkdir(mode=0o700)
    (run_dir / "run.lock").touch()
    os.chown(run_dir / "run.lock", 65534, 65534)
    with pytest.raises(AiwsError, match=r"run\.lock belongs to uid 65534, not root"):
        take_the_lock()


@pytest.mark.parametrize("problem", ["symlink", "group-writable"])
def test_a_lock_directory_others_could_change_is_refused(
    run_dir: Path, tmp_path: Path, problem: str
) -> None:
    if problem == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        run_dir.symlink_to(tmp_path / "elsewhere")
        expected = "is a symlink"
    else:
        run_dir.mkdir()
        run_dir.chmod(0o770)
        expected = "is writable by others than root"
    with pytest.raises(AiwsError, match=expected):
        take_the_lock()
    assert not (tmp_path / "elsewhere" / "run.lock").exists()


def test_no_component_lives_in_the_controllers_private_run_dir() -> None:
    """With aiws on the host, /run/aiws is the controller's 0700 directory: a component path
    inside it (the Bridge's agent sockets once were) is out of reach of its service account."""
    catalog = load_catalog()
    private = f"{runlock.DEFAULT_RUN_DIR}/"
    inside = [
        (component.name, key, value)
        for component in catalog.components.values()
        for key, value in resolve_component(catalog, component)["layout"].items()
        if isinstance(value, str) and (value + "/").startswith(private)
    ]
    assert inside == []
