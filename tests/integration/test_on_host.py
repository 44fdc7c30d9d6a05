"""aiws on the host itself, the air-gapped way: the bundle copied onto a fresh network-less
Debian 12 host, aiws bootstrapped from its controller tarball with the host's own Python,
then install, a rerun that changes nothing, status, report, logs, a bare rerun that repeats
the last install, and a purge that prints its report and exits 0 while it removes the layout
around the running controller.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.summary import DeploySummary
from tests.helpers.fixtures import MakeSandbox
from tests.helpers.hosts import HOST_AIWS, bootstrap, exists, inside, kv_matches_file, on_host

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = ["--mode", "core", "--only", "postgresql,vault"]
SECRETS = "/var/lib/aiws/secrets"


def test_install_rerun_status_purge_with_aiws_on_the_host(
    make_sandbox: MakeSandbox, core_bundle_file: Path
) -> None:
    sandbox = make_sandbox()
    bundle = bootstrap(sandbox, core_bundle_file)

    rc, out, err = on_host(sandbox, "install", *SELECTION, "--bundle", bundle, "--json")
    assert rc == 0, err[-2000:]
    first = DeploySummary.model_validate_json(out)
    assert {row.name: row.health for row in first.components} == {
        "postgresql": "healthy",
        "vault": "healthy",
    }

    rc, out, err = on_host(sandbox, "install", *SELECTION, "--bundle", bundle, "--json")
    assert rc == 0, err[-2000:]
    rerun = DeploySummary.model_validate_json(out)
    assert rerun.run.changed_total == 0, [(r.name, r.changed) for r in rerun.components]
    # Nothing of the bundle was verified file by file again, nothing shipped or unpacked.
    assert {p.name: p.seconds for p in rerun.phases}["verify"] < 0.5

    rc, out, _ = on_host(sandbox, "status", "--json")
    assert rc == 0 and json.loads(out)["healthy"] is True
    # aiws doctor on the host: the last install replayed by the guard, both probes (Vault
    # unsealed), headroom; nothing wrong.
    rc, out, err = on_host(sandbox, "doctor", "--json")
    found = json.loads(out)
    assert rc == 0 and found["worst"] == "ok", (found, err[-1000:])
    assert {"guard", "probe:postgresql", "probe:vault", "disk", "memory"} <= {
        c["check"] for c in found["checks"]
    }
    # Both runs' phase times, grouped: the first with the bundle cold, the rerun cached.
    rc, out, err = on_host(sandbox, "report", "--json")
    assert rc == 0, err[-2000:]
    groups = {(g["bundle"], g["run"]): g["phases"] for g in json.loads(out)["groups"]}
    assert set(groups) == {("cold", "first"), ("cached", "rerun")}, groups
    assert groups[("cached", "rerun")]["total"]["count"] == 1
    assert groups[("cold", "first")]["postgresql"]["count"] == 1
    # The unit's journal, as journalctl prints it (systemd's own lines about the unit too).
    rc, out, err = on_host(sandbox, "logs", "vault", "-n", "100")
    assert rc == 0 and "aiws vault" in out, (out[-2000:], err[-500:])

    # A provider key the operator brings: from stdin, never echoed, 0600, recorded as the
    # operator's, mirrored into Vault's KV by the next install; the same value again is no change.
    key = "sk-test-0123456789abcdefghij"
    stored = inside(sandbox, "sh", "-c", f"printf '%s\\n' {key} | {HOST_AIWS} secrets set "
                    "openai-api-key")  # fmt: skip
    assert "stored openai-api-key" in stored and key not in stored
    assert inside(sandbox, "stat", "-c", "%a %U", f"{SECRETS}/openai-api-key") == "600 root"
    assert inside(sandbox, "cat", f"{SECRETS}/openai-api-key") == key
    rc, out, _ = on_host(sandbox, "secrets", "list", "--json")
    owners = {s["name"]: s["component"] for s in json.loads(out)}
    assert rc == 0 and owners["openai-api-key"] == "operator", owners
    again = inside(sandbox, "sh", "-c", f"printf %s {key} | {HOST_AIWS} secrets set openai-api-key")
    assert "nothing changed" in again
    # A bare rerun: the mode and components of the last install, read from the host's ledger.
    rc, out, err = on_host(sandbox, "install", "--bundle", bundle, "--json")
    assert rc == 0, err[-2000:]
    again_summary = DeploySummary.model_validate_json(out)
    assert again_summary.repeated == ["mode core"], again_summary.repeated
    assert sorted(r.name for r in again_summary.components) == ["postgresql", "vault"]
    assert kv_matches_file(sandbox, "openai-api-key")

    rc, out, err = on_host(sandbox, "uninstall", "--purge", "--yes")
    assert rc == 0, err[-2000:]
    assert "removed" in out and "Traceback" not in err
    for path in ("/var/lib/aiws/postgresql", "/etc/aiws", "/var/lib/aiws/secrets"):
        assert not exists(sandbox, path), path
    assert exists(sandbox, HOST_AIWS)  # the controller that ran the purge is still there
    # A second purge finds nothing recorded and changes nothing.
    rc, out, err = on_host(sandbox, "uninstall", "--purge", "--yes")
    assert rc == 0 and "no components recorded" in out and "(0 changed)" in out, (out, err)
    assert exists(sandbox, HOST_AIWS)
