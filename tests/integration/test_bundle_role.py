"""roles/bundle in a fresh Debian 12 sandbox with no network: ship, check, unpack, rerun;
then the controller bootstraps itself offline from its tarball."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.verify import verify_bundle
from aiws.catalog import load_catalog
from aiws.driver import run_playbook
from aiws.sandbox import host
from aiws.sandbox.state import SandboxState
from aiws.target import Target
from tests.helpers.bundles import build

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = """\
- name: Unpack the bundle
  hosts: all
  gather_facts: false
  roles:
    - role: bundle
"""


def inside(sandbox: SandboxState, *command: str, timeout: float = 60) -> str:
    done = host.run_in(sandbox, list(command), timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_role_unpacks_verified_tarballs_idempotently_and_bootstraps_offline(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    result = build("debian-12-amd64", ["node", "vault", CONTROLLER], tmp_path / "out")
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    playbook = tmp_path / "bundle.yml"
    playbook.write_text(PLAYBOOK)
    extravars = {
        "aiws_catalog": load_catalog().as_ansible_vars(),
        "bundle_artifacts": [
            {"name": a.name, "version": a.version, "tarball": str(a.tarball), "sha256": a.sha256}
            for a in bundle.artifacts
        ],
    }
    target = Target(inventory=sandbox.inventory)

    first = run_playbook(playbook, target, extravars)
    assert first.ok, [f.line for f in first.failures]
    assert "2.7.2" in inside(sandbox, "/opt/aiws/vault/2.7.2/bin/bao", "version")
    assert inside(sandbox, "/opt/aiws/node/24.21.0/bin/node", "--version") == "v24.21.0"
    assert inside(sandbox, "ls", "/var/cache/aiws/bundle") == ""

    rerun = run_playbook(playbook, target, extravars)
    assert rerun.ok, [f.line for f in rerun.failures]
    assert rerun.totals().changed == 0

    # The sandbox has no network and no python3-venv: bootstrap.sh must manage with wheels.
    bootstrap = f"/opt/aiws/controller/{bundle.for_component(CONTROLLER).version}/bootstrap.sh"
    assert inside(sandbox, "sh", bootstrap, "--version", timeout=600).startswith("aiws ")
    assert "bundle" in inside(sandbox, "/opt/aiws/controller/venv/bin/aiws", "--help")


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
    extravars = {
        "aiws_catalog": load_catalog().as_ansible_vars(),
        "bundle_artifacts": [
            {
                "name": "vault",
                "version": artifact.version,
                "tarball": str(artifact.tarball),
                "sha256": artifact.sha256,
            }
        ],
    }
    run = run_playbook(playbook, Target(inventory=sandbox.inventory), extravars)
    assert not run.ok
    assert any("does not match the bundle manifest" in f.line for f in run.failures)
    assert host.run_in(sandbox, ["test", "-e", "/opt/aiws/vault"]).returncode == 1
