"""QMD's role as rendered: the collections file from the operator's configuration (with the
model paths that keep QMD from rewriting it and from reaching a model hub), the unit on the
bundle's Node, and the index timer."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nativetypes
import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog

ROLE = Path(__file__).resolve().parents[2] / "roles" / "qmd"
CATALOG = resolved_catalog(load_catalog(), "debian-12")
QMD = CATALOG["components"]["qmd"]
NODE = CATALOG["components"]["node"]


def filters(env: jinja2.Environment) -> None:
    env.filters["to_json"] = json.dumps
    env.filters["dirname"] = os.path.dirname
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)


def render_defaults(config: dict[str, Any]) -> dict[str, Any]:
    env = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    filters(env)
    values: dict[str, Any] = {
        "aiws_catalog": CATALOG,
        "aiws_run": {"config": config},
        "ansible_managed": "Ansible managed",
    }
    raw = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name, value in raw.items():
        values[name] = deep(env, value, values)
    return values


def deep(env: jinja2.Environment, value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return env.from_string(value).render(values)
    if isinstance(value, dict):
        return {k: deep(env, v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [deep(env, v, values) for v in value]
    return value


def render(template: str, config: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    filters(env)
    return env.from_string((ROLE / "templates" / template).read_text()).render(
        render_defaults(config)
    )


COLLECTIONS = {"qmd": {"collections": [
    {"name": "notes", "path": "/srv/notes", "glob": "**/*.md"},
    {"name": "wiki", "path": "/srv/wiki: odd", "glob": "*.markdown"},
]}}  # fmt: skip


def test_the_collections_file_lists_each_collection_and_local_models() -> None:
    index = yaml.safe_load(render("index.yml.j2", COLLECTIONS))
    assert index["collections"] == {
        "notes": {"path": "/srv/notes", "pattern": "**/*.md"},
        "wiki": {"path": "/srv/wiki: odd", "pattern": "*.markdown"},
    }
    # Local paths, never a hub URI: a model call fails at once instead of waiting on the
    # network; all three set, so QMD finds nothing to add and never rewrites the file.
    models = QMD["layout"]["models"]
    assert set(index["models"]) == {"embed", "generate", "rerank"}
    assert all(path.startswith(f"{models}/") for path in index["models"].values())


def test_no_collections_is_an_empty_mapping() -> None:
    index = yaml.safe_load(render("index.yml.j2", {"qmd": {"collections": []}}))
    assert index["collections"] == {}


def test_the_unit_runs_qmd_on_the_bundles_node_on_loopback() -> None:
    values = render_defaults(COLLECTIONS)
    unit = values["qmd_unit"]
    node = NODE["layout"]["binary"]
    listen = QMD["listen"]
    assert unit["exec_start"].split() == [
        node, QMD["layout"]["cli"], "mcp", "--http",
        "--host", listen["host"], "--port", str(listen["port"]),
    ]  # fmt: skip
    env = dict(d.removeprefix("Environment=").split("=", 1) for d in unit["directives"]
               if d.startswith("Environment="))  # fmt: skip
    assert env["QMD_CONFIG_DIR"] == str(Path(QMD["layout"]["collections"]).parent)
    assert env["XDG_CACHE_HOME"] == QMD["layout"]["cache"]
    assert env["HOME"] == QMD["paths"]["state"]
    assert f"{listen['host']}:{listen['port']}" in env["QMD_ALLOWED_HOSTS"].split(",")
    assert f"ExecStartPre={node} {QMD['layout']['cli']} update" in unit["directives"]
    # V8's JIT needs writable and executable memory.
    assert not any("MemoryDenyWriteExecute" in h for h in QMD["hardening"])


def test_the_timer_starts_the_oneshot_index_service() -> None:
    values = render_defaults(COLLECTIONS)
    assert values["qmd_index_unit"] == "aiws-qmd-index"
    timer = render("index.timer.j2", COLLECTIONS)
    assert "Unit=aiws-qmd-index.service" in timer and "OnUnitActiveSec=15min" in timer
    service = render("index.service.j2", COLLECTIONS)
    assert "Type=oneshot" in service and f"User={QMD['user']}" in service
    assert service.rstrip().endswith("IPAddressDeny=any")
    assert f"ExecStart={NODE['layout']['binary']} {QMD['layout']['cli']} update" in service
