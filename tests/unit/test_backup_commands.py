"""What `aiws backup` and `aiws restore` decide before the host is touched: the passphrase
(never argv, never a file others can read), what is kept and what is left out (from the
catalog), and whether a bundle can rebuild a backup."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from aiws.backup.passphrase import MIN_NEW, read_passphrase
from aiws.bundle.manifest import BundleManifest
from aiws.cli.main import app
from aiws.commands import backup, restore
from aiws.errors import UsageError
from aiws.model.catalog import load_catalog

CATALOG = load_catalog()


def _file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_passphrase_file_gives_its_text_without_the_last_newline(tmp_path: Path):
    path = _file(tmp_path, "a long backup passphrase\n")
    assert read_passphrase(path, False, new=True) == b"a long backup passphrase"


def test_a_passphrase_file_others_can_read_is_refused(tmp_path: Path):
    path = _file(tmp_path, "a long backup passphrase\n", 0o644)
    with pytest.raises(UsageError, match="readable or writable by others"):
        read_passphrase(path, False, new=False)


def test_a_passphrase_file_given_as_a_link_is_refused(tmp_path: Path):
    link = tmp_path / "link"
    link.symlink_to(_file(tmp_path, "a long backup passphrase"))
    with pytest.raises(UsageError, match="cannot read the passphrase file"):
        read_passphrase(link, False, new=False)


def test_a_new_passphrase_must_be_long(tmp_path: Path):
    with pytest.raises(UsageError, match=f"shorter than {MIN_NEW}"):
        read_passphrase(_file(tmp_path, "short"), False, new=True)
    assert read_passphrase(_file(tmp_path, "short"), False, new=False) == b"short"


def test_stdin_gives_the_passphrase(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b"from stdin, long\n")))
    assert read_passphrase(None, True, new=True) == b"from stdin, long"


def test_no_passphrase_and_no_terminal_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: False))
    with pytest.raises(UsageError, match="--passphrase-file FILE or --passphrase-stdin"):
        read_passphrase(None, False, new=True)


def test_both_ways_at_once_are_refused(tmp_path: Path):
    with pytest.raises(UsageError, match="both given"):
        read_passphrase(_file(tmp_path, "x" * 20), True, new=True)


def test_the_passphrase_is_no_option_of_the_command_line():
    for command in ("backup", "restore"):
        shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--passphrase-file" in shown and "--passphrase " not in shown


def test_what_a_backup_leaves_out_comes_from_the_catalog():
    left = {item["path"]: item for item in backup.not_kept(CATALOG, with_workspaces=False)}
    assert set(left) == {
        "/var/lib/aiws/openclaw/tmp",
        "/var/lib/aiws/openclaw/cache",
        "/var/lib/aiws/openclaw/.cache",
        "/var/lib/aiws/postgresql",
        "/var/lib/aiws/qmd/cache",
        "/var/lib/aiws/qmd/models",
        "/var/lib/aiws/workspaces",
    }
    assert "pg_dump" in left["/var/lib/aiws/postgresql"]["why"]
    kept = {item["path"] for item in backup.not_kept(CATALOG, with_workspaces=True)}
    assert "/var/lib/aiws/workspaces" not in kept


def test_the_hosts_part_is_given_every_database_and_the_platforms_cluster():
    params = backup.host_params(CATALOG.for_platform("debian-13"), Path("/x/y.tar"), False)
    assert params["roots"] == ["/etc/aiws", "/var/lib/aiws"]
    assert params["databases"] == ["vault"]  # LiteLLM keeps its keys in a file
    assert params["pg_bin"] == "/usr/lib/postgresql/17/bin"
    assert params["socket_dir"] == "/run/aiws-postgresql"
    assert params["sqlite_scrub"] == [
        {
            "path": "/var/lib/aiws/openclaw/state/openclaw.sqlite",
            "sql": ["DELETE FROM state_leases"],
        }
    ]


def _bundle(platform: str = "debian-13", **versions: str) -> BundleManifest:
    return BundleManifest.model_validate(
        {
            "aiws_version": "0.1.0",
            "built_at": "2026-12-07T00:00:00Z",
            "target": {
                "name": f"{platform}-amd64",
                "platform": platform,
                "arch": "amd64",
                "os_id": "debian",
                "version_id": platform[-2:],
                "codename": "x",
                "python": "3.13",
            },
            "tested": True,
            "versions": versions,
            "artifacts": [],
        }
    )


def test_a_bundle_rebuilds_a_backup_only_with_the_same_target_and_versions():
    made = {"platform": "debian-13", "arch": "amd64", "versions": {"vault": "2.7.2", "caddy": "2"}}
    assert restore.bundle_problems(made, _bundle(vault="2.7.2", caddy="2", node="1")) == []
    assert restore.bundle_problems(made, _bundle(vault="2.6.2", caddy="2")) == [
        "vault 2.7.2 (the bundle has 2.6.2)"
    ]
    assert restore.bundle_problems(made, _bundle(vault="2.7.2")) == [
        "caddy 2 (the bundle has none)"
    ]
    other = restore.bundle_problems(made, _bundle("debian-12", vault="2.7.2", caddy="2"))
    assert other == ["the bundle is for debian-12-amd64, the backup from debian-13-amd64"]


def test_a_restore_stops_every_service_but_postgresql():
    checked = restore.Checked({"versions": {"postgresql": "17", "vault": "2.7.2", "qmd": "2"},
                               "not_kept": [{"path": "/var/lib/aiws/postgresql"}]},
                              Path("/x/p.tar"))  # fmt: skip
    params = restore.restore_params(CATALOG, checked)
    assert params["stop_units"] == ["aiws-vault.service", "aiws-qmd.socket", "aiws-*@*.service"]
    assert params["not_kept"] == ["/var/lib/aiws/postgresql"]
    assert {"name": "vault", "owner": "aiws_vault"} in params["databases"]


def test_restore_without_a_bundle_says_so_in_one_line(tmp_path: Path):
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "x")])
    assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2
    assert str(result.exception) == "aiws restore needs --bundle; give the bundle the site ran from"


def test_what_the_catalog_leaves_out_or_scrubs_lies_under_what_a_backup_keeps():
    roots = (CATALOG.paths.config + "/", CATALOG.paths.state + "/")
    for item in backup.not_kept(CATALOG, with_workspaces=False):
        assert item["path"].startswith(roots) and item["why"], item
    for item in backup.scrubs(CATALOG):
        assert item["path"].startswith(roots) and item["sql"], item
