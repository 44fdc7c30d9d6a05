#!/usr/bin/python3
"""Ansible module: what `aiws doctor` reads on a host beyond status and the host facts.

Runs on the target with its own python3 (3.9 on Debian 11): stdlib only. The host's clock,
the certificates Caddy serves or signs with (public PEM, never a key), and with `acp` a real
ACP `initialize` through each agent's session socket, as the Bridge would open a session.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_doctor
short_description: Read the clock, the TLS certificates and the agents' ACP answers for aiws doctor
description:
  - Changes nothing, except that each ACP check starts one agent session (as the Bridge does)
    in a workspace of its own, removed afterwards.
options:
  certificates:
    description: Certificate files, or directories searched for *.crt (never keys).
    type: list
    elements: str
    default: []
  acp_dir:
    description: The Bridge's agent sockets directory; each <name>.sock in it is initialized.
    type: str
    default: ""
  workspaces:
    description: The root the session script accepts workspaces in.
    type: str
    default: ""
  timeout:
    description: Seconds allowed for each agent's initialize.
    type: float
    default: 60
"""

import json
import os
import shutil
import socket
import stat
import time
import uuid

try:
    from ansible.module_utils.aiws_common import module_main
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import module_main

MAX_CERTIFICATES = 64
MAX_PEM_BYTES = 65536
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


def certificate_files(places):
    """The *.crt files under each place (a file is taken as it is), sorted, bounded."""
    found = []
    for place in places:
        if os.path.isfile(place):
            found.append(place)
            continue
        for top, dirs, files in os.walk(place):
            dirs.sort()
            found += [os.path.join(top, name) for name in sorted(files) if name.endswith(".crt")]
    return found[:MAX_CERTIFICATES]


def read_certificate(path):
    """The file's text when it holds a PEM certificate (and nothing that looks like a key)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PEM_BYTES + 1)
    except OSError:
        return None
    text = raw[:MAX_PEM_BYTES].decode("ascii", "replace")
    if PEM_BEGIN not in text or "PRIVATE KEY" in text:
        return None
    return text


def initialize(name, path, workspaces, timeout):
    """One ACP initialize through the agent's session socket: (ok, seconds, detail)."""
    # Inside the agent's own directory under the root, where its session script makes it.
    workspace = os.path.join(workspaces, name, "aiws-doctor-%s" % uuid.uuid4().hex[:12])
    started = time.monotonic()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(path)
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": 1, "clientCapabilities": {}},
        }
        conn.sendall((workspace + "\n" + json.dumps(request) + "\n").encode())
        answer = _answer(conn, started + timeout)
    except (OSError, ValueError) as exc:
        return False, round(time.monotonic() - started, 3), "%s: %s" % (path, exc)
    finally:
        conn.close()
        _remove_later(workspace)
    seconds = round(time.monotonic() - started, 3)
    if "result" not in answer:
        return False, seconds, "initialize failed: %s" % json.dumps(answer.get("error"))[:200]
    info = answer["result"].get("agentInfo") or {}
    return True, seconds, ("%s %s" % (info.get("name", name), info.get("version", ""))).strip()


def _answer(conn, deadline):
    buffered = b""
    while time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the session ended before answering")
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            try:
                message = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue  # not ACP (an agent's stray output)
            if isinstance(message, dict) and message.get("id") == 1:
                return message
    raise ValueError("no answer in time")


def _remove_later(workspace, attempts=20):
    """The session's agent may still be leaving its workspace: retry for a few seconds."""
    for _ in range(attempts):
        if not os.path.lexists(workspace):
            return
        shutil.rmtree(workspace, ignore_errors=True)
        time.sleep(0.25)


def agent_sockets(directory):
    """{name: path} of the sockets the Bridge reaches its agents (and gateways) on."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return {}
    return {
        name[: -len(".sock")]: os.path.join(directory, name)
        for name in names
        if name.endswith(".sock") and stat.S_ISSOCK(os.lstat(os.path.join(directory, name)).st_mode)
    }


def collect(certificates=(), acp_dir="", workspaces="", timeout=60.0):
    found = []
    for path in certificate_files(certificates):
        pem = read_certificate(path)
        if pem is not None:
            found.append({"path": path, "pem": pem})
    agents = []
    for name, path in agent_sockets(acp_dir).items() if acp_dir else ():
        ok, seconds, detail = initialize(name, path, workspaces, timeout)
        agents.append({"name": name, "ok": ok, "seconds": seconds, "detail": detail})
    return {"time": time.time(), "certificates": found, "acp": agents}


ARGUMENT_SPEC = {
    "certificates": {"type": "list", "elements": "str", "default": []},
    "acp_dir": {"type": "str", "default": ""},
    "workspaces": {"type": "str", "default": ""},
    "timeout": {"type": "float", "default": 60.0},
}


def run(params, check_mode=False):
    report = collect(
        params.get("certificates") or (),
        params.get("acp_dir") or "",
        params.get("workspaces") or "",
        float(params.get("timeout") or 60.0),
    )
    return {"changed": False, "ansible_facts": {"aiws_doctor": report}}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
