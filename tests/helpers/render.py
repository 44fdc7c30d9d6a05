"""One render harness for every component: the real Ansible on this machine runs the skeleton
(roles/component, tasks/render.yml: the role's render hook, checked against the parts
contract) and the skeleton's own defaults for each component, and hands back what the
component step would write and run on a host. Nothing is changed; no Jinja is emulated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiws.ansible.driver import RunResult, run_playbook
from aiws.commands.install import agent_models_of
from aiws.model.catalog import load_catalog
from aiws.model.config import OperatorConfig
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog

CATALOG = load_catalog()
PLAY = """
- hosts: all
  gather_facts: false
  vars:
    aiws_endpoints: "{{ aiws_catalog | aiws_endpoints(groups, hostvars, inventory_hostname) }}"
  tasks:
    - name: Render each component through the skeleton
      ansible.builtin.include_tasks: one.yml
      loop: "{{ render_components }}"
      loop_control: {loop_var: aiws_component}
"""
ONE = """
- name: Render one component
  vars:
    component_facts: "{{ aiws_catalog.components[aiws_component] }}"
  block:
    - ansible.builtin.include_role: {name: component, tasks_from: render.yml, public: true}
    # A fact named aiws_* reaches the run's result (aiws.ansible.driver): no file, no
    # module call (which costs more than a component's render).
    - ansible.builtin.set_fact:
        aiws_rendered: >-
          {{ aiws_rendered | default({}) | combine({aiws_component:
               component_step | combine({'parts': component_parts_resolved})}) }}
"""


@dataclass(frozen=True)
class Rendered:
    """What the component step gets for one component."""

    parts: dict[str, Any]  # the role's own, as the contract completed them
    files: dict[str, dict[str, Any]]  # dest -> {content, mode, group}
    directories: list[dict[str, Any]]
    prepare_files: list[dict[str, Any]]
    init: list[dict[str, Any]]
    unit: dict[str, Any] | None
    units: list[dict[str, Any]]
    restart: bool
    checks: list[dict[str, Any]]
    record: dict[str, Any]

    def text(self, dest: str) -> str:
        return str(self.files[dest]["content"])

    @property
    def service(self) -> dict[str, Any] | None:
        """The unit that runs the service: its unit, or for a socket-activated one the
        instance template each connection starts."""
        if self.unit is not None and str(self.unit["name"]).endswith(".socket"):
            return next(u for u in self.units if str(u["name"]).endswith("@.service"))
        return self.unit


# config name -> component -> what it renders (tests/unit/conftest.py's `rendered`)
Renders = dict[str, dict[str, Rendered]]


def run_vars(config: OperatorConfig, **more: Any) -> dict[str, Any]:
    """`aiws_run` as `aiws install` builds it, for the parts the roles read (every component
    selected unless `components` says otherwise)."""
    return {
        "components": list(CATALOG.components),
        "installed": [],
        "config": config.model_dump(mode="json"),
        "served_models": config.model_names(),
        "agent_models": agent_models_of(config, CATALOG),
        "purge": False,
        "domain": "",
        "internal_ca": False,
        **more,
    }


def render(
    tmp_path: Path,
    names: list[str],
    config: OperatorConfig | None = None,
    catalog: dict[str, Any] | None = None,
    **run: Any,
) -> dict[str, Rendered]:
    """The components `names`, rendered in one Ansible run; `run` overrides `aiws_run`'s
    entries (e.g. components, installed, domain); `catalog` the resolved catalog (a test's
    own ports and paths)."""
    config = config or OperatorConfig()
    (tmp_path / "one.yml").write_text(ONE)
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAY)
    extravars = {
        "aiws_catalog": catalog or resolved_catalog(CATALOG, "debian-12"),
        "aiws_run": run_vars(config, **run),
        "render_components": names,
    }
    result = run_playbook(playbook, Hosts(), extravars, keep_logs=False)
    if not result.ok:
        raise RenderFailed(result)
    results = result.facts["localhost"]["aiws_rendered"]
    rendered = {}
    for name in names:
        raw = results[name]
        files = {f["dest"]: f for f in raw.pop("files")}
        rendered[name] = Rendered(files=files, **raw)
    return rendered


MODEL = {"name": "gpt", "model": "gpt-4.1", "provider": "openai", "api_key_secret": "k"}
# The runs the unit tests read, each rendered once per session (tests/unit/conftest.py):
# the operator's models with the test models and QMD collections; the offline mock only,
# with a domain and the internal CA; nothing at all.
COLLECTIONS = [
    {"name": "notes", "path": "/srv/notes", "glob": "**/*.md"},
    {"name": "wiki", "path": "/srv/wiki: odd", "glob": "*.markdown"},
]
CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "WITH_MODELS": (
        {"models": [MODEL, {**MODEL, "name": "other"}], "litellm": {"test_models": True},
         "qmd": {"collections": COLLECTIONS}},
        {},
    ),
    "MOCK_ONLY": (
        {"models": [], "litellm": {"test_models": True}},
        {"domain": "bridge.example.com", "internal_ca": True},
    ),
    "NOTHING": ({"models": [], "litellm": {"test_models": False}}, {}),
}  # fmt: skip


def render_configs(tmp_path_factory: Any) -> Renders:
    """Every component, for each of CONFIGS: config name -> component -> Rendered. The runs
    are independent Ansible processes: side by side they take the time of about two."""

    def one(key: str) -> dict[str, Rendered]:
        config, run = CONFIGS[key]
        where = tmp_path_factory.mktemp(key.lower())
        return render(where, list(CATALOG.components), OperatorConfig.model_validate(config), **run)

    with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
        return dict(zip(CONFIGS, pool.map(one, CONFIGS), strict=True))


class RenderFailed(AssertionError):
    def __init__(self, result: RunResult):
        self.result = result
        super().__init__("; ".join(f.line for f in result.failures))
