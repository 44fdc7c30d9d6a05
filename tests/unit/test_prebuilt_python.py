"""The pieces of a prebuilt Python runtime (aiws.bundle.sources.python) that need no
registry: scripts retargeted at the target's venv, what the host makes left out, the
target's own loader found, and a target this machine cannot run named. A whole runtime,
built from the registries and started: tests/integration/test_bundle_build.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiws.bundle.recipes import plan
from aiws.bundle.sources import python
from aiws.bundle.target import parse_target
from aiws.errors import AiwsError
from aiws.model.catalog import load_catalog

VENV = "/opt/aiws/litellm/1.106.2/venv/bin/python"


def test_a_script_names_the_target_venv_whatever_pip_wrote() -> None:
    body = b"import sys\nfrom litellm import run\nsys.exit(run())\n"
    plain = b"#!/build/staging/venv/bin/python\n" + body
    assert python.retarget(plain, VENV) == f"#!{VENV}\n".encode() + body
    # pip's /bin/sh launcher for a build path too long for #!
    long_path = b"/b" * 80 + b"/venv/bin/python"
    launcher = b"#!/bin/sh\n'''exec' \"" + long_path + b'" "$0" "$@"\n' + b"' '''\n" + body
    assert python.retarget(launcher, VENV) == f"#!{VENV}\n".encode() + body
    # anything else is left as it is
    for other in (b"#!/bin/sh\necho hi\n", b"\x7fELF\x02\x01", b""):
        assert python.retarget(other, VENV) == other


def test_only_the_venv_scripts_move_the_interpreter_links_stay(tmp_path: Path) -> None:
    source, dest = tmp_path / "bin", tmp_path / "out"
    source.mkdir()
    (source / "python").symlink_to("/usr/bin/python3")
    for name in ("python3", "python3.11", "activate", "activate.fish", "Activate.ps1"):
        (source / name).write_text("#!/x/python\n")
    (source / "litellm").write_text("#!/build/venv/bin/python\nprint(1)\n")
    (source / "litellm").chmod(0o755)
    (source / "data.txt").write_text("kept\n")
    python._move_scripts(source, dest, VENV)
    assert sorted(p.name for p in dest.iterdir()) == ["data.txt", "litellm"]
    assert (dest / "litellm").read_text() == f"#!{VENV}\nprint(1)\n"
    assert (dest / "litellm").stat().st_mode & 0o777 == 0o755
    assert (dest / "data.txt").read_text() == "kept\n"


def test_the_loader_is_the_target_own_regular_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "lib64").mkdir()
    # Debian's /lib64 link is absolute: followed here it would be this machine's loader.
    (root / "lib64" / "ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld.so")
    (libdir / "ld-linux-x86-64.so.2").write_bytes(b"\x7fELF")
    target = python.TargetPython(root, "3.13")
    assert target.loader() == libdir / "ld-linux-x86-64.so.2"
    assert target.command(target.executable) == [
        str(libdir / "ld-linux-x86-64.so.2"), "--library-path", str(libdir),
        str(root / "usr" / "bin" / "python3.13"),
    ]  # fmt: skip
    (libdir / "ld-linux-x86-64.so.2").unlink()
    with pytest.raises(AiwsError, match="no dynamic loader"):
        target.loader()


def test_a_target_this_machine_cannot_run_skips_its_python_runtimes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = load_catalog()
    arm = parse_target("debian-12-arm64", catalog)
    amd = parse_target("debian-12-amd64", catalog)
    monkeypatch.setattr(python.platform, "machine", lambda: "x86_64")
    assert python.can_run(amd) is None
    assert "this amd64 build machine cannot run (build on arm64)" in (python.can_run(arm) or "")
    chosen = plan(catalog, arm, ["vault", "litellm", "controller"], explicit=False)
    assert [a.name for a in chosen.artifacts] == ["vault"]
    assert set(chosen.skipped) == {"litellm", "controller"}
    with pytest.raises(AiwsError, match="litellm cannot be bundled for debian-12-arm64"):
        plan(catalog, arm, ["litellm"], explicit=True)


def test_each_python_runtime_is_built_for_its_own_path() -> None:
    catalog = load_catalog()
    target = parse_target("debian-12-amd64", catalog)
    chosen = plan(catalog, target, ["litellm", "hermes", "bridge", "vault", "controller"], False)
    venvs = {a.name: a.venv for a in chosen.artifacts}
    version = catalog.components["litellm"].version
    assert venvs["litellm"] == f"/opt/aiws/litellm/{version}/venv"
    assert venvs["controller"] == "/opt/aiws/controller/venv"
    assert venvs["vault"] is None and venvs["apt"] is None
    assert replace(chosen.artifacts[1], venv="/elsewhere") != chosen.artifacts[1]
