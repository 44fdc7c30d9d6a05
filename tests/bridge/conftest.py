"""The Bridge's test fixtures: Caddy's binary, and a Bridge reached directly or through
Caddy (every contract test runs both ways)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.bridge_server import TRUST, serve, write_settings
from tests.helpers.caddy import caddy_binary, running_caddy


@pytest.fixture(scope="session")
def caddy() -> Path:
    """The bundle's Caddy binary (the static one every platform gets)."""
    return caddy_binary()


@pytest.fixture(params=["direct", "through-caddy"])
def bridge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The Bridge's base URL: itself on loopback, or the HTTPS site roles/caddy configures
    in front of it (the same Caddyfile), reached by name with Caddy's CA as the only trust."""
    for direct in serve(write_settings(tmp_path, keepalive_s=0.3)):
        if request.param == "direct":
            yield direct
            continue
        binary = request.getfixturevalue("caddy")
        upstream = direct.removeprefix("http://")
        with running_caddy(binary, upstream, tmp_path / "caddy") as (base, context):
            TRUST[base] = context
            try:
                yield base
            finally:
                del TRUST[base]
