"""What every component must bring: a role (or the catalog marks it planned), a docs page,
and a role that holds only what is its own: no version, port, path, unit or secret name
that the catalog resolves for it (aiws.model.resolve)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiws import resources
from aiws.model.catalog import load_catalog

CATALOG = load_catalog()
ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
DOCS = ROOT / "docs" / "components"
BUILT = sorted(name for name, c in CATALOG.components.items() if not c.planned)


def role_text(name: str) -> str:
    files = sorted(p for p in (ROLES / name).rglob("*") if p.is_file())
    return "\n".join(f"{p.relative_to(ROLES)}:\n{p.read_text()}" for p in files)


def literals(name: str) -> list[str]:
    """What the catalog owns for a component and its role must never spell out."""
    component = CATALOG.component(name)
    found = [
        CATALOG.paths.runtime,
        CATALOG.paths.config,
        CATALOG.paths.state,
        CATALOG.paths.log,
        CATALOG.paths.secrets,
        "/etc/systemd/system",
        *(s.name for s in component.all_secrets),
    ]
    if component.unit:
        found.append(component.unit)
    if component.listen:
        found += [rf"\b{port}\b" for port in component.listen.ports]
    found.append(rf"(?<![\w.]){re.escape(component.version)}(?![\w.])")
    return found


@pytest.mark.parametrize("name", sorted(CATALOG.components))
def test_each_component_has_a_role_or_is_planned(name: str) -> None:
    assert resources.has_role(name) != CATALOG.component(name).planned, (
        f"{name}: a role and planned: true contradict each other"
        if resources.has_role(name)
        else f"{name}: no roles/{name} and not marked planned in the catalog"
    )


@pytest.mark.parametrize("name", BUILT)
def test_each_built_component_has_a_docs_page(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"docs/components/{name}.md is missing"
    assert CATALOG.component(name).description.split()[0].lower() in page.read_text().lower()


@pytest.mark.parametrize("name", BUILT)
def test_a_role_spells_out_nothing_the_catalog_resolves(name: str) -> None:
    text = role_text(name)
    for literal in literals(name):
        pattern = literal if literal.startswith(("\\b", "(?<")) else re.escape(literal)
        hit = re.search(pattern, text)
        assert hit is None, f"roles/{name} spells out {hit.group(0)!r}: take it from the catalog"


def test_the_skeleton_and_shared_roles_spell_out_no_component() -> None:
    """roles/component, base and bundle serve every component: no name of one in them."""
    text = "\n".join(role_text(name) for name in ("component", "base", "bundle"))
    for name in CATALOG.components:
        if name in ("postgresql",):  # the component step reaches the cluster it names
            continue
        assert re.search(rf"\b{name}\b", text) is None, name
