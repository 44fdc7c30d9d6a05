"""The host's halves of backup and restore (aiws_backup, aiws_restore) on trees under
tmp_path: what is kept, what is left out, and that a restore writes and removes only under
its roots, never through a link. (Their databases: tests/integration/test_backup.py.)"""

from __future__ import annotations

import io
import os
import pwd
import socket
import sqlite3
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiws.module_utils.aiws_common import Failure
from aiws.modules import aiws_backup, aiws_restore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owners and modes need root")
NOBODY = pwd.getpwnam("nobody")


def _site(top: Path) -> tuple[Path, Path]:
    """A small site: configuration and state, with what a backup leaves out."""
    config, state = top / "etc-aiws", top / "state"
    (config / "bridge").mkdir(parents=True)
    (config / "bridge" / "tokens.json").write_text('{"tokens": []}')
    (config / "bridge" / "tokens.json").chmod(0o600)
    (state / "secrets").mkdir(parents=True, mode=0o700)
    (state / "secrets" / "vault-unseal-key").write_text("key-a")
    home = state / "codex" / "home"
    home.mkdir(parents=True)
    (home / "history.jsonl").write_text("turn one\n")
    os.chown(home, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chown(home / "history.jsonl", NOBODY.pw_uid, NOBODY.pw_gid)
    (home / "current").symlink_to("history.jsonl")
    (state / "postgresql" / "15").mkdir(parents=True)
    (state / "postgresql" / "15" / "PG_VERSION").write_text("15")
    (state / "qmd" / "cache").mkdir(parents=True)
    (state / "qmd" / "cache" / "index.sqlite").write_text("index")
    (state / "state.json").write_text('{"runs": []}')
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(state / "codex" / "agent.sock"))
    listener.close()
    os.mkfifo(state / "codex" / "fifo")
    return config, state


def _private(top: Path) -> Path:
    out = top / "private"
    out.mkdir(mode=0o700)
    return out


def _backup(top: Path, config: Path, state: Path) -> Path:
    out = _private(top) / "site.tar"
    result = aiws_backup.run(
        {
            "out": str(out),
            "roots": [str(config), str(state)],
            "not_kept": [
                {"path": str(state / "postgresql"), "why": "dumped"},
                {"path": str(state / "qmd" / "cache"), "why": "rebuilt"},
            ],
        }
    )
    assert not result.get("failed"), result
    return out


def _tree(root: Path) -> dict[str, tuple]:
    seen = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode) or path.is_symlink()):
            continue  # the socket and the FIFO: never kept
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        content = (
            str(path.readlink()) if kind == "link" else path.read_bytes() if kind == "file" else b""
        )
        mode = stat.S_IMODE(info.st_mode) if kind != "link" else 0
        seen[str(path.relative_to(root))] = (kind, mode, info.st_uid, content)
    return seen


def test_a_backup_keeps_the_roots_but_what_it_leaves_out(tmp_path: Path):
    config, state = _site(tmp_path / "a")
    out = _backup(tmp_path, config, state)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    kept = {name.removeprefix("files") for name in members}
    assert str(config / "bridge" / "tokens.json") in kept
    assert str(state / "secrets" / "vault-unseal-key") in kept
    assert not any("postgresql" in name or "qmd/cache" in name for name in kept)
    assert not any(name.endswith(("agent.sock", "fifo")) for name in kept)
    history = members["files" + str(state / "codex" / "home" / "history.jsonl")]
    assert history.uname == "nobody"
    assert members["files" + str(state / "codex" / "home" / "current")].linkname == (
        "history.jsonl"
    )


def test_a_backup_is_written_only_into_a_private_directory(tmp_path: Path):
    config, _ = _site(tmp_path / "a")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    result = aiws_backup.run({"out": str(shared / "x.tar"), "roots": [str(config)]})
    assert result["failed"] and "open to others" in result["msg"]
    assert not (shared / "x.tar").exists()


def test_a_file_swapped_for_a_link_is_not_followed(tmp_path: Path):
    secret = tmp_path / "shadow"
    secret.write_text("root's")
    link = tmp_path / "swapped"
    link.symlink_to(secret)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        walk = aiws_backup.Walk(tar, [], {})
        aiws_backup._add_file(walk, str(link), "files/x")
    assert walk.files == 0 and b"root's" not in out.getvalue()


@pytest.fixture
def reachable(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tmp_path, with pytest's own directories above it (0700, root's) passable by others
    for the test (as /var/lib is for a service account), and put back after."""
    base = tmp_path_factory.getbasetemp().parent
    above = [p for p in (tmp_path, *tmp_path.parents) if p == base or base in p.parents]
    modes = {p: p.stat().st_mode & 0o7777 for p in above}
    for path, mode in modes.items():
        path.chmod(mode | 0o001)
    try:
        yield tmp_path
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_a_sqlite_database_is_copied_whole_while_it_is_written(reachable: Path):
    """A database in WAL mode whose last rows are only in its WAL (not checkpointed), owned
    by a service account: the copy holds every row, the scrub ran on the copy alone, and the
    WAL and shared-memory files are not copied beside it."""
    tmp_path = reachable
    root = tmp_path / "state"
    (root / "svc").mkdir(parents=True)
    database = root / "svc" / "state.sqlite"
    live = sqlite3.connect(database)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.executescript("CREATE TABLE rows (n); CREATE TABLE state_leases (owner);"
                       "INSERT INTO state_leases VALUES ('the running gateway');")  # fmt: skip
    live.executemany("INSERT INTO rows VALUES (?)", [(n,) for n in range(1000)])
    live.commit()  # held open: the rows are in the WAL
    for path in root.rglob("*"):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chown(root / "svc", NOBODY.pw_uid, NOBODY.pw_gid)
    assert (root / "svc" / "state.sqlite-wal").stat().st_size > 0
    out = _private(tmp_path) / "site.tar"
    scrub = [{"path": str(database), "sql": ["DELETE FROM state_leases"]}]
    result = aiws_backup.run({"out": str(out), "roots": [str(root)], "sqlite_scrub": scrub})
    assert result["sqlite"] == [str(database)] and result["sqlite_as_is"] == []
    with tarfile.open(out) as tar:
        names = tar.getnames()
        member = tar.getmember("files" + str(database))
        copy = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert not any(name.endswith(("-wal", "-shm")) for name in names), names
    assert member.uname == "nobody"
    restored = tmp_path / "copy.sqlite"
    restored.write_bytes(copy)
    reader = sqlite3.connect(restored)
    assert reader.execute("SELECT count(*) FROM rows").fetchone() == (1000,)
    assert reader.execute("SELECT count(*) FROM state_leases").fetchone() == (0,)
    assert live.execute("SELECT count(*) FROM state_leases").fetchone() == (1,)
    live.close()


def _restore(payload: Path, config: Path, state: Path) -> dict:
    result = aiws_restore.run(
        {
            "payload": str(payload),
            "roots": [str(config), str(state)],
            "not_kept": [str(state / "postgresql"), str(state / "qmd" / "cache")],
        }
    )
    assert not result.get("failed"), result
    return result


def _move(payload: Path, source: Path, target: Path, top: Path) -> Path:
    """The backup of tree `source` with its names moved to `target` (another host's paths)."""
    moved = _private(top) / "moved.tar"
    with tarfile.open(payload) as old, tarfile.open(moved, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            data = old.extractfile(member) if member.isfile() else None
            member.name = member.name.replace(str(source), str(target), 1)
            new.addfile(member, data)
    moved.chmod(0o600)
    return moved


def test_a_restore_makes_the_roots_what_the_backup_holds(tmp_path: Path):
    a_config, a_state = _site(tmp_path / "a")
    payload = _backup(tmp_path / "a", a_config, a_state)
    b_config, b_state = _site(tmp_path / "b")
    (b_state / "secrets" / "vault-unseal-key").write_text("key-b")
    (b_state / "secrets" / "made-by-b").write_text("junk")
    (b_state / "openclaw").mkdir()
    (b_state / "postgresql" / "15" / "PG_VERSION").write_text("b's cluster")
    moved = _move(payload, tmp_path / "a", tmp_path / "b", tmp_path / "b")
    result = _restore(moved, b_config, b_state)
    assert _tree(b_config) == _tree(a_config)
    expected = {
        k: v
        for k, v in _tree(a_state).items()
        if not k.startswith(("codex/agent", "codex/fifo", "postgresql", "qmd/cache"))
    }
    got = {
        k: v
        for k, v in _tree(b_state).items()
        if not k.startswith(("codex/agent", "codex/fifo", "postgresql", "qmd/cache"))
    }
    assert got == expected
    assert (b_state / "postgresql" / "15" / "PG_VERSION").read_text() == "b's cluster"
    assert (b_state / "qmd" / "cache" / "index.sqlite").exists()
    assert sorted(result["removed"]) == sorted(
        str(p)
        for p in (
            b_state / "openclaw",
            b_state / "secrets" / "made-by-b",
            b_state / "codex" / "agent.sock",
            b_state / "codex" / "fifo",
        )
    )


def test_nothing_is_written_through_a_link(tmp_path: Path):
    a_config, a_state = _site(tmp_path / "a")
    payload = _backup(tmp_path / "a", a_config, a_state)
    outside = tmp_path / "outside"
    outside.mkdir()
    b_config, b_state = tmp_path / "b" / "etc-aiws", tmp_path / "b" / "state"
    b_config.mkdir(parents=True)
    b_state.mkdir()
    (b_state / "codex").symlink_to(outside)  # planted where the backup has a directory
    (b_state / "state.json").symlink_to(outside / "ledger")  # and where it has a file
    moved = _move(payload, tmp_path / "a", tmp_path / "b", tmp_path / "b")
    _restore(moved, b_config, b_state)
    assert list(outside.iterdir()) == []
    assert (b_state / "codex").is_dir() and not (b_state / "codex").is_symlink()
    assert (b_state / "state.json").read_text() == '{"runs": []}'


def _payload(top: Path, members: list[tarfile.TarInfo]) -> Path:
    path = _private(top) / "p.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


def test_a_member_outside_the_roots_is_refused(tmp_path: Path):
    roots = tmp_path / "root"
    roots.mkdir()
    elsewhere = tarfile.TarInfo("files" + str(tmp_path / "elsewhere"))
    elsewhere.size = 1
    payload = _payload(tmp_path, [elsewhere])
    result = aiws_restore.run({"payload": str(payload), "roots": [str(roots)]})
    assert result["failed"] and "not a path the backup keeps" in result["msg"]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("root", ["/", "/etc", "/var/lib", "relative"])
def test_a_root_that_is_not_aiwss_is_refused(tmp_path: Path, root: str):
    payload = _payload(tmp_path, [])
    result = aiws_restore.run({"payload": str(payload), "roots": [root]})
    assert result["failed"] and "refusing roots" in result["msg"]


def test_removal_is_only_ever_under_a_root(tmp_path: Path):
    root = tmp_path / "root"
    with pytest.raises(Failure, match="not under"):
        aiws_restore._remove(str(tmp_path / "other"), str(root))
    with pytest.raises(Failure, match="not under"):
        aiws_restore._remove(str(root), str(root))
    with pytest.raises(Failure, match="not under"):
        aiws_restore._remove(str(root) + "/../x", str(root))


def test_setuid_bits_are_not_restored(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    member = tarfile.TarInfo("files" + str(root / "tool"))
    member.size, member.mode = 1, 0o6755
    payload = _payload(tmp_path, [member])
    aiws_restore.run({"payload": str(payload), "roots": [str(root)]})
    assert stat.S_IMODE((root / "tool").stat().st_mode) == 0o755
