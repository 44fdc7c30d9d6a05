"""LiteLLM: the operator's master key lists the models it serves, a made-up key is refused;
on loopback only."""

from __future__ import annotations

import json

from aiws.sandbox.state import SandboxState
from tests.components.common import CATALOG, SECRETS, get, listens_on_loopback_only
from tests.helpers.hosts import inside


def check(sandbox: SandboxState) -> None:
    listen = CATALOG.component("litellm").listen
    assert listen is not None
    url = f"{listen.url()}/v1/models"
    code, body = get(sandbox, url, f"{SECRETS}/litellm-master-key")
    assert code == 200 and json.loads(body)["data"], body
    inside(sandbox, "sh", "-c", "umask 077; echo sk-not-a-key > /root/.aiws-check-key")
    assert get(sandbox, url, "/root/.aiws-check-key")[0] == 401
    inside(sandbox, "rm", "-f", "/root/.aiws-check-key")
    listens_on_loopback_only(sandbox, "litellm")
