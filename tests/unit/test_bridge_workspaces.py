"""Where a thread works (aiws_bridge.workspaces) and the files moved in and out of its
workspace as the agent's account (aiws_bridge.workfiles), on a tmp_path tree: the app's
device paths never refused and never escaping, names made safe, attachments and artifacts
within their limits, links never followed."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from aiws_bridge import workfiles
from aiws_bridge.rpc import RpcError
from aiws_bridge.threads import Thread, ThreadStore
from aiws_bridge.workspaces import rewrite_prompt, safe_name, thread_workspace

ROOT = "/var/lib/aiws/workspaces"
KEY = "draft:1786594930512345-1"
DEVICE = "c6056c3ee5c350bf4fd313cbe3a45106b46c51cf3787162dfbeedbb5fabd2494"


@pytest.mark.parametrize(
    ("device_path", "expected"),
    [
        ("/Users/alice/.xworkmate/threads/draft-1786594930512345-1",
         f"codex/first/threads/{safe_name(KEY)}"),
        ("/var/mobile/Containers/Data/Application/1F2E/Documents/.xworkmate/threads/x",
         f"codex/first/threads/{safe_name(KEY)}"),
        (f"/owners/local/user/{DEVICE}/threads/{KEY}",
         f"codex/first/owners/local/user/{DEVICE}/threads/{safe_name(KEY)}"),
        ("/tmp", f"codex/first/threads/{safe_name(KEY)}"),
        ("/etc/../../root", f"codex/first/threads/{safe_name(KEY)}"),
        ("/owners/../../etc/x/threads/..", f"codex/first/threads/{safe_name(KEY)}"),
        (None, f"codex/first/threads/{safe_name(KEY)}"),
    ],
)  # fmt: skip
def test_a_device_path_names_the_thread_never_the_server_path(
    device_path: str | None, expected: str
) -> None:
    workspace = thread_workspace(ROOT, "codex", "first", KEY, device_path, None)
    assert workspace == PurePosixPath(ROOT) / expected
    assert ".." not in workspace.parts


def test_names_are_safe_and_distinct() -> None:
    assert safe_name("plain-name_1.2") == "plain-name_1.2"
    assert safe_name("draft:1") != safe_name("draft_1") and safe_name("draft:1") != "draft_1"
    for name in ("..", ".", ".hidden", "a/b", "a\x00b"):
        safe = safe_name(name)
        assert "/" not in safe and not safe.startswith(".") and "\x00" not in safe, safe


def test_a_hint_is_used_only_when_it_is_this_tokens_and_providers() -> None:
    own = thread_workspace(ROOT, "codex", "first", KEY, None, None)
    assert thread_workspace(ROOT, "codex", "first", "other", "/x", str(own)) == own
    for foreign in (f"{ROOT}/codex/second/threads/x", f"{ROOT}/hermes/first/threads/x",
                    f"{ROOT}/codex/first/../second/x", "/etc"):  # fmt: skip
        taken = thread_workspace(ROOT, "codex", "first", "k", "/x", foreign)
        assert taken == PurePosixPath(ROOT) / "codex/first/threads/k", foreign


@pytest.mark.parametrize("field", ["device", "hint"])
def test_control_characters_are_refused(field: str) -> None:
    bad = "/Users/a\x1b[31m/b"
    with pytest.raises(RpcError) as refused:
        thread_workspace(ROOT, "codex", "first", KEY, bad if field == "device" else "/x",
                         bad if field == "hint" else None)  # fmt: skip
    assert refused.value.code == -32602


def test_the_prompt_names_the_server_workspace() -> None:
    workspace = PurePosixPath(f"{ROOT}/codex/first/threads/k")
    prompt = (
        "- currentTaskWorkspace: /Users/alice/.xworkmate/threads/k\n"
        "- remoteWorkspaceHint: /owners/local/user/d/threads/k\nUser request:\nhi"
    )
    out = rewrite_prompt(prompt, workspace, "/Users/alice/.xworkmate/threads/k/",
                         "/owners/local/user/d/threads/k")  # fmt: skip
    assert out.count(str(workspace)) == 2 and "/Users/alice" not in out


def test_thread_records_are_private_and_bounded(tmp_path: Path) -> None:
    store = ThreadStore(tmp_path)
    thread = Thread(token="first", session_id=KEY, thread_id=KEY, provider="codex",
                    workspace="/w")  # fmt: skip
    for n in range(40):
        thread.add_turn(f"prompt {n}", "x" * 2000)
    store.save(thread)
    path = tmp_path / "threads" / "first" / f"{safe_name(KEY)}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    again = ThreadStore(tmp_path).get("first", KEY)
    assert again is not None and again.transcript[-1]["prompt"] == "prompt 39"
    assert len(again.transcript) <= 20
    assert "prompt 39" in again.primed("next") and again.primed("next").endswith("next")
    assert ThreadStore(tmp_path).get("second", KEY) is None


def ask(root: Path, request: dict[str, object]) -> dict[str, object]:
    """workfiles as the session unit runs it: a child, one JSON line in and out."""
    done = subprocess.run(
        [sys.executable, "-I", "-m", "aiws_bridge.workfiles", str(root)],
        input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    answer: dict[str, object] = json.loads(done.stdout)
    assert (done.returncode == 0) == bool(answer["ok"]), (done.returncode, answer)
    return answer


def test_files_in_and_back_out(tmp_path: Path) -> None:
    root = tmp_path / "codex"
    root.mkdir(mode=0o700)
    workspace = root / "first" / "threads" / "k"
    data = bytes(range(256))
    put = ask(
        root,
        {
            "op": "put",
            "workspace": str(workspace),
            "files": [{"name": "a.bin", "content": base64.b64encode(data).decode()}],
        },
    )
    assert put["paths"] == [str(workspace / "attachments" / "a.bin")]
    assert (workspace / "attachments" / "a.bin").read_bytes() == data
    assert workspace.stat().st_mode & 0o777 == 0o700
    before = ask(root, {"op": "scan", "workspace": str(workspace)})["files"]
    (workspace / "report.md").write_text("# done\n")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "HEAD").write_text("x")
    (workspace / "node_modules").mkdir()
    (workspace / "node_modules" / "m.js").write_text("x")
    (workspace / "big.bin").write_bytes(b"0" * (workfiles.MAX_ARTIFACT_BYTES + 1))
    (workspace / "link").symlink_to("/etc/hostname")
    (workspace / "attachments" / "a.bin").write_bytes(b"changed")
    back = ask(root, {"op": "collect", "workspace": str(workspace), "before": before})
    assert [a["relativePath"] for a in back["artifacts"]] == ["report.md"]  # type: ignore[attr-defined]
    (artifact,) = back["artifacts"]  # type: ignore[misc]
    assert artifact["encoding"] == "utf8" and artifact["content"] == "# done\n"
    assert back["skipped"] == 1  # the file over 2 MiB


def test_workfiles_refuse_what_is_not_the_agents(tmp_path: Path) -> None:
    root = tmp_path / "codex"
    root.mkdir(mode=0o700)
    (root / "open").mkdir(mode=0o755)
    (root / "open").chmod(0o755)
    (root / "escape").symlink_to(tmp_path)
    for workspace in ("/etc", str(tmp_path / "other"), str(root / "open"),
                      str(root / "escape" / "x"), str(root)):  # fmt: skip
        answer = ask(root, {"op": "scan", "workspace": workspace})
        assert answer["ok"] is False, workspace
    workspace = root / "w"
    for name in ("../x", ".hidden", "a/b", ""):
        answer = ask(root, {"op": "put", "workspace": str(workspace),
                            "files": [{"name": name, "content": ""}]})  # fmt: skip
        assert answer["ok"] is False, name
    (workspace / "attachments").mkdir(exist_ok=True)
    (workspace / "attachments" / "x").symlink_to(tmp_path / "target")
    answer = ask(root, {"op": "put", "workspace": str(workspace),
                        "files": [{"name": "x", "content": "aGk="}]})  # fmt: skip
    assert answer["ok"] is False and not (tmp_path / "target").exists()
    assert not os.path.lexists(tmp_path / "other")
