"""What several components' checks ask of a host."""

from __future__ import annotations

import ipaddress

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_layout, resolved_catalog
from aiws.sandbox.state import SandboxState
from tests.helpers.hosts import inside
from tests.helpers.render import Renders

CATALOG = load_catalog()
RESOLVED = resolved_catalog(CATALOG, "debian-12")  # what the roles get
SECRETS = CATALOG.paths.secrets
# GET a loopback URL on the host (its own python: no curl there): "<status> <body>".
_GET = r"""
import sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", "Bearer " + open(sys.argv[2]).read().strip())
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=10) as reply:
        print(reply.status, reply.read(4000).decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read(4000).decode())
"""


def get(sandbox: SandboxState, url: str, key_file: str | None = None) -> tuple[int, str]:
    """GET `url` on the host, with the key in `key_file` (a path on the host) as a bearer."""
    said = inside(sandbox, "python3", "-c", _GET, url, *([key_file] if key_file else []))
    code, _, body = said.partition(" ")
    return int(code), body


def listens_on_loopback_only(sandbox: SandboxState, name: str) -> None:
    """The component's TCP port is bound to its catalog address, and to loopback only (a
    service may add ::1 beside 127.0.0.1)."""
    listen = CATALOG.component(name).listen
    assert listen is not None and listen.host == "127.0.0.1", name
    bound = [line.split()[3] for line in inside(sandbox, "ss", "-Hltn").splitlines()]
    mine = [address for address in bound if address.rpartition(":")[2] == str(listen.port)]
    assert f"127.0.0.1:{listen.port}" in mine, (name, mine)
    hosts = {address.rpartition(":")[0].strip("[]") for address in mine}
    assert all(ipaddress.ip_address(host).is_loopback for host in hosts), (name, mine)


def agent_is_confined_to_its_account(sandbox: SandboxState, name: str) -> None:
    """An agent: its own account (home its state, no shell), its LiteLLM key in a file only
    it reads, and a launcher that refuses to run as anyone else."""
    component = CATALOG.component(name)
    account = component.user
    passwd = inside(sandbox, "getent", "passwd", account).split(":")
    assert passwd[5] == f"{CATALOG.paths.state}/{name}" and passwd[6] == "/usr/sbin/nologin"
    key_file = f"{CATALOG.paths.config}/{name}/litellm.key"
    assert inside(sandbox, "stat", "-c", "%a %U %G", key_file) == f"640 root {account}"
    key = inside(sandbox, "cat", f"{SECRETS}/litellm-key-{name}")
    assert inside(sandbox, "cat", key_file) == key
    launcher = resolve_layout(CATALOG, component)["launcher"]
    assert inside(sandbox, "stat", "-c", "%a %U", launcher) == "755 root"
    refused = inside(sandbox, "sh", "-c", f"{launcher} </dev/null 2>&1; echo $?")
    assert refused.splitlines()[-1] == "2" and f"run this as {account}" in refused, refused


def file_of(rendered: Renders, config: str, name: str, what: str) -> str:
    """The text of one of the agent's files: a layout name (settings, models, launcher)."""
    agent = rendered[config][name]
    return agent.text(RESOLVED["components"][name]["layout"][what])


def launcher_checks(text: str, name: str) -> None:
    component = RESOLVED["components"][name]
    config = component["paths"]["config"]
    assert text.startswith("#!/bin/sh\n")
    assert f'[ "$(id -un)" != "{component["user"]}" ]' in text
    assert f'AIWS_LITELLM_KEY="$(cat "{config}/litellm.key")"' in text
    assert "umask 077" in text
