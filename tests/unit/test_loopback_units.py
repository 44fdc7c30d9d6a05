"""docs/security.md: a service listening on loopback only also gets IPAddressDeny=any (only
this host's own addresses and the aiws services it uses elsewhere allowed). The one service
that reaches beyond is the one whose work is elsewhere: LiteLLM (catalog `egress`: its model
providers are on the internet at addresses that change, so no allow list of addresses could
hold them); the docs name it and say what it can reach. Shown on the units the real Ansible
renders for every component."""

from __future__ import annotations

from pathlib import Path

from aiws.model.catalog import load_catalog
from tests.helpers.render import Renders

CATALOG = load_catalog()
SERVICES = [name for name, c in CATALOG.components.items() if c.kind == "service"]


def unit_lines(rendered: Renders, name: str) -> list[str]:
    unit = rendered["WITH_MODELS"][name].service
    assert unit is not None, name
    return str(unit["content"]).splitlines()


def test_every_service_on_loopback_is_fenced_but_the_one_whose_work_is_elsewhere(
    rendered: Renders,
) -> None:
    fenced, open_ = [], []
    for name in SERVICES:
        lines = unit_lines(rendered, name)
        (fenced if "IPAddressDeny=any" in lines else open_).append(name)
        allow = [line for line in lines if line.startswith("IPAddressAllow=")]
        if name in fenced and CATALOG.components[name].socket is not None:
            # Reached through its socket, reaching no service: no IP at all.
            assert allow == [], (name, allow)
        elif name in fenced:
            assert allow == ["IPAddressAllow=localhost"], (name, allow)
    # Unfenced: the public door (Caddy, the one service listening beyond loopback) and the
    # services whose work is elsewhere (LiteLLM).
    components = CATALOG.components
    assert [n for n in open_ if not components[n].public] == ["litellm"]
    assert [n for n in open_ if components[n].public] == ["caddy"]
    assert [n for n in SERVICES if components[n].egress] == ["litellm"]


def test_the_docs_say_what_litellm_can_reach_and_why() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    security = (docs / "security.md").read_text()
    assert "LiteLLM" in security and "any address" in security
    assert "any address" in (docs / "components" / "litellm.md").read_text()
