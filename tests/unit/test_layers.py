"""The import layers of pyproject.toml ([tool.importlinter]) hold, and the check run by
`make lint` fails when a lower layer imports a higher one: it runs on a copy of the package
with one such import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.bundles import PROJECT as REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    # a wide terminal: the report wraps a long contract name, "BROKEN" then ends another line
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "400"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")],
        cwd=src, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "aiws", src / "aiws",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return src


def _add_import(src: Path, module: str, imported: str) -> None:
    path = src / (module.replace(".", "/") + ".py")
    assert path.is_relative_to(src)
    path.write_text(path.read_text() + f"\nimport {imported}  # added by the test\n")


def test_the_package_keeps_its_layers(package_copy: Path) -> None:
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [
        ("aiws.model.catalog", "aiws.cli.main", "cli -> commands"),
        ("aiws.ansible.driver", "aiws.commands.install", "cli -> commands"),
        ("aiws.guard.checks", "aiws.ansible.driver", "cli -> commands"),  # siblings: independent
        ("aiws.errors", "aiws.model.catalog", "errors, timing, resources and concurrency"),
        ("aiws.module_utils.aiws_common", "aiws.errors", "target code imports only target code"),
    ],
)
def test_an_import_against_the_layers_fails_the_check(
    package_copy: Path, module: str, imported: str, contract: str
) -> None:
    _add_import(package_copy, module, imported)
    result = _lint(package_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout[-3000:]
    assert f"{module} -> {imported}" in result.stdout, result.stdout[-3000:]
