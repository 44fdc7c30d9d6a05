"""The unified summary, rendered from a real ledger, a real run result and real probes."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from aiws.ansible import driver
from aiws.commands.status import probe
from aiws.commands.summary import (
    DeploySummary,
    FirstToken,
    TrustAnchor,
    build_summary,
    render_summary,
)
from aiws.model.catalog import Catalog, Listen, load_catalog
from aiws.model.hosts import Hosts
from aiws.timing import PhaseTime
from tests.helpers.paths import FIXTURE_PLAYBOOKS

pytestmark = pytest.mark.integration


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bridge_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def catalog_for(tmp_path: Path, bridge_port: int) -> Catalog:
    """The real catalog, with the ledger in tmp_path and the Bridge on a free port."""
    base = load_catalog()
    bridge = base.components["bridge"].model_copy(
        update={"listen": Listen(host="127.0.0.1", port=bridge_port)}
    )
    return base.model_copy(
        update={
            "paths": base.paths.model_copy(update={"ledger": str(tmp_path / "state.json")}),
            "components": {**base.components, "bridge": bridge},
        }
    )


@pytest.fixture
def summary(pieces: dict[str, Any]) -> DeploySummary:
    return build_summary(**pieces)


@pytest.fixture
def pieces(tmp_path: Path, bridge_port: int) -> dict[str, Any]:
    """What build_summary gets after a real run of the ledger demo playbook."""
    catalog = catalog_for(tmp_path, bridge_port)
    run = driver.run_playbook(
        FIXTURE_PLAYBOOKS / "ledger_demo.yml",
        Hosts(),
        {
            "demo_dest": str(tmp_path / "demo"),
            "ledger_path": catalog.paths.ledger,
            "ledger_components": [
                {"name": "bridge", "version": "0.1.0", "units": ["aiws-bridge.service"]},
                # A runtime's record as roles/component writes it: its tree and its binary.
                {
                    "name": "node",
                    "version": "24.21.0",
                    "record": {
                        "runtime": [str(tmp_path / "demo")],
                        "files": [str(tmp_path / "demo")],
                    },
                },
            ],
        },
    )
    assert run.ok, run.failures
    status = probe(Hosts(), catalog)
    return {
        "catalog": catalog,
        "mode": "local",
        "selection": ["node", "bridge"],
        "run": run,
        "status": status,
        "phases": [
            PhaseTime(name="guard", seconds=0.01),
            *[PhaseTime(name=p.name, seconds=p.seconds) for p in run.phases],
        ],
    }


def test_summary_rows_come_from_ledger_run_and_probes(
    summary: DeploySummary, bridge_port: int
) -> None:
    rows = {row.name: row for row in summary.components}
    assert set(rows) == {"node", "bridge"}
    # It answers HTTP 200, but its systemd unit is not active (no systemd here): a service
    # only counts as healthy when both hold.
    assert rows["bridge"].health == "unhealthy" and rows["bridge"].state != "active"
    assert rows["bridge"].detail == f"HTTP 200 from http://127.0.0.1:{bridge_port}/"
    assert (
        rows["bridge"].version == "0.1.0" and rows["bridge"].address == f"127.0.0.1:{bridge_port}"
    )
    assert rows["node"].state == "installed" and rows["node"].health == "healthy"
    assert summary.run.ok and summary.run.changed_total == summary.run.changed_total > 0
    assert [a.url for a in summary.access] == [f"http://127.0.0.1:{bridge_port}/"]
    assert not summary.access[0].public
    assert "one_time" not in summary.credentials.model_dump()  # no slot for secret values
    assert [p.name for p in summary.phases][:2] == ["guard", "demo"]


def test_summary_renders_for_humans(summary: DeploySummary) -> None:
    console = Console(record=True, width=140, color_system=None)
    render_summary(summary, console)
    text = console.export_text()
    assert "aiws install --mode local on localhost: OK" in text
    assert "Access" in text and "local only" in text
    assert "stored under /var/lib/aiws/secrets" in text
    assert "bridge" in text and "unhealthy" in text and "24.21.0" in text
    assert "Phases guard 0.0s, demo" in text
    assert "Bundle none given" in text


def test_summary_json_is_valid_against_its_schema(summary: DeploySummary) -> None:
    document = json.loads(summary.model_dump_json())
    jsonschema.validate(document, DeploySummary.model_json_schema())
    assert DeploySummary.model_validate(document) == summary
    assert document["schema_version"] == 1 and document["run"]["verb"] == "install"
    broken = {**document, "components": [{"name": "x"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, DeploySummary.model_json_schema())


def test_the_first_bridge_token_is_shown_escaped_and_only_when_made(
    summary: DeploySummary,
) -> None:
    assert summary.bridge_tokens == []  # no Bridge in this run: no token
    made = summary.model_copy(
        update={"bridge_tokens": [FirstToken(host="h[red]1", name="first", token="t[bold]k")]}
    )
    console = Console(record=True, width=200, color_system=None)
    render_summary(made, console)
    text = console.export_text()
    assert "Bridge token first on h[red]1: t[bold]k" in text and "shown this once" in text


def test_the_internal_ca_is_named_escaped_and_only_with_caddy(summary: DeploySummary) -> None:
    assert summary.trust == []  # no Caddy in this run: no CA to trust
    anchored = summary.model_copy(
        update={"trust": [TrustAnchor(host="h[red]1", ca_certificate="/var/lib/[b]root.crt")]}
    )
    console = Console(record=True, width=200, color_system=None)
    render_summary(anchored, console)
    text = console.export_text()
    assert "Internal CA on h[red]1: /var/lib/[b]root.crt" in text
    assert "copy it to each client" in text


def test_each_component_says_what_the_run_does_to_its_version(pieces: dict[str, Any]) -> None:
    """The plan's host facts (the versions recorded before the run) against the bundle's:
    new, unchanged, upgrade A -> B, downgrade A -> B; the human summary lists the moves."""
    node = pieces["catalog"].components["node"].version
    rows = {
        row.name: row.change
        for row in build_summary(
            **pieces, installed_before={"localhost": {"bridge": "0.0.9", "node": node}}
        ).components
    }
    assert rows == {"bridge": "upgrade 0.0.9 -> 0.1.0", "node": "unchanged"}
    downgraded = build_summary(**pieces, installed_before={"localhost": {"bridge": "0.2.0"}})
    assert {row.name: row.change for row in downgraded.components} == {
        "bridge": "downgrade 0.2.0 -> 0.1.0",
        "node": "new",
    }
    console = Console(record=True, width=140, color_system=None)
    render_summary(downgraded, console)
    assert "Versions node: new, bridge: downgrade 0.2.0 -> 0.1.0; 0 unchanged" in (
        console.export_text()
    )
    first = build_summary(**pieces, installed_before={"localhost": {}})
    assert {row.change for row in first.components} == {"new"}
    console = Console(record=True, width=140, color_system=None)
    render_summary(first, console)  # a first install: every row new, no Versions line
    assert "Versions" not in console.export_text()
