"""The Bridge's first token is offered only while a host of the plan has none: the host
facts read the Bridge's tokens file (the catalog's path, passed to aiws_host_facts), so a
rerun makes no token and the Bridge's role calls no module for it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from aiws.commands import hostfacts
from aiws.commands.bridge import offers_first_token
from aiws.commands.install import InstallPlan
from aiws.guard.checks import HostFacts
from aiws.model.catalog import Catalog, load_catalog
from aiws.model.hosts import Hosts
from aiws.model.resolve import resolved_catalog
from aiws.modules import aiws_bridge_tokens, aiws_host_facts
from tests.helpers.facts import host_facts

CATALOG = load_catalog()
DIGEST = hashlib.sha256(b"made-by-the-installer").hexdigest()


@pytest.fixture(autouse=True)
def _no_default_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("aiws.model.config.default_path", lambda catalog: tmp_path / "none.yml")


def facts(has_token: bool) -> HostFacts:
    return host_facts(bridge_has_token=has_token)


def offers(check: bool, chosen: InstallPlan) -> bool:
    return offers_first_token(chosen.selection, check, chosen.facts)


def plan(*hosts: HostFacts, selection: list[str] | None = None) -> InstallPlan:
    chosen = selection if selection is not None else list(CATALOG.modes["all-in-one"].components)
    by_host = {f"host{i}": f for i, f in enumerate(hosts)}
    return InstallPlan(CATALOG, chosen, None, by_host, [])  # type: ignore[arg-type]  # no bundle needed


def with_config_dir(catalog: Catalog, config: Path) -> Catalog:
    paths = catalog.paths.model_copy(update={"config": str(config)})
    return catalog.model_copy(update={"paths": paths})


def test_a_first_install_offers_the_token() -> None:
    assert offers(False, plan(facts(False)))


def test_a_rerun_offers_no_token_when_every_host_has_one() -> None:
    assert not offers(False, plan(facts(True)))
    assert not offers(False, plan(facts(True), facts(True)))


def test_one_host_without_a_token_is_offered_one() -> None:
    assert offers(False, plan(facts(True), facts(False)))


def test_no_offer_without_the_bridge_or_in_check_mode() -> None:
    assert not offers(False, plan(facts(False), selection=["postgresql", "vault"]))
    assert not offers(True, plan(facts(False)))


def test_the_facts_read_the_catalogs_tokens_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path is the Bridge's resolved layout `tokens`, the one its role writes to."""
    wanted = resolved_catalog(CATALOG)["components"]["bridge"]["layout"]["tokens"]
    assert hostfacts.bridge_tokens_file(CATALOG) == wanted
    seen: dict[str, Any] = {}

    def call(target: Hosts, module: str, params: dict[str, Any]) -> dict[str, Any]:
        seen.update(params)
        return {"h": aiws_host_facts.run(params)}

    monkeypatch.setattr(hostfacts, "call_module", call)
    hostfacts.gather(Hosts(inventory=None), CATALOG)
    assert seen["bridge_tokens"] == wanted


def test_bridge_has_token_follows_the_tokens_file(tmp_path: Path) -> None:
    """Absent, empty or malformed: no token (the first install offers one); after the role's
    `first` step: a token (the rerun offers none); after revoking the last one: none again."""
    catalog = with_config_dir(CATALOG, tmp_path)
    tokens = Path(hostfacts.bridge_tokens_file(catalog))
    tokens.parent.mkdir()

    def gathered() -> bool:
        (host_facts,) = hostfacts.gather(Hosts(inventory=None), catalog).values()
        return host_facts.bridge_has_token

    assert not gathered()
    tokens.write_text(json.dumps({"tokens": []}))
    assert not gathered()
    tokens.write_text("{not json")
    assert not gathered()
    tokens.write_text(json.dumps({"tokens": [{"name": "x"}]}))  # no digest: not a token
    assert not gathered()
    tokens.unlink()
    first = {"file": str(tokens), "group": "root", "state": "first", "name": "first"}
    assert aiws_bridge_tokens.run({**first, "sha256": DIGEST})["changed"]
    assert gathered()
    assert offers(False, plan(*hostfacts.gather(Hosts(inventory=None), catalog).values())) is False
    assert aiws_bridge_tokens.run({**first, "state": "revoke"})["changed"]
    assert not gathered()


def test_the_module_reports_no_token_without_a_path() -> None:
    facts = aiws_host_facts.collect(["/opt/aiws/x"], "/nonexistent/state.json")
    assert facts["bridge_has_token"] is False
