"""What the skeleton gives every agent (kind: agent): its binaries from the bundle's trees,
its LiteLLM key file, its launcher and its directory, and a venv only where its catalog
layout has one. (Each agent's own render cases: tests/components/<name>.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from tests.helpers.render import Renders

CATALOG = resolved_catalog(load_catalog(), "debian-12")


AGENTS = ["codex", "opencode", "gemini", "hermes"]


def test_the_agents_exec_their_platform_binaries_from_the_bundle_trees() -> None:
    """codex-acp and opencode run as binaries placed at build time (no Node, no cpu in the
    path); neither needs the node component."""
    for name, placed in {
        "codex": "node_modules/@zed-industries/codex-acp/bin/codex-acp",
        "opencode": "node_modules/opencode-ai/bin/opencode.exe",
    }.items():
        component = CATALOG["components"][name]
        runtime = f"{component['runtime_root']}/{component['version']}"
        assert component["layout"]["binary"] == f"{runtime}/{placed}"
        assert component["layout"]["launcher"] == f"{runtime}/bin/aiws-{name}-acp"
        assert component["requires"] == ["litellm"]
        bundle = load_catalog().component(name).bundle
        assert bundle is not None and bundle.place_binary is not None
        assert bundle.place_binary.to == placed and bundle.entry_points == [placed]


@pytest.mark.parametrize("name", AGENTS)
def test_every_agent_gets_the_skeleton_s_key_file_launcher_and_directory(
    rendered: Renders, name: str
) -> None:
    """What the skeleton gives each agent, whatever its role says: its LiteLLM key file
    (0640, its group), its launcher (0755) in a root-owned directory, both in its record."""
    agent = rendered["MOCK_ONLY"][name]
    component = CATALOG["components"][name]
    key = agent.files[f"{component['paths']['config']}/litellm.key"]
    assert key["content"] == f"@AIWS_SECRET(litellm-key-{name})@\n"
    assert (key["mode"], key["group"]) == ("0640", component["user"])
    launcher = component["layout"]["launcher"]
    assert agent.files[launcher]["mode"] == "0755"
    assert {"path": str(Path(launcher).parent), "owner": "root", "group": "root",
            "mode": "0755"} in agent.directories  # fmt: skip
    assert set(agent.record["files"]) == set(agent.files)
    assert agent.unit is None and agent.units == []


def test_only_hermes_of_the_agents_builds_a_venv(rendered: Renders) -> None:
    """The venv step comes from the catalog's layout (a wheelhouse), not from the role: its
    contents are prebuilt, the host only adds its python3 links (never --clear)."""
    steps = {name: rendered["NOTHING"][name].init for name in AGENTS}
    venv = CATALOG["components"]["hermes"]["layout"]["venv"]
    (step,) = steps.pop("hermes")
    assert step["creates"] == f"{venv}/pyvenv.cfg"
    assert step["argv"] == ["/usr/bin/python3", "-m", "venv", "--without-pip", venv]
    assert all(step == [] for step in steps.values()), steps
