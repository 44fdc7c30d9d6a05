"""Suite-wide setup: run logs and the run lock go to temp dirs, fixture roles are on the
roles path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.paths import FIXTURE_ROLES

pytest_plugins = ["tests.helpers.fixtures"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never write to the controller's real /var/log/aiws, nor take (or wait for) the
    real run lock in /run/aiws."""
    patch = pytest.MonkeyPatch()
    patch.setenv("AIWS_LOG_DIR", str(tmp_path_factory.mktemp("aiws-logs")))
    patch.setenv("AIWS_RUN_DIR", str(tmp_path_factory.mktemp("aiws-run")))
    patch.setenv("AIWS_ROLES_PATH", str(FIXTURE_ROLES))
    yield
    patch.undo()
