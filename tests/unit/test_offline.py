"""The unit tests run without a network: none of them starts a package registry's client.
Whatever needs a download (real bundles, the OpenBao binary) is an integration test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
# A registry client started with a command that fetches, written as an argv list: pip
# download, npm install, apt-get update and the like.
FETCHING = re.compile(
    r"""["'](pip3?|npm|apt-get|apt)["'],\s*["'](download|install|pack|view|update|fetch)["']"""
)


@pytest.mark.parametrize("path", sorted(UNIT.glob("test_*.py")), ids=lambda p: p.name)
def test_no_unit_test_starts_a_registry_download(path: Path) -> None:
    found = FETCHING.search(path.read_text(encoding="utf-8"))
    assert found is None, f"{path.name} runs `{found and found.group(0)}`: move it to integration"
