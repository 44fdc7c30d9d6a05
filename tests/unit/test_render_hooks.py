"""Every role's render hook, run by the real Ansible on this machine with a whole run's
variables (every component selected, the default operator configuration, a domain with the
internal CA): each renders without an error, and every file it would write has a path under
aiws's layout or the component's own and some content. A variable a hook cannot resolve
(e.g. one only defined inside template lookups) fails here instead of on a host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiws.ansible.driver import run_playbook
from aiws.model.catalog import load_catalog
from aiws.model.config import OperatorConfig
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog

CATALOG = load_catalog()
RESOLVED = resolved_catalog(CATALOG, "debian-12")
WITH_RENDER = [name for name, c in RESOLVED["components"].items() if c["hooks"]["render"]]
PLAY = """
- hosts: all
  gather_facts: false
  vars:
    aiws_endpoints: "{{ aiws_catalog | aiws_endpoints(groups, hostvars, inventory_hostname) }}"
  tasks:
    - ansible.builtin.include_role: {name: "{{ component }}", tasks_from: render.yml, public: true}
    - ansible.builtin.copy:
        content: "{{ lookup('vars', component ~ '_files', default=[]) | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_every_role_with_a_render_hook_is_covered() -> None:
    assert {"postgresql", "litellm", "openclaw", "bridge", "caddy"} <= set(WITH_RENDER)


@pytest.mark.parametrize("component", WITH_RENDER)
def test_the_render_hook_renders(component: str, tmp_path: Path) -> None:
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAY)
    out = tmp_path / "files.json"
    extravars: dict[str, Any] = {
        "aiws_catalog": RESOLVED,
        "aiws_run": {
            "components": list(CATALOG.components),
            "installed": [],
            "config": OperatorConfig().model_dump(mode="json"),
            "domain": "bridge.example.com",
            "internal_ca": True,
        },
        "component": component,
        "out": str(out),
    }
    result = run_playbook(playbook, Hosts(), extravars, keep_logs=False)
    assert result.ok, [f.line for f in result.failures]
    roots = (RESOLVED["paths"]["runtime"], RESOLVED["paths"]["config"], "/etc/", "/usr/")
    for rendered in json.loads(out.read_text()):
        assert rendered["dest"].startswith(roots), rendered["dest"]
        assert rendered["content"].strip(), rendered["dest"]
