"""tests/components/<name>.py are test modules (each component's render cases), though not
named test_*.py: they are also the registry of each component's host check."""

from __future__ import annotations

from pathlib import Path

import pytest

NOT_COMPONENTS = {"__init__.py", "conftest.py", "common.py"}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name not in NOT_COMPONENTS:
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None
