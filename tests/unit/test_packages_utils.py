"""aiws_packages: reading the bundle repository's Packages index and the closure aiws owns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiws.module_utils import aiws_packages
from aiws.module_utils.aiws_common import Failure
from aiws.module_utils.aiws_packages import closure, offered

PACKAGES = """\
Package: postgresql-15
Version: 15.8-0+deb12u1
Architecture: amd64
Pre-Depends: init-system-helpers (>= 1.52)
Depends: libpq5 (>= 15.8), postgresql-client-15, postgresql-common (>= 252~), \
libc6:any (>= 2.34) | libc6-compat, mail-transport-agent | default-mta
Description: The World's Most Advanced Open Source Relational Database
 Depends: not-a-field-but-description-text
 Provides: neither-is-this

Package: postgresql-client-15
Version: 15.8-0+deb12u1
Depends: libpq5 (>= 15.8), postgresql-client-common (>= 182~)
Provides: postgresql-client

Package: postgresql-common
Version: 252
Depends: postgresql-client-common, ssl-cert, adduser
Pre-Depends: debconf (>= 0.5) | debconf-2.0

Package: postgresql-client-common
Version: 252
Depends: postgresql-common

Package: libpq5
Version: 15.8-0+deb12u1
Depends: libc6 (>= 2.34), libssl3 (>= 3.0.0)

Package: exim4-daemon-light
Version: 4.96
Provides: mail-transport-agent, exim4-localscanapi-6.0 (= 1)

Package: ssl-cert
Version: 1.1.2

Package: unrelated
Version: 1
Depends: libpq5



Package: init-system-helpers
Version: 1.65
"""


def write_repo(tmp_path: Path, text: str = PACKAGES) -> str:
    (tmp_path / "Packages").write_text(text)
    return str(tmp_path)


def test_offered_reads_depends_pre_depends_and_alternatives(tmp_path: Path) -> None:
    depends, _ = offered(write_repo(tmp_path))
    assert depends["postgresql-15"] == {
        "init-system-helpers",
        "libpq5",
        "postgresql-client-15",
        "postgresql-common",
        "libc6",
        "libc6-compat",
        "mail-transport-agent",
        "default-mta",
    }
    assert depends["postgresql-common"] == {
        "postgresql-client-common",
        "ssl-cert",
        "adduser",
        "debconf",
        "debconf-2.0",
    }
    assert depends["ssl-cert"] == set()
    assert set(depends) == {
        "postgresql-15",
        "postgresql-client-15",
        "postgresql-common",
        "postgresql-client-common",
        "libpq5",
        "exim4-daemon-light",
        "ssl-cert",
        "unrelated",
        "init-system-helpers",
    }


def test_offered_reads_provides_with_and_without_versions(tmp_path: Path) -> None:
    _, provides = offered(write_repo(tmp_path))
    assert provides == {
        "postgresql-client": {"postgresql-client-15"},
        "mail-transport-agent": {"exim4-daemon-light"},
        "exim4-localscanapi-6.0": {"exim4-daemon-light"},
    }


def test_closure_follows_dependencies_and_virtual_packages_within_candidates(
    tmp_path: Path,
) -> None:
    depends, provides = offered(write_repo(tmp_path))
    # what came from the bundle and was not on the host before (libc6, adduser, debconf,
    # init-system-helpers were)
    candidates = set(depends) - {"init-system-helpers"}
    ours = closure(["postgresql-15"], depends, provides, candidates)
    assert ours == {
        "postgresql-15",
        "postgresql-client-15",
        "postgresql-common",
        "postgresql-client-common",  # a cycle with postgresql-common: terminates
        "libpq5",
        "ssl-cert",
        "exim4-daemon-light",  # through the virtual mail-transport-agent
    }
    assert "unrelated" not in ours  # a candidate nothing of ours depends on
    assert "init-system-helpers" not in ours  # not a candidate: on the host before aiws


def test_closure_keeps_only_candidate_roots() -> None:
    depends = {"a": {"b"}, "b": set()}
    assert closure(["a"], depends, {}, {"b"}) == set()  # a was on the host before
    assert closure(["a", "b"], depends, {}, {"b"}) == {"b"}


def test_closure_stops_at_a_package_outside_the_candidates() -> None:
    depends = {"root": {"host-lib"}, "host-lib": {"deep"}, "deep": set()}
    assert closure(["root"], depends, {}, {"root", "deep"}) == {"root"}


def test_closure_terminates_on_cycles_and_self_dependencies() -> None:
    depends = {"a": {"b"}, "b": {"c"}, "c": {"a", "c"}}
    assert closure(["a"], depends, {}, {"a", "b", "c"}) == {"a", "b", "c"}


def test_closure_of_a_virtual_name_provided_by_several() -> None:
    depends = {"app": {"mta"}, "exim": set(), "postfix": set()}
    provides = {"mta": {"exim", "postfix"}}
    assert closure(["app"], depends, provides, {"app", "exim"}) == {"app", "exim"}
    assert closure(["app"], depends, provides, {"app", "exim", "postfix"}) == {
        "app",
        "exim",
        "postfix",
    }


def test_closure_of_nothing_is_empty(tmp_path: Path) -> None:
    depends, provides = offered(write_repo(tmp_path))
    assert closure([], depends, provides, set(depends)) == set()


@pytest.mark.parametrize(
    "name", ["-oDpkg::Pre-Invoke::=touch /x", "--allow-remove-essential", "../x", "A b", ""]
)
def test_a_ledger_package_that_is_not_a_package_name_is_refused_before_apt(
    tmp_path: Path, name: str
) -> None:
    """Ledger packages become apt-get arguments: one that apt would read as an option is
    refused before dpkg or apt is asked anything."""
    ledger = tmp_path / "state.json"
    record = {"version": "15", "packages": ["postgresql-15", name]}
    ledger.write_text(json.dumps({"schema": 1, "components": {"postgresql": record},
                                  "secrets": {}, "runs": []}))  # fmt: skip
    params = {"ledger": str(ledger), "component": "postgresql", "purge_paths": []}
    with pytest.raises(Failure, match="not a Debian package name"):
        aiws_packages.absent(params, check=True)


@pytest.mark.parametrize("name", ["postgresql-15", "libpq5", "g++-12", "libc6:amd64", "ssl-cert"])
def test_real_package_names_pass(name: str) -> None:
    assert aiws_packages.check_names([name], "test") == [name]
