"""roles/bundle in a fresh Debian 12 sandbox with no network: ship, check, unpack, rerun;
then the controller bootstraps itself offline from its tarball."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiws.ansible.driver import run_playbook
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.verify import VerifiedArtifact, verify_bundle
from aiws.commands import hostfacts
from aiws.model.catalog import load_catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from tests.helpers.bundles import build
from tests.helpers.hosts import inside

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = """\
- name: Unpack the bundle
  hosts: all
  gather_facts: false
  roles:
    - role: bundle
"""


def role_vars(artifacts: list[VerifiedArtifact]) -> dict[str, Any]:
    """What the installer gives the role for a remote host: every tarball to ship."""
    catalog = load_catalog()
    upload = f"{catalog.paths.cache}/bundle"
    return {
        "aiws_catalog": resolved_catalog(catalog, "debian-12"),
        "aiws_bundle": {
            "local": False,
            "upload_dir": upload,
            "unpack": [
                {
                    "name": a.name,
                    "version": a.version,
                    "sha256": a.sha256,
                    "tarball": str(a.tarball),
                    "src": f"{upload}/{a.tarball.name}",
                    "dest": f"{catalog.paths.runtime}/{a.name}/{a.version}",
                }
                for a in artifacts
            ],
        },
    }


def still_missing(target: Hosts, artifacts: list[VerifiedArtifact]) -> list[VerifiedArtifact]:
    """The installer's rule: ship what a host's unpack markers do not name."""
    catalog = load_catalog()
    where = [
        {"name": a.name, "dest": f"{catalog.paths.runtime}/{a.name}/{a.version}"} for a in artifacts
    ]
    (facts,) = hostfacts.gather(target, catalog, where).values()
    return [a for a in artifacts if facts.unpacked.get(a.name) != a.sha256]


def test_role_unpacks_verified_tarballs_idempotently_and_bootstraps_offline(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    result = build("debian-12-amd64", ["node", "vault", CONTROLLER], tmp_path / "out")
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    playbook = tmp_path / "bundle.yml"
    playbook.write_text(PLAYBOOK)
    extravars = role_vars(list(bundle.artifacts))
    target = Hosts(inventory=sandbox.inventory)

    first = run_playbook(playbook, target, extravars)
    assert first.ok, [f.line for f in first.failures]
    assert "2.7.2" in inside(sandbox, "/opt/aiws/vault/2.7.2/bin/bao", "version")
    assert inside(sandbox, "/opt/aiws/node/24.21.0/bin/node", "--version") == "v24.21.0"
    assert inside(sandbox, "ls", "/var/cache/aiws/bundle") == ""

    # The rerun as the installer makes it: the host's unpack markers say nothing is missing.
    rerun = run_playbook(playbook, target, role_vars(still_missing(target, bundle.artifacts)))
    assert rerun.ok, [f.line for f in rerun.failures]
    assert rerun.totals().changed == 0
    # The role alone, given every tarball again, uploads them (one changed task) but
    # unpacks nothing: the markers match.
    again = run_playbook(playbook, target, extravars)
    assert again.ok and again.changed_by_role() == {"bundle": 1}
    assert inside(sandbox, "ls", "/var/cache/aiws/bundle") == ""

    # The sandbox has no network and no python3-venv: bootstrap.sh puts the prebuilt
    # controller in place with python3 alone, and a second run keeps it.
    bootstrap = f"/opt/aiws/controller/{bundle.for_component(CONTROLLER).version}/bootstrap.sh"
    assert inside(sandbox, "sh", bootstrap, "--version", timeout=600).startswith("aiws ")
    assert "bundle" in inside(sandbox, "/opt/aiws/controller/venv/bin/aiws", "--help")
    made = inside(sandbox, "stat", "-c", "%i", "/opt/aiws/controller/venv/bin/aiws")
    assert inside(sandbox, "sh", bootstrap, "--version", timeout=600).startswith("aiws ")
    assert inside(sandbox, "stat", "-c", "%i", "/opt/aiws/controller/venv/bin/aiws") == made
    # Another controller's venv in place (an older bundle's) is replaced, not reused.
    inside(sandbox, "sh", "-c", "echo older > /opt/aiws/controller/venv/.aiws-sums")
    assert inside(sandbox, "sh", bootstrap, "--version", timeout=600).startswith("aiws ")
    assert inside(sandbox, "stat", "-c", "%i", "/opt/aiws/controller/venv/bin/aiws") != made
    assert inside(sandbox, "ls", "/opt/aiws/controller") == "\n".join(
        sorted([bundle.for_component(CONTROLLER).version, "venv"]))  # fmt: skip


def test_role_refuses_a_tarball_that_changed_on_the_way(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    result = build("debian-12-amd64", ["vault"], tmp_path / "out")
    (artifact,) = verify_bundle(result.package, tmp_path / "unpacked").artifacts
    playbook = tmp_path / "bundle.yml"
    playbook.write_text(PLAYBOOK)
    data = bytearray(artifact.tarball.read_bytes())
    data[-100] ^= 0x01
    artifact.tarball.write_bytes(bytes(data))
    extravars = role_vars([artifact])
    run = run_playbook(playbook, Hosts(inventory=sandbox.inventory), extravars)
    assert not run.ok
    assert any("does not match the bundle manifest" in f.line for f in run.failures)
    assert host.run_in(sandbox, ["test", "-e", "/opt/aiws/vault"]).returncode == 1
