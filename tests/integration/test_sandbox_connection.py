"""The aiws_nsenter connection refuses a PID that is no longer the sandbox's leader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from aiws.ansible.driver import run_module
from aiws.model.hosts import Hosts
from aiws.sandbox.inventory import leader_start

pytestmark = pytest.mark.integration


def inventory(tmp_path: Path, start: str) -> Hosts:
    """This test's own process stands in for a sandbox's leader (nsenter into one's own
    namespaces is a no-op), so no container is needed to check the identity test."""
    host = {
        "ansible_connection": "aiws_nsenter",
        "ansible_nsenter_pid": os.getpid(),
        "aiws_sandbox_leader_start": start,
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"box": host}}}))
    return Hosts(path)


def test_the_leader_it_was_given_is_entered(tmp_path: Path) -> None:
    run = run_module(
        "ansible.builtin.ping", {"data": "pong"}, inventory(tmp_path, leader_start(os.getpid()))
    )
    assert run.ok and run.results["box"]["ping"] == "pong", [f.line for f in run.failures]


def test_a_reused_pid_is_refused(tmp_path: Path) -> None:
    run = run_module("ansible.builtin.ping", {"data": "pong"}, inventory(tmp_path, "1"))
    assert not run.ok
    assert "is no longer the sandbox's leader" in run.failures[0].message
