"""aiws_units on real files: secrets rendered on the host, files and directories converged,
one-time initialisations. Owner and group are root (the suite runs as root; chown needs it)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiws.module_utils.aiws_common import Failure
from aiws.module_utils.aiws_units import ensure_directory, ensure_file, render, run_once

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to root needs root")


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "postgresql-aiws_vault").write_text("  s3cret-pw\n")
    (directory / "vault.token").write_text("hvs.token")
    return directory


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_render_fills_in_every_secret_stripped(secrets_dir: Path) -> None:
    template = (
        "url = postgres://aiws_vault:@AIWS_SECRET(postgresql-aiws_vault)@@db/vault\n"
        "again = @AIWS_SECRET(postgresql-aiws_vault)@\n"
        "token = @AIWS_SECRET(vault.token)@\n"
    )
    assert render(template, str(secrets_dir)) == (
        "url = postgres://aiws_vault:s3cret-pw@db/vault\nagain = s3cret-pw\ntoken = hvs.token\n"
    )


def test_render_json_quotes_a_value_an_operator_brought(secrets_dir: Path) -> None:
    awkward = "k\"ey\\with: # yaml {and} 'quotes'"
    (secrets_dir / "provider-key").write_text(awkward + "\n")
    rendered = render("api_key: @AIWS_SECRET(provider-key|json)@\n", str(secrets_dir))
    assert yaml.safe_load(rendered) == {"api_key": awkward}
    assert json.loads(render("@AIWS_SECRET(provider-key|json)@", str(secrets_dir))) == awkward


def test_render_leaves_text_without_references_alone(secrets_dir: Path) -> None:
    text = "plain @AIWS_SECRET@ and @AIWS_SECRET()@ and @AIWS_SECRET(../escape)@\n"
    assert render(text, str(secrets_dir)) == text


def test_render_fails_naming_a_missing_secret(secrets_dir: Path) -> None:
    with pytest.raises(Failure) as caught:
        render("x = @AIWS_SECRET(nope)@", str(secrets_dir))
    assert "secret nope is missing" in str(caught.value)
    assert str(secrets_dir / "nope") in str(caught.value)


def file_spec(dest: Path, content: str, mode: str = "0640") -> dict[str, Any]:
    return {"dest": str(dest), "content": content, "owner": "root", "group": "root", "mode": mode}


@needs_root
def test_ensure_file_writes_then_reports_no_change_then_a_change(
    tmp_path: Path, secrets_dir: Path
) -> None:
    dest = tmp_path / "etc" / "vault.hcl"
    spec = file_spec(dest, "password = @AIWS_SECRET(postgresql-aiws_vault)@\n")
    assert ensure_file(spec, str(secrets_dir), check=False) is True
    assert dest.read_text() == "password = s3cret-pw\n"
    assert mode_of(dest) == 0o640
    assert (dest.stat().st_uid, dest.stat().st_gid) == (0, 0)
    inode = dest.stat().st_ino

    assert ensure_file(spec, str(secrets_dir), check=False) is False
    assert dest.stat().st_ino == inode  # not rewritten

    (secrets_dir / "postgresql-aiws_vault").write_text("rotated\n")
    assert ensure_file(spec, str(secrets_dir), check=False) is True
    assert dest.read_text() == "password = rotated\n"


@needs_root
def test_ensure_file_repairs_the_mode_without_rewriting(tmp_path: Path, secrets_dir: Path) -> None:
    dest = tmp_path / "conf"
    spec = file_spec(dest, "x\n", mode="0600")
    assert ensure_file(spec, str(secrets_dir), check=False)
    dest.chmod(0o644)
    assert ensure_file(spec, str(secrets_dir), check=True) is True  # reported, not repaired
    assert mode_of(dest) == 0o644
    assert ensure_file(spec, str(secrets_dir), check=False) is True
    assert mode_of(dest) == 0o600
    assert ensure_file(spec, str(secrets_dir), check=False) is False


@needs_root
def test_ensure_file_in_check_mode_writes_nothing(tmp_path: Path, secrets_dir: Path) -> None:
    dest = tmp_path / "conf"
    assert ensure_file(file_spec(dest, "new\n"), str(secrets_dir), check=True) is True
    assert not dest.exists()
    dest.write_text("old\n")
    assert ensure_file(file_spec(dest, "new\n"), str(secrets_dir), check=True) is True
    assert dest.read_text() == "old\n"


def test_ensure_file_refuses_a_symlink_destination(tmp_path: Path, secrets_dir: Path) -> None:
    target = tmp_path / "target"
    target.write_text("untouched\n")
    dest = tmp_path / "conf"
    dest.symlink_to(target)
    with pytest.raises(Failure, match="is not a regular file"):
        ensure_file(file_spec(dest, "new\n"), str(secrets_dir), check=False)
    assert target.read_text() == "untouched\n" and dest.is_symlink()


def test_ensure_file_refuses_a_directory_destination(tmp_path: Path, secrets_dir: Path) -> None:
    dest = tmp_path / "conf"
    dest.mkdir()
    with pytest.raises(Failure, match="is not a regular file"):
        ensure_file(file_spec(dest, "new\n"), str(secrets_dir), check=False)


def test_ensure_file_with_a_missing_secret_writes_nothing(
    tmp_path: Path, secrets_dir: Path
) -> None:
    dest = tmp_path / "conf"
    with pytest.raises(Failure, match="secret gone is missing"):
        ensure_file(file_spec(dest, "@AIWS_SECRET(gone)@"), str(secrets_dir), check=False)
    assert not dest.exists()


def dir_spec(path: Path, mode: str = "0750") -> dict[str, Any]:
    return {"path": str(path), "owner": "root", "group": "root", "mode": mode}


@needs_root
def test_ensure_directory_creates_with_the_mode_then_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "aiws" / "vault"
    assert ensure_directory(dir_spec(path), check=False) is True
    assert path.is_dir() and mode_of(path) == 0o750
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    assert ensure_directory(dir_spec(path), check=False) is False
    path.chmod(0o777)
    assert ensure_directory(dir_spec(path), check=False) is True
    assert mode_of(path) == 0o750


def test_ensure_directory_in_check_mode_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new"
    assert ensure_directory(dir_spec(path), check=True) is True
    assert not path.exists()


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_ensure_directory_refuses_a_path_that_is_not_a_directory(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "thing"
    if kind == "file":
        path.write_text("a file")
    else:
        (tmp_path / "real").mkdir()
        path.symlink_to(tmp_path / "real", target_is_directory=True)
    with pytest.raises(Failure, match="is not a directory"):
        ensure_directory(dir_spec(path), check=False)
    assert path.is_symlink() if kind == "symlink" else path.read_text() == "a file"


def test_run_once_runs_unless_creates_exists(tmp_path: Path) -> None:
    creates = tmp_path / "initialised"
    runs = tmp_path / "runs"
    spec = {"argv": ["sh", "-c", f"echo run >> {runs} && touch {creates}"], "creates": str(creates)}
    assert run_once(spec, check=False) is True
    assert run_once(spec, check=False) is False
    assert runs.read_text() == "run\n"  # ran exactly once


def test_run_once_in_check_mode_runs_nothing(tmp_path: Path) -> None:
    creates = tmp_path / "initialised"
    spec = {"argv": ["sh", "-c", f"touch {creates}"], "creates": str(creates)}
    assert run_once(spec, check=True) is True
    assert not creates.exists()


def test_run_once_fails_when_the_command_fails(tmp_path: Path) -> None:
    spec = {"argv": ["sh", "-c", "echo broken >&2; exit 3"], "creates": str(tmp_path / "x")}
    with pytest.raises(Failure, match="broken"):
        run_once(spec, check=False)


def scratch_spec(tmp_path: Path) -> dict[str, Any]:
    scratch, dest = tmp_path / "data.scratch", tmp_path / "data"
    return {
        "argv": ["sh", "-c", f"mkdir -p {scratch} && touch {scratch}/done"],
        "creates": str(dest / "done"),
        "scratch": str(scratch),
        "dest": str(dest),
    }


def test_run_once_renames_the_scratch_directory_into_place(tmp_path: Path) -> None:
    spec = scratch_spec(tmp_path)
    assert run_once(spec, check=False) is True
    assert Path(spec["creates"]).is_file()
    assert not Path(spec["scratch"]).exists()
    assert run_once(spec, check=False) is False


def test_run_once_starts_from_an_empty_scratch(tmp_path: Path) -> None:
    spec = scratch_spec(tmp_path)
    Path(spec["scratch"]).mkdir()
    (Path(spec["scratch"]) / "half-made").write_text("interrupted")
    assert run_once(spec, check=False) is True
    assert sorted(p.name for p in Path(spec["dest"]).iterdir()) == ["done"]


def test_run_once_refuses_a_dest_without_creates(tmp_path: Path) -> None:
    spec = scratch_spec(tmp_path)
    Path(spec["dest"]).mkdir()
    (Path(spec["dest"]) / "someone-elses").write_text("x")
    with pytest.raises(Failure, match="exists but"):
        run_once(spec, check=False)
    assert not Path(spec["scratch"]).exists()  # the command did not run
    assert sorted(p.name for p in Path(spec["dest"]).iterdir()) == ["someone-elses"]


def test_run_once_fails_clearly_when_the_command_makes_no_scratch(tmp_path: Path) -> None:
    spec = {**scratch_spec(tmp_path), "argv": ["true"]}
    with pytest.raises(Failure):
        run_once(spec, check=False)


class FakeSystemd:
    """systemctl as aiws_units calls it: records the calls, keeps enabled/active state."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.enabled: set[str] = set()
        self.active: set[str] = set()

    def run(self, argv: list[str], timeout: int = 0) -> Any:
        self.calls.append(" ".join(argv[1:]))
        code = 0
        if argv[1:3] == ["is-enabled", "--quiet"]:
            code = 0 if argv[3] in self.enabled else 1
        elif argv[1] == "enable":
            self.enabled.add(argv[-1])
        elif argv[1] in ("start", "restart"):
            self.active.add(argv[-1])
        return type("Done", (), {"returncode": code, "stdout": ""})()

    def prop(self, unit: str, prop: str) -> str:
        return "active" if unit in self.active else "inactive"


def test_extra_units_are_written_reloaded_once_and_only_those_marked_start_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    from aiws.module_utils import aiws_units

    systemd = FakeSystemd()
    monkeypatch.setattr(aiws_units, "_run", systemd.run)
    monkeypatch.setattr(aiws_units, "_must", systemd.run)
    monkeypatch.setattr(aiws_units, "_unit_prop", systemd.prop)
    units = [
        {"name": "aiws-x-index.service", "content": "[Service]\nType=oneshot\n"},
        {"name": "aiws-x-index.timer", "content": "[Timer]\nOnCalendar=hourly\n", "start": True},
    ]
    params: dict[str, Any] = {
        "name": "x", "user": None, "directories": [], "files": [], "restart": False,
        "ready": None, "secrets_dir": str(secrets_dir), "unit_dir": str(tmp_path),
        "unit": {"name": "aiws-x.service", "content": "[Service]\n"}, "extra_units": units,
    }  # fmt: skip

    first = aiws_units.converge(params, False)
    assert first["changed"] and sorted(p.name for p in tmp_path.glob("aiws-x*")) == [
        "aiws-x-index.service", "aiws-x-index.timer", "aiws-x.service",
    ]  # fmt: skip
    assert systemd.calls.count("daemon-reload") == 1
    assert systemd.active == {"aiws-x.service", "aiws-x-index.timer"}
    assert "aiws-x-index.timer started" in first["actions"]

    systemd.calls.clear()
    again = aiws_units.converge(params, False)
    assert not again["changed"] and "daemon-reload" not in systemd.calls

    # A changed timer: reloaded, the timer restarted, the service itself left running.
    units[1]["content"] = "[Timer]\nOnCalendar=daily\n"
    systemd.calls.clear()
    changed = aiws_units.converge(params, False)
    assert changed["actions"] == ["aiws-x-index.timer restarted"]
    assert systemd.calls.count("daemon-reload") == 1
    assert "restart aiws-x.service" not in systemd.calls
