"""Where the test suite's own fixture content lives."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_ROLES = FIXTURES / "ansible" / "roles"
FIXTURE_PLAYBOOKS = FIXTURES / "ansible" / "playbooks"
