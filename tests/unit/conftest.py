"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from tests.helpers.render import Renders, render_configs


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    """Every component through the skeleton, by the real Ansible, once per session for each
    of the configurations of tests/helpers/render.CONFIGS."""
    return render_configs(tmp_path_factory)
