#!/usr/bin/python3
"""Ansible module: probe aiws components on the host, all probes in parallel.

For each component: systemd unit state, whether its address accepts connections, its
health probe (HTTP(S) status, TCP connect, a command, or an MCP `initialize` over its unix
socket) and the version from the ledger.
Probes run on the target because services listen on its loopback. Read-only; stdlib only;
`probe_all()` is also called in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_status
short_description: Probe the health of aiws components
options:
  ledger:
    description: Path of the aiws state ledger.
    type: path
    required: true
  components:
    description: Catalog entries to probe (name, kind, unit, listen, health).
    type: list
    elements: dict
    required: true
  timeout:
    description: Seconds allowed for each probe.
    type: float
    default: 3.0
  run:
    description: >-
      A run record to append to the ledger's history after probing (the install's last
      task records its own run this way), with the probe's time as its health phase.
    type: dict
"""

import json
import os
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

try:
    from ansible.module_utils.aiws_common import (
        Failure,
        LedgerError,
        append_run,
        connects_unix,
        module_main,
        read_ledger,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        Failure,
        LedgerError,
        append_run,
        connects_unix,
        module_main,
        read_ledger,
    )


def _ledger(path):
    return read_ledger(path) or {"components": {}, "runs": []}


def unit_state(unit):
    if not unit:
        return ""
    try:
        out = subprocess.run(
            ["systemctl", "show", "-p", "ActiveState", "--value", unit],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=5,
            universal_newlines=True,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def listening(host, port, timeout):
    target = "127.0.0.1" if host in ("0.0.0.0", "::", "*") else host
    try:
        with socket.create_connection((target, port), timeout=timeout):
            return True
    except OSError:
        return False


def meaning(meanings, code):
    """What `code` means for this component (e.g. Vault's 503: sealed), or ''."""
    meanings = meanings or {}
    return meanings.get(str(code)) or meanings.get(code) or ""


def http_probe(scheme, host, port, path, expect, timeout, meanings=None):
    target = "127.0.0.1" if host in ("0.0.0.0", "::", "*") else host
    url = "%s://%s:%d%s" % (scheme, target, port, path)
    context = None
    if scheme == "https":
        # The probe checks that the service answers; certificate trust is checked elsewhere.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    # Probes go straight to the host's own services: never through a proxy.
    opener = build_opener(ProxyHandler({}), HTTPSHandler(context=context))
    try:
        with opener.open(Request(url, method="GET"), timeout=timeout) as reply:
            code = reply.status
    except HTTPError as exc:
        code = exc.code
    except (URLError, OSError) as exc:
        return False, "no answer from %s (%s)" % (url, getattr(exc, "reason", exc))
    said = meaning(meanings, code)
    return code in expect, "%sHTTP %d from %s" % (said + ": " if said else "", code, url)


MCP_INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "aiws-status", "version": "1"},
        },
    }
)


def mcp_probe(path, name, timeout, summary=""):
    """An MCP `initialize` over the unix socket at `path` (line-delimited JSON-RPC): healthy
    when the server that answers calls itself `name`."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    reply = b""
    try:
        client.connect(path)
        client.sendall(MCP_INITIALIZE.encode() + b"\n")
        while b"\n" not in reply and len(reply) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                break
            reply += chunk
    except OSError as exc:
        return False, "no MCP answer on %s (%s)" % (path, exc)
    finally:
        client.close()
    try:
        server = json.loads(reply.split(b"\n", 1)[0])["result"]["serverInfo"]
    except (ValueError, KeyError, TypeError):
        return False, "no MCP answer on %s (%r)" % (path, reply[:80])
    said = "MCP %s %s on %s" % (server.get("name"), server.get("version"), path)
    if server.get("name") != name:
        return False, "another server answers: " + said
    return True, (summary + ": " if summary else "") + said


def active_instances(pattern):
    """How many units matching `pattern` are active (e.g. the Bridge's open sessions)."""
    try:
        out = subprocess.run(
            [
                "systemctl",
                "list-units",
                "--type=service",
                "--state=active",
                "--no-legend",
                "--plain",
                "--",
                pattern,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=5,
            universal_newlines=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return len([line for line in out.stdout.splitlines() if line.strip()])


def command_probe(command, timeout):
    try:
        out = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            universal_newlines=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, "%s: %s" % (command[0], exc)
    text = out.stdout.strip().splitlines()
    return out.returncode == 0, (text[-1] if text else "exit %d" % out.returncode)


def kept_data_only(spec, record):
    """A component uninstalled without --purge: its record stays (units, runtime and files:
    none) so that a later purge still knows its data, packages and user; it is not installed
    any more. An installed service has its unit, an installed agent its files, an installed
    runtime its tree."""
    if record is None:
        return False
    if spec.get("unit"):
        return record.get("units") == []
    if spec.get("kind") == "runtime":
        return not record.get("runtime")  # an installed runtime has its tree
    return spec.get("kind") == "agent" and not record.get("files")


def probe_one(spec, record, timeout):
    started = time.monotonic()
    if kept_data_only(spec, record):
        result = probe_one(spec, None, timeout)
        # A runtime keeps nothing but its record (purge forgets it).
        result["detail"] = (
            "uninstalled"
            if spec.get("kind") == "runtime" and not record.get("paths")
            else "uninstalled; data kept (uninstall --purge removes it)"
        )
        return result
    listen = spec.get("listen") or {}
    unix = (spec.get("socket") or {}).get("path")
    health = spec.get("health") or {}
    result = {
        "name": spec["name"],
        "installed": record is not None,
        "version": (record or {}).get("version", ""),
        "unit": spec.get("unit") or "",
        "unit_state": unit_state(spec.get("unit")) if record is not None else "",
        "address": "%s:%d" % (listen["host"], listen["port"]) if listen else (unix or ""),
        "listening": None,
        "healthy": None,
        "detail": "not installed" if record is None else "",
    }
    if record is not None:
        if listen:
            result["listening"] = listening(listen["host"], listen["port"], timeout)
        elif unix:
            result["listening"] = connects_unix(unix, timeout)
        kind = health.get("type")
        if kind in ("http", "https") and listen:
            result["healthy"], result["detail"] = http_probe(
                kind,
                listen["host"],
                listen["port"],
                health.get("path", "/"),
                health.get("expect") or [200],
                timeout,
                health.get("meanings"),
            )
        elif kind == "command":
            result["healthy"], result["detail"] = command_probe(health["command"], timeout)
        elif kind == "mcp" and unix:
            result["healthy"], result["detail"] = mcp_probe(
                unix, spec["name"], timeout, health.get("summary", "")
            )
        elif kind == "tcp":
            result["healthy"] = bool(result["listening"])
            result["detail"] = "port open" if result["healthy"] else "port closed"
        else:
            # No probe (an agent, a runtime): its directories and the files it needs
            # (launcher, configuration; a runtime's binary) are in place; nothing is started.
            paths = (record.get("paths") or []) + (record.get("files") or [])
            missing = [p for p in paths if not os.path.exists(p)]
            result["healthy"] = not missing
            result["detail"] = "files present" if not missing else "missing: %s" % missing[0]
        if result["unit"] and result["unit_state"] != "active":
            result["healthy"] = False
        if spec.get("sessions"):
            result["sessions"] = active_instances(spec["sessions"])
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def probe_all(ledger_path, components, timeout=3.0):
    ledger = _ledger(ledger_path)
    records = ledger.get("components", {})
    workers = max(1, min(len(components), 2 * (os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(lambda spec: probe_one(spec, records.get(spec["name"]), timeout), components)
        )
    # The run history stays on the host (it grows to 200 runs): only the last run travels.
    summary = dict(ledger, runs=(ledger.get("runs") or [])[-1:])
    return {"components": results, "ledger": summary}


ARGUMENT_SPEC = {
    "ledger": {"type": "path", "required": True},
    "components": {"type": "list", "elements": "dict", "required": True},
    "timeout": {"type": "float", "default": 3.0},
    "run": {"type": "dict"},
}


def run(params, check_mode=False):
    started = time.monotonic()
    try:
        report = probe_all(params["ledger"], params["components"], params.get("timeout", 3.0))
        record = params.get("run")
        if record and not check_mode:
            health = {"name": "health", "seconds": round(time.monotonic() - started, 3)}
            record = dict(record, phases=[*(record.get("phases") or []), health])
            append_run(params["ledger"], record, record.get("aiws_version", ""))
            report["run_recorded"] = record["id"]
    except (LedgerError, Failure) as exc:
        return {"failed": True, "msg": str(exc)}
    # Recording the run is bookkeeping, not a change of the host (as aiws_ledger's run).
    return {"changed": False, "ansible_facts": {"aiws_status": report}}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
