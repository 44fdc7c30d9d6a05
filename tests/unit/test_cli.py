"""The CLI contract: help everywhere, stable exit codes, one-line errors, JSON that parses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from aiws.cli.main import app
from aiws.model.catalog import load_catalog
from tests.helpers.cli import aiws
from tests.helpers.paths import FIXTURES

BAD_CONFIG = FIXTURES / "config" / "unknown-key.yml"

ROOT = typer.main.get_command(app)


def all_commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "commands"):  # a group (Typer vendors its own click classes)
        for name, sub in command.commands.items():
            found += all_commands(sub, (*path, name))
    return found


COMMANDS = all_commands(ROOT)


def test_the_contracted_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"install", "status", "uninstall", "preflight", "versions"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "aiws")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    assert command.help or command.short_help, f"{path} has no help text"
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"option {param.opts} of {path} has no help text"


def test_install_options_are_the_contract() -> None:
    install = ROOT.commands["install"]
    opts = {opt for p in install.params for opt in p.opts}
    assert {
        "--mode",
        "--bundle",
        "--inventory",
        "--domain",
        "--only",
        "--set",
        "--check",
        "--json",
    } <= opts


def test_unknown_mode_exits_2_with_one_line_naming_the_modes() -> None:
    result = aiws("install", "--mode", "nonsense")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown mode 'nonsense'" in lines[0]
    assert "valid modes: all-in-one, core, local" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["install", "--mode", "core", "--only", "redis"], "unknown component 'redis'"),
        (["install", "--mode", "core", "--set", "novalue"], "is not KEY=VALUE"),
        (["install", "--mode", "core", "--set", "aiws_run=x"], "not a key aiws accepts"),
        (["install", "--mode", "all-in-one"], "no domain was given"),
        # No mode, and no earlier install on this host to repeat.
        (["install"], "no --mode given and no earlier install"),
        (["install", "--acme", "--domain", "bridge.example.com"], "no --mode given"),
        (["install", "--mode", "core", "--domain", "bridge"], "not a fully qualified domain name"),
        (
            [
                "install",
                "--mode",
                "core",
                "--domain",
                "bridge.example.com",
                "--internal-ca",
                "--backend",
                "docker",
                "--backend",
                "k3s",
            ],
            "cannot be used together",
        ),
        (
            [
                "install",
                "--mode",
                "core",
                "--inventory",
                "/nonexistent/hosts.ini",
                "--domain",
                "bridge.example.com",
                "--internal-ca",
            ],
            "inventory /nonexistent/hosts.ini does not exist",
        ),
        (["uninstall", "--purge"], "add --yes to confirm"),
        (
            ["install", "--mode", "core", "--config", "/nonexistent/aiws.yml"],
            "no such configuration",
        ),
        (
            ["install", "--mode", "core", "--config", str(BAD_CONFIG)],
            "models[0].colour: unknown key",
        ),
        (
            ["install", "--mode", "core", "--config", str(FIXTURES / "config" / "malformed.yml")],
            "malformed.yml: line 3:",
        ),
    ],
)
def test_refusals_exit_2_before_touching_the_host(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_dir, run_dir = tmp_path / "logs", tmp_path / "run"
    monkeypatch.setenv("AIWS_LOG_DIR", str(log_dir))
    monkeypatch.setenv("AIWS_RUN_DIR", str(run_dir))
    before = host_state(log_dir, run_dir)
    result = aiws(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    # Refused before anything: no Ansible run started (each gets a log dir under runs/), the
    # run lock not even taken, aiws's paths on this host as they were.
    assert not (log_dir / "runs").exists()
    assert host_state(log_dir, run_dir) == before


def host_state(*dirs: Path) -> dict[str, tuple[int, int, int, int] | None]:
    """Every entry under `dirs`, and aiws's own paths on this host (the catalog's runtime,
    config, state, log, secrets, ledger and cache), each as (mode, owner, size, mtime)."""
    paths = [Path(p) for p in load_catalog().paths.model_dump().values()]
    for root in dirs:
        paths += [root, *(root.rglob("*") if root.is_dir() else [])]
    state: dict[str, tuple[int, int, int, int] | None] = {}
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            state[str(path)] = None
            continue
        state[str(path)] = (info.st_mode, info.st_uid, info.st_size, info.st_mtime_ns)
    return state


def test_click_usage_errors_also_exit_2() -> None:
    assert aiws("install").returncode == 2  # --mode is required
    assert aiws("frobnicate").returncode == 2


def test_versions_json_reads_the_catalog() -> None:
    result = aiws("versions", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    catalog = load_catalog()
    assert {row["component"]: row["version"] for row in data["components"]} == {
        name: c.version for name, c in catalog.components.items()
    }


def test_version_flag() -> None:
    result = aiws("--version")
    assert result.returncode == 0 and result.stdout.startswith("aiws 0.")


def test_preflight_on_this_host_uses_real_facts() -> None:
    result = aiws("preflight", "--mode", "local", "--json")
    data = json.loads(result.stdout)
    codes = [f["code"] for f in data["hosts"]["localhost"]["findings"]]
    pid1 = Path("/proc/1/comm").read_text().strip()
    if pid1 == "systemd":
        assert "host.systemd" not in codes
    else:  # this VM and CI: the guard must refuse the systemd backend
        assert result.returncode == 2 and "host.systemd" in codes and data["ok"] is False
