"""QMD's role as rendered: the collections file from the operator's configuration (with the model
paths that keep QMD from rewriting it and from reaching a model hub), the unit on the bundle's
Node, and the index timer.

On an installed host (`check`), QMD: its index timer armed; on loopback only."""

from __future__ import annotations

from pathlib import Path

import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from aiws.sandbox.state import SandboxState
from tests.components.common import listens_on_loopback_only
from tests.helpers.hosts import inside
from tests.helpers.render import Renders

CATALOG = resolved_catalog(load_catalog(), "debian-12")


QMD = CATALOG["components"]["qmd"]


NODE = CATALOG["components"]["node"]


def test_the_collections_file_lists_each_collection_and_local_models(
    rendered: Renders,
) -> None:
    index = yaml.safe_load(rendered["WITH_MODELS"]["qmd"].text(QMD["layout"]["collections"]))
    assert index["collections"] == {
        "notes": {"path": "/srv/notes", "pattern": "**/*.md"},
        "wiki": {"path": "/srv/wiki: odd", "pattern": "*.markdown"},
    }
    # Local paths, never a hub URI: a model call fails at once instead of waiting on the
    # network; all three set, so QMD finds nothing to add and never rewrites the file.
    models = QMD["layout"]["models"]
    assert set(index["models"]) == {"embed", "generate", "rerank"}
    assert all(path.startswith(f"{models}/") for path in index["models"].values())


def test_no_collections_is_an_empty_mapping(rendered: Renders) -> None:
    index = yaml.safe_load(rendered["NOTHING"]["qmd"].text(QMD["layout"]["collections"]))
    assert index["collections"] == {}


def test_the_unit_runs_qmd_on_the_bundles_node_on_loopback(
    rendered: Renders,
) -> None:
    unit = rendered["WITH_MODELS"]["qmd"].parts["unit"]
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


def test_the_timer_starts_the_oneshot_index_service(
    rendered: Renders,
) -> None:
    units = {unit["name"]: unit for unit in rendered["WITH_MODELS"]["qmd"].units}
    assert sorted(units) == ["aiws-qmd-index.service", "aiws-qmd-index.timer"]
    assert units["aiws-qmd-index.timer"].get("start") is True
    timer = units["aiws-qmd-index.timer"]["content"]
    assert "Unit=aiws-qmd-index.service" in timer and "OnUnitActiveSec=15min" in timer
    service = units["aiws-qmd-index.service"]["content"]
    assert "Type=oneshot" in service and f"User={QMD['user']}" in service
    assert service.rstrip().endswith("IPAddressDeny=any")
    assert f"ExecStart={NODE['layout']['binary']} {QMD['layout']['cli']} update" in service


def check(sandbox: SandboxState) -> None:
    assert inside(sandbox, "systemctl", "is-active", "aiws-qmd-index.timer") == "active"
    listens_on_loopback_only(sandbox, "qmd")
