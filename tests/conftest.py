"""Suite-wide setup: run logs and the run lock go to temp dirs, fixture roles are on the
roles path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.paths import FIXTURE_ROLES

pytest_plugins = ["tests.helpers.fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (`make test` runs `-n 2 --dist loadgroup`), every integration test goes to
    one worker, in file order: they share the bundles built once per session and each uses
    the machine's two cores; the unit tests run on the other worker meanwhile."""
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.xdist_group("hosts"))


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
