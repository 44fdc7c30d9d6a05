"""A rerun that does not say its choices repeats the hosts' last install (aiws.commands.recall)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from aiws.commands.recall import complete, merge
from aiws.errors import UsageError
from aiws.guard.checks import HostFacts
from aiws.model.catalog import load_catalog
from aiws.model.hosts import Hosts
from aiws.model.request import InstallRequest, request_from_cli
from aiws.modules.aiws_host_facts import last_install
from tests.helpers.facts import host_facts

CATALOG = load_catalog()
TARGET = Hosts(inventory=None)
AGENTS_HOST = ["base", "litellm", "node", "codex", "bridge", "caddy"]
RECORD = {
    "mode": "all-in-one",
    "domain": "bridge.example.com",
    "internal_ca": True,
    "config": {"source": "/root/aiws.yml", "litellm": {"test_models": True}},
}


def facts(installed: list[str] | None = None, **last: Any) -> HostFacts:
    return host_facts(
        installed=installed if installed is not None else AGENTS_HOST,
        last_install=last if last else RECORD,
    )


def bare(**flags: Any) -> InstallRequest:
    """What `aiws install --bundle B [flags]` asks with no configuration file."""
    return request_from_cli(CATALOG, mode=flags.pop("mode", None), config=None, **flags)


def hosts(*many: HostFacts) -> Mapping[str, HostFacts]:
    return {f"host{i}": f for i, f in enumerate(many)}


@pytest.fixture(autouse=True)
def _no_default_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("aiws.model.config.default_path", lambda catalog: tmp_path / "none.yml")


def test_a_bare_rerun_repeats_mode_components_domain_tls_and_configuration() -> None:
    request = merge(bare(), CATALOG, hosts(facts()))
    assert request.mode == "all-in-one"
    # Only what is installed: a rerun converges the host, it does not grow it.
    assert request.only == ("litellm", "node", "codex", "bridge", "caddy")
    assert (request.domain, request.internal_ca) == ("bridge.example.com", True)
    assert request.config.config.litellm.test_models is True
    assert request.config.source == "the ledger on host0"
    assert request.unset == frozenset()
    assert request.recalled == (
        "the operator configuration",
        "mode all-in-one",
        "domain bridge.example.com",
        "the site CA",
    )


def test_the_whole_mode_installed_is_the_mode_not_a_list() -> None:
    every = ["base", *CATALOG.modes["core"].components]
    request = merge(bare(), CATALOG, hosts(facts(every, mode="core", domain="b.example.com")))
    assert (request.mode, request.only) == ("core", ())


def test_flags_win_over_the_record() -> None:
    request = merge(bare(internal_ca=False), CATALOG, hosts(facts()))
    assert request.internal_ca is False
    assert "the site CA" not in request.recalled
    request = merge(bare(mode="core", only=["bridge"]), CATALOG, hosts(facts()))
    assert (request.mode, request.only) == ("core", ("bridge",))


def test_another_domain_does_not_inherit_the_old_sites_ca() -> None:
    request = merge(bare(domain="new.example.com"), CATALOG, hosts(facts()))
    assert (request.domain, request.internal_ca) == ("new.example.com", False)


def test_the_configuration_file_wins_and_its_choices_count(tmp_path: Path) -> None:
    config = tmp_path / "aiws.yml"
    config.write_text("mode: core\ndomain: file.example.com\ntls: acme\n")
    request = request_from_cli(CATALOG, mode=None, config=config)
    chosen = (request.mode, request.domain, request.internal_ca)
    assert chosen == ("core", "file.example.com", False)
    assert request.unset == frozenset()


def test_an_operator_certificate_is_not_replaced_by_the_recorded_ca(tmp_path: Path) -> None:
    config = tmp_path / "aiws.yml"
    config.write_text(
        "caddy:\n  certificate:\n    certificate_secret: site-crt\n    key_secret: site-key\n"
    )
    request = request_from_cli(CATALOG, mode=None, config=config)
    assert merge(request, CATALOG, hosts(facts())).internal_ca is False


def test_a_first_install_must_say_its_mode() -> None:
    empty = HostFacts.model_validate({**facts().model_dump(), "installed": [], "last_install": {}})
    with pytest.raises(UsageError, match="no --mode given") as caught:
        merge(bare(), CATALOG, hosts(empty))
    assert "pass --mode" in str(caught.value.fix)


def test_hosts_that_disagree_are_refused_naming_the_flag() -> None:
    other = facts(mode="core", domain="bridge.example.com", internal_ca=True)
    with pytest.raises(UsageError, match="differ in mode") as caught:
        merge(bare(), CATALOG, hosts(facts(), other))
    assert "--mode" in str(caught.value.fix)


def test_hosts_are_read_only_when_something_is_left_to_them(tmp_path: Path) -> None:
    def unreachable(target: Hosts, catalog: object) -> dict[str, HostFacts]:
        raise AssertionError("the hosts were read")

    config = tmp_path / "aiws.yml"
    config.write_text("{}\n")
    said = request_from_cli(CATALOG, mode="local", config=config)
    assert complete(said, CATALOG, TARGET, unreachable).unset == frozenset()
    read: list[int] = []

    def recorded(target: Hosts, catalog: object) -> dict[str, HostFacts]:
        read.append(1)
        return dict(hosts(facts()))

    assert complete(bare(), CATALOG, TARGET, recorded).mode == "all-in-one"
    assert read == [1]


def test_the_ledger_reports_the_last_successful_installs_choices(tmp_path: Path) -> None:
    def run(ok: bool = True, verb: str = "install", **fields: Any) -> dict[str, Any]:
        return {"id": "r", "verb": verb, "ok": ok, **fields}

    ledger = tmp_path / "ledger.json"
    ledger.write_text(
        json.dumps(
            {
                "runs": [
                    run(mode="all-in-one", config={"litellm": {}},
                        request={"domain": "a.example.com", "internal_ca": True}),
                    # A later install of one component without a site keeps the site's choice.
                    run(mode="core", config={"models": []}, request={"domain": None}),
                    run(ok=False, mode="local", request={"domain": "z.example.com"}),
                    run(verb="uninstall", mode="local"),
                ]
            }
        )
    )  # fmt: skip
    assert last_install(str(ledger)) == {
        "mode": "core",
        "config": {"models": []},
        "domain": "a.example.com",
        "internal_ca": True,
    }
    assert last_install(str(tmp_path / "none.json")) == {}
