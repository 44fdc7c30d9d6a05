"""QMD's role as rendered: the collections file from the operator's configuration (with the model
paths that keep QMD from rewriting it and from reaching a model hub), its socket and the
instance each connection starts on the bundle's Node, and the index timer.

On an installed host (`check`), QMD: its index timer armed; its socket the only way in."""

from __future__ import annotations

from pathlib import Path

import yaml

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolved_catalog
from aiws.sandbox.state import SandboxState
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


def test_qmd_is_reached_through_its_socket_only_one_instance_per_connection(
    rendered: Renders,
) -> None:
    qmd = rendered["WITH_MODELS"]["qmd"]
    node = NODE["layout"]["binary"]
    socket = QMD["socket"]
    assert QMD["listen"] is None and QMD["unit"] == "aiws-qmd.socket"
    assert socket["group"] == QMD["user"] and socket["mode"] == "0660"
    # The socket: root and QMD's group connect; starting it first refreshes the index.
    assert qmd.unit is not None and qmd.unit["name"] == "aiws-qmd.socket"
    lines = str(qmd.unit["content"]).splitlines()
    for line in (f"ListenStream={socket['path']}", "Accept=yes", "SocketUser=root",
                 f"SocketGroup={QMD['user']}", "SocketMode=0660",
                 "Wants=aiws-qmd-index.service", "After=sysinit.target aiws-qmd-index.service",
                 "DefaultDependencies=no", "WantedBy=multi-user.target"):  # fmt: skip
        assert line in lines, (line, lines)
    # Each connection: `qmd mcp` on stdio as QMD's account, no IP at all, never restarted
    # or enabled on its own.
    assert qmd.service is not None and qmd.service["name"] == socket["instance"]
    instance = str(qmd.service["content"]).splitlines()
    assert f"ExecStart={node} {QMD['layout']['cli']} mcp" in instance
    for line in (f"User={QMD['user']}", "StandardInput=socket", "StandardOutput=socket",
                 "IPAddressDeny=any", f"ReadWritePaths={QMD['paths']['state']}"):  # fmt: skip
        assert line in instance, (line, instance)
    assert not [line for line in instance if line.startswith(("IPAddressAllow", "Restart="))]
    assert "[Install]" not in instance
    unit = qmd.parts["unit"]
    env = dict(d.removeprefix("Environment=").split("=", 1) for d in unit["directives"]
               if d.startswith("Environment="))  # fmt: skip
    assert env["QMD_CONFIG_DIR"] == str(Path(QMD["layout"]["collections"]).parent)
    assert env["XDG_CACHE_HOME"] == QMD["layout"]["cache"]
    assert env["HOME"] == QMD["paths"]["state"]
    # The record names the socket and the template (uninstall stops and removes both).
    assert qmd.record["units"][:2] == ["aiws-qmd.socket", "aiws-qmd@.service"]
    # V8's JIT needs writable and executable memory.
    assert not any("MemoryDenyWriteExecute" in h for h in QMD["hardening"])


def test_the_timer_starts_the_oneshot_index_service(
    rendered: Renders,
) -> None:
    units = {unit["name"]: unit for unit in rendered["WITH_MODELS"]["qmd"].units}
    assert sorted(units) == ["aiws-qmd-index.service", "aiws-qmd-index.timer", "aiws-qmd@.service"]
    assert units["aiws-qmd-index.timer"].get("start") is True
    timer = units["aiws-qmd-index.timer"]["content"]
    assert "Unit=aiws-qmd-index.service" in timer and "OnUnitActiveSec=15min" in timer
    service = units["aiws-qmd-index.service"]["content"]
    assert "Type=oneshot" in service and f"User={QMD['user']}" in service
    assert service.rstrip().endswith("IPAddressDeny=any")
    assert f"ExecStart={NODE['layout']['binary']} {QMD['layout']['cli']} update" in service
    assert "TimeoutStartSec=600" in service and "After=" not in service


def check(sandbox: SandboxState) -> None:
    """QMD's index timer armed; its socket listening, 0660 root:aiws-qmd; no port of its own;
    someone outside its group is refused at connect."""
    assert inside(sandbox, "systemctl", "is-active", "aiws-qmd-index.timer") == "active"
    assert inside(sandbox, "systemctl", "is-active", "aiws-qmd.socket") == "active"
    path = QMD["socket"]["path"]
    assert inside(sandbox, "stat", "-c", "%F %a %U %G", path) == f"socket 660 root {QMD['user']}"
    assert not [line for line in inside(sandbox, "ss", "-Hltnp").splitlines() if "qmd" in line]
    assert "8181" not in inside(sandbox, "ss", "-Hltn")
    refused = inside(sandbox, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                     "python3", "-c", CONNECT, path)  # fmt: skip
    assert refused == "PermissionError", refused


# Connect to a unix socket and say how it went (the host's own python).
CONNECT = """
import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""
