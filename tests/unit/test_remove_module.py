"""aiws_remove on real trees: what it refuses, removes and keeps, and its check mode; what a
purge keeps of the controller running it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aiws.commands.install import controller_paths
from aiws.model.hosts import Hosts
from aiws.module_utils.aiws_removal import refused, unsafe
from aiws.modules import aiws_remove


def make_tree(root: Path) -> Path:
    """root/a/b/{keep.txt,other}, root/a/sibling/f, root/c"""
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "keep.txt").write_text("keep")
    (root / "a" / "b" / "other").write_text("other")
    (root / "a" / "sibling").mkdir()
    (root / "a" / "sibling" / "f").write_text("f")
    (root / "c").write_text("c")
    return root


# Paths whose removal would be a disaster are checked through the pure predicate only: a
# test must never be one broken guard away from removing the root or the working directory.
@pytest.mark.parametrize("path", ["/", "relative", "./x", ".", "", "/a/../b", "/a//b", "/a/"])
def test_unsafe_paths_are_recognised(path: str) -> None:
    assert unsafe(path)


@pytest.mark.parametrize("path", ["/a", "/a/b", "/opt/aiws/vault/2.7.2"])
def test_normal_absolute_paths_are_safe(path: str) -> None:
    assert not unsafe(path)


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda d: f"{d}/x/../victim", id="dot-dot"),
        pytest.param(lambda d: f"{d}/victim/..", id="trailing-dot-dot"),
        pytest.param(lambda d: f"{d}//victim", id="double-slash"),
        pytest.param(lambda d: f"{d}/victim/", id="trailing-slash"),
        pytest.param(lambda d: f"{d}/./victim", id="dot"),
        pytest.param(lambda d: f"{str(d)[1:]}/victim", id="relative"),
    ],
)
def test_an_unsafe_path_is_refused_and_nothing_is_removed(
    tmp_path: Path, spell: Callable[[Path], str]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("precious")
    (tmp_path / "x").mkdir()
    safe = tmp_path / "safe-to-remove"
    safe.write_text("x")
    bad = spell(tmp_path)
    # the safe path comes first: nothing is removed when any path is refused
    result = aiws_remove.run({"roots": [str(tmp_path)], "paths": [str(safe), bad]})
    assert result["failed"] and repr(bad) in result["msg"]
    assert (victim / "data").read_text() == "precious"
    assert safe.exists()


def test_the_root_spelled_with_two_slashes_is_unsafe() -> None:
    # the predicate only, never run(): were "//" accepted, run() would remove the root
    assert unsafe("//")


def test_files_directories_and_symlinks_are_removed(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    tree = make_tree(tmp_path / "tree")
    target = tmp_path / "target"
    target.mkdir()
    (target / "inside").write_text("kept")
    link = tmp_path / "link-to-dir"
    link.symlink_to(target, target_is_directory=True)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    paths = [str(p) for p in (file, tree, link, dangling, tmp_path / "missing")]
    result = aiws_remove.run({"roots": [str(tmp_path)], "paths": paths})
    assert [item["status"] for item in result["aiws_paths"]] == [
        "removed",
        "removed",
        "removed",
        "removed",
        "absent",
    ]
    assert [item["path"] for item in result["aiws_paths"]] == paths
    assert result["changed"] is True
    for path in (file, tree, link, dangling):
        assert not path.is_symlink() and not path.exists()
    assert (target / "inside").read_text() == "kept"  # the symlink went, not its target


def test_only_absent_paths_change_nothing(tmp_path: Path) -> None:
    result = aiws_remove.run(
        {"roots": [str(tmp_path)], "paths": [str(tmp_path / "a"), str(tmp_path / "b")]}
    )
    assert result == {
        "changed": False,
        "aiws_paths": [
            {"path": str(tmp_path / "a"), "status": "absent"},
            {"path": str(tmp_path / "b"), "status": "absent"},
        ],
    }


def test_keep_keeps_a_nested_path_and_its_parents(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    kept = tree / "a" / "b" / "keep.txt"
    result = aiws_remove.run({"roots": [str(tmp_path)], "paths": [str(tree)], "keep": [str(kept)]})
    assert result["aiws_paths"] == [{"path": str(tree), "status": "removed"}]
    assert result["changed"] is True
    assert kept.read_text() == "keep"
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [
        "a",
        "a/b",
        "a/b/keep.txt",
    ]


def test_emptying_it_again_is_no_change(tmp_path: Path) -> None:
    """A second purge, with only the kept path left in the tree: nothing removed, no change
    (it was reported as a removal and a change)."""
    tree = make_tree(tmp_path / "tree")
    kept = tree / "a" / "b" / "keep.txt"
    aiws_remove.run({"roots": [str(tmp_path)], "paths": [str(tree)], "keep": [str(kept)]})
    again = aiws_remove.run({"roots": [str(tmp_path)], "paths": [str(tree)], "keep": [str(kept)]})
    assert again == {"changed": False, "aiws_paths": [{"path": str(tree), "status": "kept"}]}
    assert kept.read_text() == "keep"


def test_keep_of_a_directory_keeps_its_content(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    result = aiws_remove.run(
        {"roots": [str(tmp_path)], "paths": [str(tree)], "keep": [str(tree / "a" / "b") + "/"]}
    )
    assert result["changed"] is True
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [
        "a",
        "a/b",
        "a/b/keep.txt",
        "a/b/other",
    ]


def test_a_kept_path_itself_is_reported_kept(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    result = aiws_remove.run(
        {"roots": [str(tmp_path)], "paths": [str(tree / "c")], "keep": [str(tree / "c")]}
    )
    assert result == {
        "changed": False,
        "aiws_paths": [{"path": str(tree / "c"), "status": "kept"}],
    }
    assert (tree / "c").exists()


def test_keep_does_not_keep_a_sibling_with_a_common_prefix(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data-old").mkdir()
    (tmp_path / "data-old" / "f").write_text("x")
    result = aiws_remove.run(
        {
            "roots": [str(tmp_path)],
            "paths": [str(tmp_path / "data-old")],
            "keep": [str(tmp_path / "data")],
        }
    )
    assert result["aiws_paths"][0]["status"] == "removed"
    assert not (tmp_path / "data-old").exists() and (tmp_path / "data").exists()


def test_check_mode_changes_nothing_and_says_would_remove(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    link = tmp_path / "link"
    link.symlink_to(tree)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    paths = [str(tree / "c"), str(tree / "a"), str(link), str(tmp_path / "missing")]
    result = aiws_remove.run({"roots": [str(tmp_path)], "paths": paths}, check_mode=True)
    assert [item["status"] for item in result["aiws_paths"]] == [
        "would remove",
        "would remove",
        "would remove",
        "absent",
    ]
    assert result["changed"] is True
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_a_purge_on_the_host_keeps_the_whole_bootstrapped_controller(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Bootstrapped under the runtime root, the controller is kept whole (its venv and the
    bundle's controller tree beside it), not only the venv; elsewhere its venv; over an
    inventory nothing of this machine is the host's."""
    runtime = tmp_path / "opt-aiws"
    monkeypatch.setenv("AIWS_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "prefix", str(runtime / "controller" / "venv"))
    kept = controller_paths(Hosts(), str(runtime))
    assert kept == [str(tmp_path / "logs"), str(runtime / "controller")]
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "dev" / ".venv"))
    assert controller_paths(Hosts(), str(runtime))[1] == str(tmp_path / "dev" / ".venv")
    assert controller_paths(Hosts(tmp_path / "hosts.ini"), str(runtime)) == []


def test_a_path_outside_aiws_roots_is_refused_and_nothing_is_removed(tmp_path: Path) -> None:
    """A wrong variable or a damaged ledger naming a path beside aiws's roots (here in the
    test's own tree) removes nothing, in one line."""
    roots = [str(tmp_path / "opt" / "aiws"), str(tmp_path / "var" / "lib" / "aiws")]
    ours = tmp_path / "opt" / "aiws" / "c"
    ours.mkdir(parents=True)
    beside = tmp_path / "etc"
    beside.mkdir()
    for stranger in (str(beside), str(tmp_path / "opt" / "aiwsx"), str(tmp_path)):
        assert Path(stranger).is_relative_to(tmp_path)  # never a path of this machine
        result = aiws_remove.run({"roots": roots, "paths": [str(ours), stranger]})
        assert result["failed"] and "\n" not in result["msg"], result
        assert result["msg"].startswith(f"refusing to remove {stranger}: not under aiws's own")
        assert ours.exists() and beside.exists()


# The same rule for the paths of this machine, through the pure predicate only.
@pytest.mark.parametrize("path", ["/etc", "/", "/var/lib", "/opt", "/opt/aiwsx", "/usr/lib/x"])
def test_the_systems_own_paths_are_outside_aiws_roots(path: str) -> None:
    roots = ["/opt/aiws", "/etc/aiws", "/var/lib/aiws", "/var/log/aiws", "/var/cache/aiws"]
    problem = refused(["/opt/aiws/vault", path], roots)
    assert problem is not None and path in problem
    assert refused(["/opt/aiws/vault", "/etc/aiws/vault", "/var/lib/aiws/secrets/x"], roots) is None


def test_no_roots_removes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    result = aiws_remove.run({"roots": [], "paths": [str(tmp_path / "a")]})
    assert result["failed"] and "no valid roots" in result["msg"]
    assert (tmp_path / "a").exists()
