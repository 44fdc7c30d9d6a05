"""Node, the first runtime: what the shared skeleton records for a runtime (no account, no config
or state directory, its binary as the file status checks) and how status reports a runtime from
that record.

On an installed host (`check`), Node: the bundle's binary runs on the host and is the catalog's
version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_layout, resolved_catalog
from aiws.modules import aiws_component, aiws_status
from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG as MODEL
from tests.helpers.hosts import inside
from tests.helpers.render import Renders

ROOT = Path(__file__).resolve().parents[2]


CATALOG = resolved_catalog(load_catalog(), "debian-12")


NODE = CATALOG["components"]["node"]


def test_node_exposes_its_binary_under_its_versioned_runtime_tree() -> None:
    assert NODE["kind"] == "runtime" and NODE["unit"] is None
    assert NODE["layout"]["binary"] == f"{NODE['runtime_root']}/{NODE['version']}/bin/node"
    # Every Node component needs it installed first.
    for name in ("qmd", "openclaw"):
        assert "node" in CATALOG["components"][name]["requires"], name


def test_a_runtime_is_recorded_with_its_binary_and_no_account_or_directories(
    rendered: Renders,
) -> None:
    node = rendered["NOTHING"]["node"]
    assert node.directories == [] and node.files == {}
    record = node.record
    assert record["paths"] == []  # no config or state directory exists for a runtime
    assert record["runtime"] == [NODE["runtime_root"]]
    assert record["units"] == [] and record["users"] == [] and record["groups"] == []
    assert record["files"] == [NODE["layout"]["binary"]]


def test_an_agent_still_records_its_directories_and_files(
    rendered: Renders,
) -> None:
    hermes = CATALOG["components"]["hermes"]
    record = rendered["NOTHING"]["hermes"].record
    assert record["paths"] == [hermes["paths"]["config"], hermes["paths"]["state"]]
    assert record["files"] == list(rendered["NOTHING"]["hermes"].files)
    assert hermes["layout"]["launcher"] in record["files"]


def runtime_spec() -> dict[str, Any]:
    return {"name": "node", "kind": "runtime", "unit": "", "listen": None, "health": None}


@pytest.mark.parametrize("present", [True, False], ids=["binary there", "binary gone"])
def test_status_of_a_runtime_is_its_binary(tmp_path: Path, present: bool) -> None:
    binary = tmp_path / "bin" / "node"
    if present:
        binary.parent.mkdir()
        binary.write_text("")
    record = {"version": "24.21.0", "paths": [], "runtime": [str(tmp_path)], "units": [],
              "files": [str(binary)]}  # fmt: skip
    result = aiws_status.probe_one(runtime_spec(), record, 1.0)
    assert (result["installed"], result["version"], result["unit"]) == (True, "24.21.0", "")
    assert result["healthy"] is present
    assert result["detail"] == ("files present" if present else f"missing: {binary}")


def test_an_uninstalled_runtime_is_not_installed_and_claims_no_kept_data() -> None:
    kept = {"version": "24.21.0", "paths": [], "runtime": [], "units": [], "files": []}
    result = aiws_status.probe_one(runtime_spec(), kept, 1.0)
    assert (result["installed"], result["detail"]) == (False, "uninstalled")


def test_the_node_check_runs_in_the_component_step_not_a_call_of_its_own(
    rendered: Renders,
) -> None:
    """A rerun costs Node its component call only: no started hook, the check is one of the
    parts (checks) of the skeleton's one call."""
    assert not (ROOT / "roles/node/tasks/started.yml").exists()
    skeleton_tasks = (ROOT / "roles/component/tasks/main.yml").read_text()
    assert 'checks: "{{ component_step.checks }}"' in skeleton_tasks
    assert rendered["NOTHING"]["node"].checks == [
        {"argv": [NODE["layout"]["binary"], "--version"], "stdout": f"v{NODE['version']}"}
    ]


@pytest.mark.parametrize(
    ("prints", "exit_code", "failed"),
    [("v24.21.0", 0, False), ("v18.19.0", 0, True), ("v24.21.0", 1, True)],
    ids=["the catalog's version", "another version", "exit 1"],
)
def test_the_component_step_fails_unless_its_check_prints_what_it_should(
    tmp_path: Path, prints: str, exit_code: int, failed: bool
) -> None:
    binary = tmp_path / "node"
    binary.write_text(f"#!/bin/sh\necho {prints}\nexit {exit_code}\n")
    binary.chmod(0o755)
    params = {
        "name": "node",
        "checks": [{"argv": [str(binary), "--version"], "stdout": "v24.21.0"}],
    }
    done = aiws_component.run(params)
    assert bool(done.get("failed")) is failed, done
    assert not done.get("changed")
    assert not aiws_component.run(params, check_mode=True).get("failed")  # not run in check mode


def check(sandbox: SandboxState) -> None:
    node = MODEL.component("node")
    binary = resolve_layout(MODEL, node)["binary"]
    assert inside(sandbox, binary, "--version") == f"v{node.version}"
    assert inside(sandbox, binary, "-e", "console.log(6 * 7)") == "42"
