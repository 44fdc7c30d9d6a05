"""Every component through the skeleton's render step (roles/component, tasks/render.yml),
run by the real Ansible on this machine with a whole run's variables (every component
selected, test models on, a domain with the internal CA): each renders, every file it would
write lies under aiws's layout or the component's own paths and has content, and a role's
parts are held to the skeleton's contract: a part it misspells fails the render by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiws.model.parts import PARTS, role_parts
from aiws.model.resolve import resolved_catalog
from tests.helpers.render import CATALOG, RenderFailed, Renders, render

RESOLVED = resolved_catalog(CATALOG, "debian-12")
ALL = list(CATALOG.components)


def test_every_component_has_a_render_hook() -> None:
    assert [name for name, c in RESOLVED["components"].items() if not c["hooks"]["render"]] == []


@pytest.mark.parametrize("name", ALL)
def test_the_component_renders_inside_its_own_paths(rendered: Renders, name: str) -> None:
    mine = rendered["MOCK_ONLY"][name]
    assert mine.files or mine.checks, name
    roots = (RESOLVED["paths"]["runtime"], RESOLVED["paths"]["config"], "/etc/", "/usr/")
    for dest, rendered_file in mine.files.items():
        assert dest.startswith(roots), dest
        assert str(rendered_file["content"]).strip(), dest
    kind = CATALOG.component(name).kind
    assert (mine.unit is not None) == (kind == "service"), name
    assert bool(mine.parts["launcher"]) == (kind == "agent"), name


def _role_with_parts(tmp_path: Path, parts: str) -> Path:
    """A stand-in for roles/hermes, found first (the playbook's own roles/ directory)."""
    tasks = tmp_path / "roles" / "hermes" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "render.yml").write_text(
        f"- ansible.builtin.set_fact:\n    hermes_parts: {parts}\n", encoding="utf-8"
    )
    return tmp_path


def test_a_misspelt_part_fails_the_render_by_name(tmp_path: Path) -> None:
    where = _role_with_parts(tmp_path, "{launcher: 'exec true', file: []}")
    with pytest.raises(RenderFailed, match=r"roles/hermes: hermes_parts: unknown part file"):
        render(where, ["hermes"])


def test_an_agent_without_a_launcher_fails_the_render(tmp_path: Path) -> None:
    where = _role_with_parts(tmp_path, "{files: []}")
    with pytest.raises(RenderFailed, match=r"roles/hermes: hermes_parts: an agent needs launcher"):
        render(where, ["hermes"])


def test_the_contract_in_python() -> None:
    assert role_parts("x", "runtime", {}) == {p: d for p, (_, d) in PARTS.items()}
    for kind, given, message in [
        ("service", {}, "a service needs unit"),
        ("runtime", {"unit": {}}, "unit is only for a service, not a runtime"),
        ("service", {"unit": {"exec_start": "x"}, "files": {}}, "files must be a list"),
        ("agent", {"launcher": "x", "restart": "yes"}, "restart must be a bool"),
        ("agent", [], "must be a mapping of parts"),
    ]:
        with pytest.raises(ValueError, match=message):
            role_parts("x", kind, given)
