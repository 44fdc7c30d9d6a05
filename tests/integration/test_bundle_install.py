"""`aiws install --bundle` refuses a bundle it must not use before the host changes at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers.bundles import build
from tests.helpers.cli import aiws

pytestmark = pytest.mark.integration
SELECTION = ["--mode", "core", "--only", "postgresql,vault"]
AIWS_PATHS = ("/opt/aiws", "/etc/aiws", "/var/lib/aiws", "/var/cache/aiws")


def untouched(sandbox: SandboxState) -> list[str]:
    """aiws paths that exist on the host (none may, after a refusal)."""
    return [p for p in AIWS_PATHS if host.run_in(sandbox, ["test", "-e", p]).returncode == 0]


def test_a_bundle_for_another_target_is_refused_before_any_change(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    bundle = build("debian-12-arm64", ["vault"], tmp_path).package
    done = aiws("install", *SELECTION, "--bundle", str(bundle), "-i", str(sandbox.inventory))
    assert done.returncode == 2, done.stderr
    assert "the bundle is for debian-12-arm64, this host is debian-12-amd64" in done.stderr
    assert "aiws bundle build --target debian-12-amd64" in done.stderr
    assert untouched(sandbox) == []


def test_a_truncated_bundle_is_refused_before_any_change(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    built = build("debian-12-amd64", ["vault"], tmp_path / "good").package
    broken = tmp_path / built.name
    broken.write_bytes(built.read_bytes()[: built.stat().st_size // 2])
    shutil.copy(built.with_name(built.name + ".sha256"), tmp_path)
    done = aiws("install", *SELECTION, "--bundle", str(broken), "-i", str(sandbox.inventory))
    assert done.returncode == 1
    assert f"{broken.name}: SHA256" in done.stderr and "nothing was unpacked" in done.stderr
    assert untouched(sandbox) == []
