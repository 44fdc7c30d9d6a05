"""The Node services' checks on an installed host (the all-in-one test runs them on its
host): the bundle's Node, QMD indexing a collection from the operator's configuration and
answering a real MCP client through its socket (keyword search) for OpenClaw's account and
no other, OpenClaw healthy with QMD as its MCP
server (in its configuration and as its own CLI lists them), one agent turn driven the way
the Bridge drives it (its ACP launcher as its account, a private /tmp) through the real
LiteLLM to aiws's offline mock with no connection attempt beyond the loopback (strace on the
gateway's processes), and the Bridge's gateway target: a whole session through the installed
Bridge, OpenClaw's ACP bridge behind its socket as OpenClaw's account."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from aiws.model.catalog import load_catalog
from aiws.model.resolve import resolve_component
from aiws.sandbox.state import SandboxState
from tests.helpers import outbound
from tests.helpers.hosts import copy_in, inside, status, unit_rss_mb
from tests.helpers.paths import FIXTURES

MOCK_TEXT = "aiws mock answer"
CATALOG = load_catalog()
NODE_BINARY = resolve_component(CATALOG, CATALOG.component("node"))["layout"]["binary"]
OPENCLAW_CLI = resolve_component(CATALOG, CATALOG.component("openclaw"))["layout"]["cli"]
QMD = CATALOG.component("qmd")
OPENCLAW = CATALOG.component("openclaw")
LITELLM = CATALOG.component("litellm")
NOTES = "/srv/aiws-test-notes"
# What the host's configuration file must hold for these checks.
CONFIG = f"""\
qmd:
  collections:
    - {{name: notes, path: {NOTES}}}
"""

# An MCP client over stdio (line-delimited JSON-RPC), run on the host: argv is the server
# to start (QMD's own client for OpenClaw, which joins the pipe to QMD's socket).
MCP = r"""
import json, subprocess, sys
server = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
def call(method, params, ident):
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if ident is not None:
        message["id"] = ident
    server.stdin.write((json.dumps(message) + "\n").encode())
    server.stdin.flush()
    while ident is not None:
        line = server.stdout.readline()
        if not line:
            return {"closed": server.stderr.read().decode()[-300:]}
        reply = json.loads(line)
        if reply.get("id") == ident:
            return reply
out = {"initialize": call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                         "clientInfo": {"name": "aiws-test", "version": "1"}}, 1)}
if "result" in out["initialize"]:
    call("notifications/initialized", {}, None)
    out["tools"] = call("tools/list", {}, 2)
    out["search"] = call("tools/call", {"name": "query", "arguments": {
        "searches": [{"type": "lex", "query": "zebrafish"}], "rerank": False}}, 3)
server.stdin.close()
out["exit"] = server.wait(timeout=30)
print(json.dumps(out))
"""

# A line-delimited JSON-RPC ACP client: initialize, session/new, one prompt; prints what
# the agent streamed and how long each step took.
ACP = r"""
import json, subprocess, sys, time
agent = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
chunks, took = [], {}
def call(method, params, ident):
    started = time.monotonic()
    agent.stdin.write((json.dumps({"jsonrpc": "2.0", "id": ident, "method": method,
                                   "params": params}) + "\n").encode())
    agent.stdin.flush()
    while True:
        line = agent.stdout.readline()
        if not line:
            raise SystemExit("the agent closed its output")
        message = json.loads(line)
        update = message.get("params", {}).get("update", {})
        if update.get("sessionUpdate") == "agent_message_chunk":
            chunks.append(update["content"]["text"])
        if message.get("id") == ident and ("result" in message or "error" in message):
            took[method] = round(time.monotonic() - started, 2)
            return message
init = call("initialize", {"protocolVersion": 1, "clientCapabilities": {}}, 1)
session = call("session/new", {"cwd": sys.argv[1], "mcpServers": []}, 2)["result"]
answer = call("session/prompt", {"sessionId": session["sessionId"],
                                 "prompt": [{"type": "text", "text": "Say hello."}]}, 3)
agent.terminate()
print(json.dumps({"agent": init["result"]["agentInfo"]["name"], "text": "".join(chunks),
                  "stop": answer.get("result", {}).get("stopReason"), "took": took}))
"""


def host_pids(sandbox: SandboxState, unit: str) -> list[str]:
    """This machine's PIDs of every process of `unit` in the sandbox (what strace attaches)."""
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"):
        procs = Path(root, "aiws-sandbox", sandbox.name, "payload", "system.slice", unit)
        if (procs / "cgroup.procs").exists():
            return (procs / "cgroup.procs").read_text().split()
    raise AssertionError(f"no cgroup of {unit} in sandbox {sandbox.name}")


def wait_ready(sandbox: SandboxState, url: str, seconds: float = 120) -> float:
    started = time.monotonic()
    probe = f"import urllib.request; urllib.request.urlopen('{url}', timeout=5)"
    while (
        inside(sandbox, "sh", "-c", f'python3 -c "{probe}" 2>/dev/null && echo ok || true') != "ok"
    ):
        assert time.monotonic() - started < seconds, f"{url} not ready after {seconds}s"
        time.sleep(1)
    return time.monotonic() - started


def operators_notes(sandbox: SandboxState) -> None:
    """The operator's notes QMD indexes (made before the host's snapshot: they are the
    operator's, not aiws's)."""
    inside(sandbox, "install", "-d", "-m", "0755", NOTES, f"{NOTES}/sub")
    inside(sandbox, "sh", "-c", f"printf '# Alpha\\n\\nThe zebrafish protocol lives here.\\n' "
           f"> {NOTES}/alpha.md && printf '# Beta\\n\\nNothing to see.\\n' > {NOTES}/sub/beta.md "
           f"&& chmod 0644 {NOTES}/alpha.md {NOTES}/sub/beta.md")  # fmt: skip


def check_qmd_and_openclaw(sandbox: SandboxState, tmp_path: Path, token: str) -> None:
    """QMD answers a real MCP client over HTTP, OpenClaw lists it as its MCP server, one
    agent turn through OpenClaw's ACP launcher under strace reaches LiteLLM and nothing else,
    and the gateway target completes a whole session through the Bridge."""
    strace = shutil.which("strace")
    assert strace, "strace is missing on this machine: run `make setup` as root"
    report = status(sandbox)["by_name"]
    assert report["qmd"]["detail"].startswith("keyword search only"), report["qmd"]
    assert report["node"]["detail"] == "files present", report["node"]

    # QMD: the collection is indexed and a real MCP client finds the document through the
    # stdio server OpenClaw is given, run as OpenClaw's account with QMD's group (as its
    # unit runs it); without the group (an agent's account) the socket refuses it.
    assert QMD.socket is not None
    client = resolve_component(CATALOG, OPENCLAW)["layout"]["qmd_client"]
    inside(sandbox, "sh", "-c", f"cat > /usr/local/lib/aiws-mcp-test.py <<'EOF'\n{MCP}\nEOF")
    as_account = ["systemd-run", "--quiet", "--pipe", "--wait", "-p", "PrivateTmp=yes"]
    found = json.loads(inside(
        sandbox, *as_account, "-p", f"User={OPENCLAW.user}", "-p", f"Group={OPENCLAW.user}",
        "-p", f"SupplementaryGroups={QMD.user}", "python3", "/usr/local/lib/aiws-mcp-test.py",
        "/usr/bin/python3", client, QMD.socket.path, timeout=120,
    ))  # fmt: skip
    assert found["initialize"]["result"]["serverInfo"]["name"] == "qmd", found["initialize"]
    assert "query" in [tool["name"] for tool in found["tools"]["result"]["tools"]]
    results = found["search"]["result"]["structuredContent"]["results"]
    assert [r["file"] for r in results] == ["notes/alpha.md"], found["search"]
    assert found["exit"] == 0, found
    refused = json.loads(inside(
        sandbox, *as_account, "-p", "User=aiws-codex", "-p", "Group=aiws-codex",
        "python3", "/usr/local/lib/aiws-mcp-test.py", "/usr/bin/python3", client,
        QMD.socket.path, timeout=120,
    ))  # fmt: skip
    assert "EACCES" in refused["initialize"]["closed"], refused
    assert refused["exit"] == 1, refused
    # Nothing of QMD listens on a port.
    assert not [line for line in inside(sandbox, "ss", "-Hltnp").splitlines() if "qmd" in line]

    # OpenClaw: healthy and ready; QMD is its MCP server.
    assert OPENCLAW.listen is not None
    base = f"http://{OPENCLAW.listen.host}:{OPENCLAW.listen.port}"
    print(f"openclaw ready after install: {wait_ready(sandbox, base + '/readyz'):.1f} s")
    state = f"/var/lib/aiws/{OPENCLAW.name}"
    copied = json.loads(inside(sandbox, "cat", f"{state}/openclaw.json"))
    qmd_server = {"command": "/usr/bin/python3", "args": [client, QMD.socket.path]}
    assert copied["mcp"]["servers"]["qmd"] == qmd_server
    key = inside(sandbox, "cat", "/var/lib/aiws/secrets/litellm-key-openclaw")
    provider = copied["models"]["providers"]["litellm"]
    assert provider["apiKey"] == key and provider["baseUrl"].endswith("/v1")
    assert copied["agents"]["defaults"]["model"]["primary"] == "litellm/aiws-mock"
    # And as OpenClaw itself reads them: its own CLI (`openclaw mcp list`), as its account
    # with its unit's environment and a private /tmp, lists QMD.
    unit = f"aiws-{OPENCLAW.name}.service"
    environment = inside(sandbox, "systemctl", "show", "-p", "Environment", "--value", unit)
    listed = inside(
        sandbox, "systemd-run", "--quiet", "--pipe", "--wait", "-p", "PrivateTmp=yes",
        "-p", f"User={OPENCLAW.user}", "-p", f"Group={OPENCLAW.user}",
        *[f"--setenv={assignment}" for assignment in environment.split()],
        NODE_BINARY, OPENCLAW_CLI, "mcp", "list", "--json", timeout=180,
    )  # fmt: skip
    servers = json.loads(listed[listed.index("{") :])
    assert {k: servers["qmd"].get(k) for k in qmd_server} == qmd_server, servers

    # One agent turn as the Bridge will run it: the ACP launcher as OpenClaw's account with
    # a private /tmp, the gateway under strace.
    inside(sandbox, "sh", "-c", f"cat > /usr/local/lib/aiws-acp-test.py <<'EOF'\n{ACP}\nEOF")
    launcher = f"/opt/aiws/{OPENCLAW.name}/{OPENCLAW.version}/bin/aiws-openclaw-acp"
    trace = tmp_path / "gateway.trace"
    pids = host_pids(sandbox, f"aiws-{OPENCLAW.name}.service")
    args = [a for pid in pids for a in ("-p", pid)]
    watcher = subprocess.Popen(
        [strace, "-f", "-qq", "-e", f"trace={outbound.TRACED}", "-o", str(trace), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(2)  # strace attached
        turn = json.loads(inside(
            sandbox, "systemd-run", "--quiet", "--pipe", "--wait", "-p", "PrivateTmp=yes",
            "-p", f"User={OPENCLAW.user}", "-p", f"Group={OPENCLAW.user}",
            "python3", "/usr/local/lib/aiws-acp-test.py", f"{state}/workspace", launcher,
            timeout=300,
        ))  # fmt: skip
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    print("openclaw over ACP: " + ", ".join(f"{k} {v:.2f} s" for k, v in turn["took"].items()))
    assert turn["agent"] == "openclaw-acp" and turn["stop"] == "end_turn", turn
    assert MOCK_TEXT in turn["text"], turn
    seen = trace.read_text()
    assert LITELLM.listen is not None
    litellm = f'htons({LITELLM.listen.port}), sin_addr=inet_addr("{LITELLM.listen.host}")'
    assert litellm in seen, f"strace saw no connection to LiteLLM, so it watched nothing: {seen}"
    # No attempt at all, DNS included: the gateway's lookup of its plugin hub after every
    # start (no setting turns it off) finds no resolver in its units (hosts from files only).
    assert outbound.attempts(seen) == []
    main = inside(sandbox, "systemctl", "show", "-p", "MainPID", "--value", unit)
    seen_by_gateway = inside(sandbox, "cat", f"/proc/{main}/root/etc/nsswitch.conf")
    hosts = [line for line in seen_by_gateway.splitlines() if line.startswith("hosts:")]
    assert hosts == ["hosts: files"], seen_by_gateway
    assert inside(sandbox, "sh", "-c", "ls -d /tmp/openclaw 2>/dev/null || echo none") == "none"

    through_the_gateway(sandbox, tmp_path, token)
    # Each OpenClaw session that used MCP had its own QMD process; none outlives a minute
    # unused (OpenClaw's sweep runs every minute), so none is left at rest.
    print(f"QMD's per-session processes gone after: {qmd_instances_gone(sandbox):.0f} s")
    inside(sandbox, "rm", "-f", "/usr/local/lib/aiws-mcp-test.py",
           "/usr/local/lib/aiws-acp-test.py")  # fmt: skip
    print(f"aiws-openclaw idle RSS: {unit_rss_mb(sandbox, 'aiws-openclaw.service')} MB")


def qmd_instances_gone(sandbox: SandboxState, seconds: float = 180) -> float:
    """Seconds until no per-connection QMD service runs."""
    started = time.monotonic()
    running = "systemctl list-units --no-legend --plain --state=active 'aiws-qmd@*'"
    while inside(sandbox, "sh", "-c", running):
        assert time.monotonic() - started < seconds, inside(sandbox, "sh", "-c", running)
        time.sleep(2)
    return time.monotonic() - started


CLIENT = "/root/bridge_client.py"
TOKEN_FILE = "/root/bridge-token"


def through_the_gateway(sandbox: SandboxState, tmp_path: Path, token: str) -> None:
    """The gateway target as the app drives it, through the Bridge on the host's loopback:
    start, streamed updates with the mock's text, cancel, close, -32002 after; no session
    unit left running."""
    (tmp_path / "token").write_text(token)
    copy_in(sandbox, tmp_path / "token", TOKEN_FILE)
    copy_in(sandbox, FIXTURES / "bridge_client.py", CLIENT)
    bridge = CATALOG.component("bridge").listen
    assert bridge is not None
    base = f"http://{bridge.host}:{bridge.port}"
    seen = json.loads(inside(sandbox, "python3", CLIENT, "--gateway", base, TOKEN_FILE,
                             "openclaw", timeout=600))  # fmt: skip
    print(f"openclaw through the Bridge (gateway): start {seen['start_seconds']} s, first "
          f"session.update delta {seen['first_delta_seconds']} s", flush=True)  # fmt: skip
    assert seen["done"] and seen["updates_with_ids"] and MOCK_TEXT in seen["text"], seen
    result = seen["result"]
    assert result["status"] == "completed" and MOCK_TEXT in result["output"], result
    assert result["resolvedExecutionTarget"] == "gateway", result
    assert result["resolvedGatewayProviderId"] == "openclaw", result
    assert seen["cancel"] == {"accepted": True}, seen
    assert seen["cancelled"] and seen["cancelled"]["status"] == "cancelled", seen
    assert seen["close"] == {"accepted": True, "closed": True}, seen
    assert seen["after_close"]["code"] == -32002, seen
    sessions = "systemctl list-units --no-legend --plain --state=active 'aiws-acp-openclaw@*'"
    deadline = time.monotonic() + 30
    while inside(sandbox, "sh", "-c", sessions) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert inside(sandbox, "sh", "-c", sessions) == ""
    inside(sandbox, "rm", CLIENT, TOKEN_FILE)
