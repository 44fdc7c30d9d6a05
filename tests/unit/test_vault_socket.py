"""aiws talks to Vault only over its unix socket, and only after checking that the socket,
its directory and every directory above could not have been made by another local user.
A squatter's socket gets nothing: not a request line, let alone the unseal key."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiws.module_utils import aiws_vault_api
from aiws.module_utils.aiws_vault_api import Api, UntrustedSocket, check_socket

HELPER = Path(aiws_vault_api.__file__)
NOBODY = 65534
KEY = "the-unseal-key-value"


class FakeVault:
    """A unix-socket HTTP server recording every byte it receives; answers 'sealed' then
    'unsealed'."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = b""
        self.sealed = True
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = self._request(conn)
                self.received += data
                if b"/v1/sys/unseal" in data:
                    self.sealed = False
                body = json.dumps({"initialized": True, "sealed": self.sealed}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )

    @staticmethod
    def _request(conn: socket.socket) -> bytes:
        """One whole request: headers, then Content-Length bytes of body."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n")
             if line.lower().startswith(b"content-length:")),
            0,
        )  # fmt: skip
        while len(body) < length:
            body += conn.recv(65536)
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A root-owned 0700 directory, as systemd makes the unit's RuntimeDirectory."""
    path = tmp_path / "run" / "aiws-vault"
    path.mkdir(parents=True, mode=0o700)
    return path


@pytest.fixture
def vault(run_dir: Path) -> Iterator[FakeVault]:
    server = FakeVault(run_dir / "vault.sock")
    yield server
    server.close()


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text(KEY)
    path.chmod(0o600)
    return path


def test_a_socket_only_root_could_make_is_used(vault: FakeVault) -> None:
    status, body = Api(str(vault.path), "root").call("GET", "/v1/sys/seal-status")
    assert status == 200 and body["sealed"] is True
    assert vault.received.startswith(b"GET /v1/sys/seal-status")


def test_a_socket_another_user_made_gets_nothing(vault: FakeVault) -> None:
    os.chown(vault.path, NOBODY, NOBODY)
    with pytest.raises(UntrustedSocket, match="uid 65534"):
        Api(str(vault.path), "root").call("PUT", "/v1/sys/unseal", {"key": KEY})
    assert vault.received == b""


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777])
def test_a_directory_others_can_write_is_refused(vault: FakeVault, mode: int) -> None:
    vault.path.parent.chmod(mode)
    with pytest.raises(UntrustedSocket, match="writable by others"):
        check_socket(str(vault.path), "root")


def test_a_directory_above_owned_by_another_user_is_refused(vault: FakeVault) -> None:
    os.chown(vault.path.parent.parent, NOBODY, NOBODY)
    with pytest.raises(UntrustedSocket):
        check_socket(str(vault.path), "root")


def test_a_symlinked_directory_is_refused(vault: FakeVault, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(vault.path.parent)
    with pytest.raises(UntrustedSocket):
        check_socket(str(link / "vault.sock"), "root")


def test_a_regular_file_is_not_a_socket(run_dir: Path) -> None:
    (run_dir / "vault.sock").write_text("")
    with pytest.raises(UntrustedSocket, match="not a socket"):
        check_socket(str(run_dir / "vault.sock"), "root")


def test_the_socket_of_the_vault_account_is_accepted(vault: FakeVault) -> None:
    os.chown(vault.path, NOBODY, NOBODY)
    os.chown(vault.path.parent, NOBODY, NOBODY)
    check_socket(str(vault.path), "nobody")  # the unit's own account: fine


def test_waiting_does_not_retry_an_untrusted_socket(vault: FakeVault) -> None:
    os.chown(vault.path, NOBODY, NOBODY)
    with pytest.raises(UntrustedSocket):
        Api(str(vault.path), "root").wait(30)  # fails at once, not after 30 s


def unseal_helper(socket_path: Path, key: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, str(HELPER), str(socket_path), "root", str(key), "5"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


def test_the_unseal_helper_unseals_through_the_socket_and_never_prints_the_key(
    vault: FakeVault, tmp_path: Path
) -> None:
    proxy = {**os.environ, "http_proxy": "http://127.0.0.1:9", "all_proxy": "http://127.0.0.1:9"}
    done = unseal_helper(vault.path, key_file(tmp_path), proxy)
    assert done.returncode == 0, done.stderr
    assert "unsealed" in done.stderr and KEY not in done.stdout + done.stderr
    assert KEY.encode() in vault.received and vault.sealed is False


def test_the_unseal_helper_sends_no_key_to_a_squatters_socket(
    vault: FakeVault, tmp_path: Path
) -> None:
    os.chown(vault.path, NOBODY, NOBODY)
    done = unseal_helper(vault.path, key_file(tmp_path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "refusing" in done.stderr
    assert vault.received == b"" and KEY not in done.stderr


def test_the_unseal_helper_stops_waiting_once_vaults_process_is_gone(tmp_path: Path) -> None:
    """A release that cannot start: the helper (the unit's ExecStartPost) gives up as soon as
    the unit's main process has exited, not at the end of its wait."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    env = {**os.environ, "MAINPID": gone}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(HELPER), str(tmp_path / "none.sock"), "root", str(tmp_path / "k"),
         "30"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 1 and f"process {gone} exited before it answered" in done.stderr
    assert time.monotonic() - started < 10, done.stderr
