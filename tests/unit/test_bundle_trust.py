"""Bundle authenticity: a signature by a key the operator pins, or a SHA256 given out of band.

The `.sha256` beside a package only catches a damaged copy: whoever can change the package
can rewrite it too. These tests change the package *and* re-seal its `.sha256`, and show
that only the pins catch it.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiws.bundle import build as build_module
from aiws.bundle import signing
from aiws.bundle.build import write_artifact
from aiws.bundle.recipes import Artifact
from aiws.bundle.target import BundleTarget, parse_target
from aiws.bundle.verify import open_package, verify_bundle
from aiws.cli.main import app
from aiws.errors import AiwsError, UsageError
from aiws.model import trust as pins
from aiws.model.catalog import load_catalog
from tests.helpers.bundles import crafted_bundle, make_payload, repack, small_bundle, tar_member
from tests.helpers.cli import aiws

VAULT_TARBALL = "vault-runtime-debian-12-2.7.2-amd64.tar.gz"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def target() -> BundleTarget:
    return parse_target("debian-12-amd64", load_catalog())


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return signing.keygen(tmp_path / "keys")


def signed_bundle(tmp_path: Path, target: BundleTarget, private: Path) -> Path:
    package = small_bundle(tmp_path, target)
    digest = package.with_name(package.name + ".sha256").read_text().split()[0]
    signing.write_signature(package, digest, signing.load_private_key(private))
    return package


def tamper(package: Path) -> None:
    """Change a file inside and re-seal every layer, `.sha256` included (not the .sig)."""
    repack(package, VAULT_TARBALL, lambda root: (root / "bin" / "bao").write_bytes(b"evil"))


def one_line(result: Any) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


# --- keygen ---------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    out = tmp_path / "keys"
    result = aiws("bundle", "keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    private, public = out / signing.PRIVATE_KEY, out / pins.PUBLIC_KEY
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    fingerprint = pins.fingerprint(pins.load_public_key(public))
    assert fingerprint in result.stdout
    before = private.read_bytes(), public.read_bytes()

    again = aiws("bundle", "keygen", "--out", str(out))
    assert again.returncode == 2
    assert f"{private} already exists" in one_line(again)
    assert (private.read_bytes(), public.read_bytes()) == before


def test_keygen_refuses_when_only_the_public_key_is_there(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    out.mkdir()
    (out / pins.PUBLIC_KEY).write_text("kept\n")
    with pytest.raises(UsageError, match="already exists"):
        signing.keygen(out)
    assert not (out / signing.PRIVATE_KEY).exists()
    assert (out / pins.PUBLIC_KEY).read_text() == "kept\n"


# --- --trust-key ------------------------------------------------------------------------------


def test_a_signed_bundle_verifies_with_its_key(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = signed_bundle(tmp_path, target, keys[0])
    trust = pins.load_trust(keys[1], None)
    bundle = verify_bundle(package, tmp_path / "unpacked", trust=trust)
    assert bundle.versions == {"node": "24.21.0", "vault": "2.7.2"}


def test_a_substituted_bundle_passes_its_sha256_but_not_the_key(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = signed_bundle(tmp_path, target, keys[0])
    # another bundle, consistent in every layer, put in its place with its own .sha256
    other = crafted_bundle(tmp_path / "other", [tar_member("bin/x", b"other", mode=0o755)])
    other.replace(package)
    other.with_name(other.name + ".sha256").replace(package.with_name(package.name + ".sha256"))
    # What the .sha256 alone cannot tell: the substitute verifies in every layer...
    verify_bundle(package, tmp_path / "unpacked")
    # ... and the signature says it is not what the key holder signed.
    with pytest.raises(AiwsError, match=r"\.tar\.sig does not verify with"):
        open_package(package, pins.load_trust(keys[1], None))


def test_an_unsigned_bundle_is_refused_when_a_key_is_pinned(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = small_bundle(tmp_path, target)
    dest = tmp_path / "unpacked"
    with pytest.raises(AiwsError, match=r"\.tar\.sig: missing; --trust-key needs"):
        verify_bundle(package, dest, trust=pins.load_trust(keys[1], None))
    assert not dest.exists()  # refused before anything was unpacked


def test_a_bundle_signed_by_another_key_is_refused(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = signed_bundle(tmp_path, target, keys[0])
    _, other = signing.keygen(tmp_path / "other")
    with pytest.raises(AiwsError, match="does not verify with"):
        open_package(package, pins.load_trust(other, None))


def test_a_garbled_signature_is_refused_in_one_line(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = signed_bundle(tmp_path, target, keys[0])
    signing.signature_path(package).write_bytes(b"\xff\x00 not base64\n")
    with pytest.raises(AiwsError, match=r"\.tar\.sig: not an aiws signature") as failure:
        open_package(package, pins.load_trust(keys[1], None))
    assert "\n" not in str(failure.value)


def test_the_signature_is_over_the_documented_statement(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    """docs/bundle.md: Ed25519 over `aiws-bundle-sha256 <hex>\\n`, base64 in `<bundle>.sig`:
    checkable by hand with base64 and openssl."""
    package = signed_bundle(tmp_path, target, keys[0])
    digest = package.with_name(package.name + ".sha256").read_text().split()[0]
    raw = base64.b64decode(signing.signature_path(package).read_text().strip(), validate=True)
    pins.load_public_key(keys[1]).verify(raw, f"aiws-bundle-sha256 {digest}\n".encode())


def test_the_pinned_key_must_be_an_ed25519_public_key(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    with pytest.raises(UsageError, match="not an Ed25519 public key"):
        pins.load_trust(keys[0], None)  # the private key by mistake
    with pytest.raises(UsageError, match="no such file"):
        pins.load_trust(tmp_path / "nope.pub", None)


# --- --sha256 ----------------------------------------------------------------------------------


def test_a_pinned_sha256_accepts_the_package_even_without_its_sha256_file(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    checksum = package.with_name(package.name + ".sha256")
    digest = checksum.read_text().split()[0]
    checksum.unlink()
    bundle = verify_bundle(package, tmp_path / "u", trust=pins.load_trust(None, digest.upper()))
    assert bundle.sha256 == digest


def test_a_pin_is_compared_with_the_real_hash_even_when_it_was_remembered(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    pinned = package.with_name(package.name + ".sha256").read_text().split()[0]
    open_package(package, pins.load_trust(None, pinned))  # hashed and remembered
    tamper(package)  # a new file, its .sha256 re-sealed
    with pytest.raises(AiwsError, match=r"is not the pinned --sha256") as failure:
        open_package(package, pins.load_trust(None, pinned))
    assert pinned[:16] in failure.value.problem
    # and again, now that the tampered package's hash is the remembered one
    with pytest.raises(AiwsError, match=r"is not the pinned --sha256"):
        open_package(package, pins.load_trust(None, pinned))


@pytest.mark.parametrize("value", ["abc", "g" * 64, "0" * 63, "0" * 65, ""])
def test_a_malformed_sha256_pin_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="--sha256"):
        pins.load_trust(None, value)


# --- the CLI: every command that takes a bundle refuses in one line --------------------------


def test_bundle_verify_with_a_key_refuses_an_unsigned_bundle_in_one_line(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = small_bundle(tmp_path, target)
    args = ["bundle", "verify", str(package), "--dest", str(tmp_path / "u")]
    result = aiws(*args, "--trust-key", str(keys[1]))
    assert result.returncode == 1
    assert f"{package.name}.sig: missing" in one_line(result)
    assert not (tmp_path / "u").exists()

    signing.write_signature(
        package,
        package.with_name(package.name + ".sha256").read_text().split()[0],
        signing.load_private_key(keys[0]),
    )
    ok = aiws(*args, "--trust-key", str(keys[1]))
    assert ok.returncode == 0, ok.stderr
    assert pins.fingerprint(pins.load_public_key(keys[1])) in ok.stdout


def test_bundle_verify_with_a_wrong_sha256_refuses_in_one_line(
    tmp_path: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    result = aiws("bundle", "verify", str(package), "--sha256", "ab" * 32)
    assert result.returncode == 1
    assert "is not the pinned --sha256 abababababababab" in one_line(result)
    bad = aiws("bundle", "verify", str(package), "--sha256", "xyz")
    assert bad.returncode == 2
    assert "--sha256 'xyz'" in one_line(bad)


def test_preflight_with_a_key_refuses_an_unsigned_bundle_before_any_host_check(
    tmp_path: Path, target: BundleTarget, keys: tuple[Path, Path]
) -> None:
    package = small_bundle(tmp_path, target)
    result = aiws(
        "preflight", "--mode", "local", "--bundle", str(package), "--trust-key", str(keys[1])
    )
    assert result.returncode == 1
    assert result.stdout == ""  # no guard report: no host was looked at
    assert f"{package.name}.sig: missing" in one_line(result)


def test_preflight_pins_need_a_bundle(keys: tuple[Path, Path]) -> None:
    result = aiws("preflight", "--mode", "local", "--trust-key", str(keys[1]))
    assert result.returncode == 2
    assert "--trust-key and --sha256 need --bundle" in one_line(result)


@pytest.mark.parametrize("pin", ["key", "sha256"])
def test_install_refuses_before_touching_any_host(
    tmp_path: Path,
    target: BundleTarget,
    keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    pin: str,
) -> None:
    package = small_bundle(tmp_path, target)
    tamper(package)

    def no_host(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a host was contacted")

    monkeypatch.setattr("aiws.commands.install.check_hosts", no_host)
    monkeypatch.setattr("aiws.commands.install._converge", no_host)
    monkeypatch.setenv("AIWS_RUN_DIR", str(tmp_path / "run"))  # never the real run lock
    options = ["--trust-key", str(keys[1])] if pin == "key" else ["--sha256", "0" * 64]
    install = ["install", "--mode", "core", "--only", "postgresql,vault", "--internal-ca"]
    result = CliRunner().invoke(app, [*install, "--bundle", str(package), *options])
    assert isinstance(result.exception, AiwsError), result.output
    assert result.exception.exit_code == 1
    assert "\n" not in str(result.exception)
    expected = ".sig: missing" if pin == "key" else "is not the pinned --sha256"
    assert expected in str(result.exception)


# --- build --sign-key ---------------------------------------------------------------------------


def _small_artifacts(
    builder: Any, the_plan: Any, staging: Path, request: Any, progress: Any
) -> Any:
    """Stands in for the registries: one tiny artifact, written by the real writer."""
    payload = make_payload(staging / "payload", {"bin/tool": b"#!/bin/sh\n"})
    artifact = Artifact("vault", "pypi-binary", "2.7.2", {"vault": "2.7.2"}, ["x==1"], ["bin/tool"])
    entry = write_artifact(payload, artifact, [], request.target, staging / "tarballs")
    return [entry], {"vault": 0.0}


def test_build_signs_the_package_with_the_given_key(
    tmp_path: Path, keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_module, "_build_artifacts", _small_artifacts)
    out = tmp_path / "out"
    runner = CliRunner()
    build = ["bundle", "build", "--target", "debian-12-amd64", "--components", "vault"]
    built = runner.invoke(app, [*build, "--out", str(out), "--sign-key", str(keys[0])])
    assert built.exit_code == 0, built.output
    (package,) = out.glob("*.tar")
    assert signing.signature_path(package).is_file()
    assert signing.signature_path(package).name in built.output
    verify_bundle(package, tmp_path / "u", trust=pins.load_trust(keys[1], None))

    # built again without a key: no stale signature is left beside the new package
    again = runner.invoke(app, [*build, "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert not signing.signature_path(package).exists()


@pytest.mark.parametrize("which", ["missing", "public"])
def test_build_checks_the_sign_key_before_building(
    tmp_path: Path, keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("built before the key was checked")

    monkeypatch.setattr(build_module, "build_bundle", never)
    monkeypatch.setattr("aiws.cli.bundle.build_bundle", never)
    key = tmp_path / "nope.key" if which == "missing" else keys[1]
    build = ["bundle", "build", "--target", "debian-12-amd64", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*build, "--sign-key", str(key)])
    assert isinstance(result.exception, UsageError), result.output
    assert "--sign-key" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_the_private_key_file_is_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private, _ = signing.keygen(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
