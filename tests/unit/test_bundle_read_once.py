"""The package root checks is the package root unpacks (issue: hardening, items 1 and 2).

A local user who owns a package, or its folder, could swap it after aiws hashed it and
have their own tarballs unpacked as root; one who chooses root's cache (a variable that
survives `sudo -E`) could plant a remembered hash or a symlink there. These tests make the
swap happen at a fixed point (a hook, not a race) and plant the cache, then show that what
is unpacked is what was checked, and that a cache root does not own is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from aiws.bundle import verify
from aiws.bundle.package import Package
from aiws.bundle.target import BundleTarget, parse_target
from aiws.bundle.verify import open_package, verify_bundle, verify_tarballs
from aiws.errors import AiwsError, ExitCode
from aiws.model import trust as pins
from aiws.model.catalog import load_catalog
from tests.helpers.bundles import repack, small_bundle
from tests.helpers.cli import aiws

VAULT_TARBALL = "vault-runtime-debian-12-2.7.2-amd64.tar.gz"
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks need root")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("AIWS_CACHE_DIR", str(root))
    return root


@pytest.fixture
def target() -> BundleTarget:
    return parse_target("debian-12-amd64", load_catalog())


def bundles(tmp_path: Path, target: BundleTarget) -> tuple[Path, Path]:
    """A package and an attacker's: the same names, a different Vault, every layer
    re-sealed (its own SHA256SUMS, manifest and .sha256 agree with it)."""
    package = small_bundle(tmp_path / "good", target)
    evil = tmp_path / "evil" / package.name
    evil.parent.mkdir()
    shutil.copy(package, evil)
    repack(evil, VAULT_TARBALL, lambda root: (root / "bin" / "bao").write_bytes(b"evil"))
    return package, evil


def pinned(package: Path) -> pins.Trust:
    sha = package.with_name(package.name + ".sha256").read_text().split()[0]
    return pins.load_trust(None, sha)


def swap_after_the_hash(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], object]) -> None:
    """Run `swap` right after the package's SHA256 is checked, before anything else of it
    is read (the manifest, then the tarballs)."""
    real = verify._verified_aggregate

    def swapped_first(package: Package) -> object:
        swap()
        return real(package)

    monkeypatch.setattr(verify, "_verified_aggregate", swapped_first)


def unpacked_vault(result: verify.VerifiedBundle) -> bytes:
    return result.for_component("vault").tarball.read_bytes()


def test_a_package_renamed_away_after_its_hash_is_still_the_one_unpacked(
    tmp_path: Path, cache: Path, target: BundleTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, evil = bundles(tmp_path, target)
    original = (tmp_path / "good" / "tarballs" / VAULT_TARBALL).read_bytes()
    swap_after_the_hash(monkeypatch, lambda: evil.replace(package))
    result = verify_bundle(package, trust=pinned(package))
    assert unpacked_vault(result) == original
    assert b"evil" not in unpacked_vault(result)


def test_a_package_someone_else_owns_is_copied_so_a_rewrite_in_place_changes_nothing(
    tmp_path: Path, cache: Path, target: BundleTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, evil = bundles(tmp_path, target)
    os.chown(package, NOBODY, NOBODY)  # its owner may write to the same inode at any time
    original = (tmp_path / "good" / "tarballs" / VAULT_TARBALL).read_bytes()
    evil_bytes = evil.read_bytes()

    def rewrite_in_place() -> None:
        with package.open("r+b") as same_inode:
            same_inode.write(evil_bytes)
            same_inode.truncate()

    swap_after_the_hash(monkeypatch, rewrite_in_place)
    with open_package(package, pinned(package)) as checked:
        assert checked.package.copied
        result = verify_tarballs(checked)
    assert unpacked_vault(result) == original
    # The copy had no name in the cache and is gone with the descriptor.
    assert list((cache / "packages").iterdir()) == []


def test_roots_own_package_is_read_in_place_and_its_hash_remembered(
    tmp_path: Path, cache: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    package.chmod(0o644)
    with open_package(package) as checked:
        assert not checked.package.copied
    assert len(list((cache / "hashes").iterdir())) == 1


def test_a_package_given_as_a_symlink_is_refused_in_one_line(
    tmp_path: Path, cache: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    link = tmp_path / "link.tar"
    link.symlink_to(package)
    shutil.copy(package.with_name(package.name + ".sha256"), tmp_path / "link.tar.sha256")
    with pytest.raises(AiwsError, match="is a symlink"):
        open_package(link)


@pytest.mark.parametrize("how", ["another owner", "writable by others", "a symlink"])
def test_as_root_a_cache_chosen_by_the_environment_must_be_roots_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: BundleTarget, how: str
) -> None:
    package = small_bundle(tmp_path, target)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    if how == "another owner":
        os.chown(theirs, NOBODY, NOBODY)
        monkeypatch.setenv("AIWS_CACHE_DIR", str(theirs))
    elif how == "writable by others":
        theirs.chmod(0o777)  # no sticky bit: anyone may rename what root makes in it
        monkeypatch.delenv("AIWS_CACHE_DIR", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(theirs))
    else:
        (tmp_path / "link").symlink_to(theirs)
        monkeypatch.setenv("AIWS_CACHE_DIR", str(tmp_path / "link"))
    with pytest.raises(AiwsError) as refused:
        verify_bundle(package)
    assert refused.value.problem.startswith("refusing aiws's cache"), refused.value.problem
    assert refused.value.exit_code == ExitCode.USAGE
    assert "AIWS_CACHE_DIR" in refused.value.fix
    assert not (theirs / "unpacked").exists() and not (theirs / "aiws" / "unpacked").exists()


def test_a_planted_hash_record_in_a_refused_cache_is_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: BundleTarget
) -> None:
    """The attack the check stops: a record claiming the pinned digest for the package's
    file, planted by the cache's owner, would skip the hash."""
    package, evil = bundles(tmp_path, target)
    theirs = tmp_path / "theirs"
    (theirs / "hashes").mkdir(parents=True)
    info = evil.stat()
    identity = {"dev": info.st_dev, "ino": info.st_ino, "size": info.st_size,
                "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns}  # fmt: skip
    record = theirs / "hashes" / f"{info.st_dev}-{info.st_ino}.json"
    record.write_text(json.dumps({"identity": identity, "sha256": pinned(package).sha256}))
    for path in (theirs, theirs / "hashes", record):
        os.chown(path, NOBODY, NOBODY)
    monkeypatch.setenv("AIWS_CACHE_DIR", str(theirs))
    with pytest.raises(AiwsError, match="refusing aiws's cache"):
        open_package(evil, pinned(package))


def test_roots_own_cache_made_earlier_is_tightened_to_0700(
    tmp_path: Path, cache: Path, target: BundleTarget
) -> None:
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)
    verify_bundle(small_bundle(tmp_path, target))
    assert cache.stat().st_mode & 0o777 == 0o700
    assert (cache / "unpacked").stat().st_mode & 0o777 == 0o700


def test_extraction_replaces_a_symlink_at_a_tarballs_name_and_never_follows_it(
    tmp_path: Path, cache: Path, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    unpacked = cache / "unpacked" / digest[:16]
    unpacked.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_text("untouched")
    (unpacked / VAULT_TARBALL).symlink_to(outside)
    verify_bundle(package)
    assert outside.read_text() == "untouched"
    assert not (unpacked / VAULT_TARBALL).is_symlink()


def test_the_cli_refuses_a_cache_others_own_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: BundleTarget
) -> None:
    package = small_bundle(tmp_path, target)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    monkeypatch.setenv("AIWS_CACHE_DIR", str(theirs))
    result = aiws("bundle", "verify", str(package))
    said = result.stdout + result.stderr
    assert result.returncode == ExitCode.USAGE, said
    assert "refusing aiws's cache" in said and "Traceback" not in said, said
