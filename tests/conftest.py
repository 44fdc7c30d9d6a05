"""Suite-wide setup: run logs and the run lock go to temp dirs, fixture roles are on the
roles path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.paths import FIXTURE_ROLES
from tests.helpers.render import Renders, render_configs

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


# Tests marked `steps` are the ordered steps of one scenario on one shared host (e.g.
# tests/integration/test_agents.py): once a step fails, the module's later steps are skipped,
# naming it, so a failure names the phase that broke and nothing after it runs on a host in
# an unknown state.
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    failed = call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception)
    if "steps" in item.keywords and failed and call.when != "teardown" and item.parent:
        item.parent.stash[_FAILED_STEP] = item.name


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "steps" in item.keywords and item.parent is not None:
        failed = item.parent.stash.get(_FAILED_STEP, None)
        if failed is not None:
            pytest.skip(f"an earlier step of this scenario failed: {failed}")


_FAILED_STEP = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    """Every component through the skeleton, by the real Ansible, once per session for each
    of the configurations of tests/helpers/render.CONFIGS."""
    return render_configs(tmp_path_factory)
