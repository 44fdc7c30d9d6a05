"""The Ansible driver against this host, with a real playbook writing into a temp dir."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from aiws.ansible import driver
from aiws.model.hosts import Hosts
from tests.helpers.paths import FIXTURE_PLAYBOOKS

pytestmark = pytest.mark.integration
DEMO = FIXTURE_PLAYBOOKS / "demo.yml"


def stats_view(result: driver.RunResult, host: str) -> dict[str, int]:
    """Ansible's own playbook_on_stats for one host, in our field names."""
    s = result.stats
    return {
        "ok": s["ok"].get(host, 0),
        "changed": s["changed"].get(host, 0),
        "failed": s["failures"].get(host, 0),
        "skipped": s["skipped"].get(host, 0),
        "unreachable": s["dark"].get(host, 0),
        "ignored": s["ignored"].get(host, 0),
    }


def assert_counts_match_stats(result: driver.RunResult) -> None:
    assert result.stats, "playbook_on_stats was not seen"
    for host in result.hosts:
        assert vars(result.totals(host)) == stats_view(result, host)


def test_first_run_changes_rerun_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    first = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(dest)})
    assert first.ok, first.failures
    assert first.changed_by_role()["demo"] > 0
    assert first.counts[("localhost", "demo")].changed == 4  # dir, config, loop, handler
    assert first.counts[("localhost", "demo")].ok == 4  # the 3-item loop counts once
    assert_counts_match_stats(first)
    assert (dest / "reloaded").is_file()

    rerun = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(dest)})
    assert rerun.ok and rerun.totals().changed == 0
    assert rerun.changed_by_role() == {"demo": 0}
    assert_counts_match_stats(rerun)
    assert [p.name for p in rerun.phases] == ["demo"]


def test_failing_task_names_task_and_host(tmp_path: Path) -> None:
    result = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(tmp_path), "demo_fail": True})
    assert not result.ok and result.rc != 0
    (failure,) = result.failures
    assert (failure.host, failure.role) == ("localhost", "demo")
    assert failure.task == "Skipped unless failing is asked for"
    assert failure.line == (
        "task 'demo: Skipped unless failing is asked for' failed on "
        "localhost: the demo was asked to fail"
    )
    assert_counts_match_stats(result)


def test_check_mode_changes_nothing(tmp_path: Path) -> None:
    result = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(tmp_path / "d")}, check=True)
    assert result.ok and result.totals().changed > 0  # what *would* change
    assert not (tmp_path / "d").exists()


def test_each_run_keeps_a_private_event_log(tmp_path: Path) -> None:
    result = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(tmp_path)})
    assert result.log_dir is not None
    events = (result.log_dir / "events.jsonl").read_text().splitlines()
    names = [json.loads(line)["event"] for line in events]
    assert names[0] == "playbook_on_start" and "playbook_on_stats" in names
    assert "PLAY RECAP" in (result.log_dir / "ansible.log").read_text()
    for name in ("events.jsonl", "ansible.log"):
        assert stat.S_IMODE((result.log_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(result.log_dir.stat().st_mode) == 0o700


def test_ad_hoc_module_returns_facts() -> None:
    result = driver.run_module(
        "aiws_host_facts", {"paths": ["/opt/aiws"], "ledger": "/nonexistent"}, Hosts()
    )
    assert result.ok
    facts = result.facts["localhost"]["aiws_host"]
    assert facts["os_id"] == "debian" and facts["disk"][0]["path"] == "/opt/aiws"


def test_a_failed_command_is_reported_by_its_stderr(tmp_path: Path) -> None:
    playbook = tmp_path / "fails.yml"
    playbook.write_text(
        "- name: Fails\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Run a command that fails\n      ansible.builtin.command:\n"
        "        argv: [ls, /nonexistent/aiws]\n      changed_when: false\n"
    )
    (failure,) = driver.run_playbook(playbook, Hosts()).failures
    assert "cannot access '/nonexistent/aiws'" in failure.message


def test_a_run_stages_nothing_in_tmp_and_leaves_no_private_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ansible's and ansible-runner's files live in a 0700 directory under aiws's checked run
    dir (never a /tmp path another user could create first) and go with the run."""
    made: list[Path] = []
    mkdtemp = driver.tempfile.mkdtemp

    def recording(*args: Any, **kwargs: Any) -> str:
        made.append(Path(mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(driver.tempfile, "mkdtemp", recording)
    tmp_before = set(Path("/tmp").iterdir())
    result = driver.run_playbook(DEMO, Hosts(), {"demo_dest": str(tmp_path / "d")})
    assert result.ok, result.failures
    run_dir = driver.runlock.run_dir()
    assert made and all(path.parent == run_dir for path in made), made
    assert set(Path("/tmp").iterdir()) - tmp_before == set()
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert not any(path.exists() for path in made)  # gone with the run
