"""PostgreSQL: a query over its socket as postgres; its TCP listener on loopback only."""

from __future__ import annotations

from aiws.sandbox.state import SandboxState
from tests.components.common import listens_on_loopback_only
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    query = "-X -At -h /run/aiws-postgresql -U postgres -d postgres -c 'select 6 * 7'"
    # The release's own major version (15 on Debian 12, 17 on Debian 13): one is installed.
    assert inside(sandbox, "sh", "-c", f"/usr/lib/postgresql/*/bin/psql {query}") == "42"
    listens_on_loopback_only(sandbox, "postgresql")
