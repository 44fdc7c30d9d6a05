"""The options `aiws install` and `aiws preflight` share: declared once, one request builder,
the same help, and user input that never breaks the Rich output."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from aiws.bundle.manifest import BUNDLE_MANIFEST, BundleManifest, TargetInfo, dump
from aiws.cli.main import app
from aiws.errors import UsageError
from aiws.model.catalog import load_catalog
from aiws.model.request import InstallRequest, request_from_cli
from tests.helpers.cli import aiws

ROOT: Any = typer.main.get_command(app)
SHARED = [
    "--mode",
    "--bundle",
    "--trust-key",
    "--sha256",
    "--inventory",
    "--domain",
    "--internal-ca",
    "--only",
    "--backend",
    "--set",
    "--json",
]


def option(command: str, name: str) -> Any:
    return next(p for p in ROOT.commands[command].params if name in p.opts)


def flat(text: str) -> str:
    """Rendered help without the panel's borders and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def fake_bundle(path: Path, platform: str = "debian-11", arch: str = "arm64") -> Path:
    """A package holding only its aggregate manifest: enough for `read_target`, which is all
    preflight reads. Its target can never match this Debian 12 amd64 host."""
    os_id, version_id = platform.split("-")
    manifest = BundleManifest(
        aiws_version="0.1.0",
        built_at="2026-01-01T00:00:00+00:00",
        target=TargetInfo(
            name=f"{platform}-{arch}",
            platform=platform,
            arch=arch,
            os_id=os_id,
            version_id=version_id,
            codename="bullseye",
            python="3.9",
        ),
        tested=False,
        versions={},
        artifacts=[],
    )
    data = dump(manifest)
    with tarfile.open(path, "w") as tar:
        member = tarfile.TarInfo(BUNDLE_MANIFEST)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize("name", SHARED)
def test_install_and_preflight_share_each_option(name: str) -> None:
    ours, theirs = option("install", name), option("preflight", name)
    assert ours.help and ours.help == theirs.help
    assert (ours.opts, ours.secondary_opts) == (theirs.opts, theirs.secondary_opts)
    assert (ours.required, ours.multiple, ours.default) == (
        theirs.required,
        theirs.multiple,
        theirs.default,
    )


def test_the_help_of_install_and_preflight_shows_the_same_text() -> None:
    runner = CliRunner()
    shown = {
        command: flat(runner.invoke(app, [command, "--help"], env={"COLUMNS": "250"}).output)
        for command in ("install", "preflight")
    }
    for name in SHARED:
        text = " ".join(option("install", name).help.split())
        assert text in shown["install"], name
        assert text in shown["preflight"], name


def test_one_builder_makes_the_request() -> None:
    catalog = load_catalog()
    request = request_from_cli(
        catalog,
        mode="core",
        only=["postgresql,vault", "vault"],
        backend=None,
        sets=["vault.version=9.9.9"],
    )
    assert request == InstallRequest(
        mode="core",
        only=("postgresql", "vault"),
        backends=("systemd",),
        component_overrides={"vault": {"version": "9.9.9"}},
        # Neither a flag nor a configuration file chose these: a rerun's record may.
        unset=frozenset({"domain", "internal_ca", "config"}),
    )


def test_the_builder_refuses_a_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        request_from_cli(load_catalog(), mode="core", bundle=tmp_path / "nope.tar")


def test_preflight_refuses_a_bundle_built_for_another_target(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path / "aiws-bundle-debian-11-arm64.tar")
    result = aiws("preflight", "--mode", "local", "--bundle", str(bundle), "--json")
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    findings = data["hosts"]["localhost"]["findings"]
    target = next(f for f in findings if f["code"] == "bundle.target")
    assert "debian-11-arm64" in target["problem"] and data["ok"] is False


def test_preflight_text_names_the_bundle_target_rule(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path / "b.tar")
    result = aiws("preflight", "--mode", "local", "-b", str(bundle))
    assert result.returncode == 2, result.stderr
    assert "(bundle.target)" in result.stdout
    assert "preflight: refused" in result.stdout


def test_preflight_with_a_missing_bundle_exits_2_with_one_line(tmp_path: Path) -> None:
    result = aiws("preflight", "--mode", "local", "--bundle", str(tmp_path / "missing.tar"))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "missing.tar does not exist" in lines[0]


def test_preflight_checks_set_like_install() -> None:
    result = aiws("preflight", "--mode", "local", "--set", "novalue")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --set 'novalue' is not KEY=VALUE; write it as --set key=value"
    ]


@pytest.mark.parametrize("command", ["install", "preflight"])
def test_set_refuses_an_internal_variable_with_one_line(command: str) -> None:
    result = aiws(command, "--mode", "local", "--set", "aiws_catalog={}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: --set aiws_catalog: not a key aiws accepts; "
        "allowed: <component>.version (e.g. --set vault.version=X)"
    ]


@pytest.mark.parametrize("mode", ["x[/]", "[bold]x", "x[/bold]y"])
def test_markup_in_user_input_is_printed_as_is_by_install(mode: str) -> None:
    result = aiws("install", "--mode", mode)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"unknown mode '{mode}'" in lines[0]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--mode", "x[/]"], "unknown mode 'x[/]'"),
        (["--mode", "core", "--domain", "[red]a"], "domain '[red]a' is not a fully qualified"),
    ],
)
def test_markup_in_user_input_is_printed_as_is_by_preflight(args: list[str], shown: str) -> None:
    result = aiws("preflight", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr == ""
    assert shown in result.stdout


ODD = ["x[/]", "[bold red]é🙂", "a" * 5000, "", "two\nlines"]
ODD_COMMANDS = [
    lambda s: ["install", "--mode", s],
    lambda s: ["preflight", "--mode", "core", "--domain", s],
    lambda s: ["bundle", "verify", s],
    lambda s: ["secrets", "show", s],
    lambda s: ["status", "-i", s],
]


@pytest.mark.parametrize("odd", ODD, ids=["markup", "unicode", "long", "empty", "newline"])
@pytest.mark.parametrize("command", range(len(ODD_COMMANDS)))
def test_odd_input_never_gives_a_traceback(odd: str, command: int) -> None:
    """Brackets, unicode, very long, empty and multi-line strings in any option: a refusal
    (exit 1 or 2) in a few lines naming the problem, never a traceback."""
    result = aiws(*ODD_COMMANDS[command](odd))
    assert result.returncode in (1, 2), (result.returncode, result.stdout[-500:])
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip() or result.stdout.strip()
