"""Every catalog component has its own host check (tests/components/<name>.py), and the
all-in-one tests run them all."""

from __future__ import annotations

from tests.components import CATALOG, CHECKS


def test_every_component_has_a_check_of_its_own() -> None:
    assert list(CHECKS) == list(CATALOG.components)
    assert len({check.__module__ for check in CHECKS.values()}) == len(CHECKS)
    for name, check in CHECKS.items():
        assert check.__module__ == f"tests.components.{name}"


def test_the_all_in_one_mode_installs_and_checks_every_component() -> None:
    assert set(CATALOG.modes["all-in-one"].components) == set(CHECKS)
