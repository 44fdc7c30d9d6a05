"""Base images: a debootstrapped Debian rootfs, built once, cached as a tar and unpacked once.

The cache key is the distro plus a hash of the package list and the build recipe, so a
changed list builds a new image instead of booting a stale one. Layout under image_root():
`<key>.tar.gz` (the artifact), `<key>/` (the unpacked, read-only overlay lower dir) and
`<key>.log` (the last build's debootstrap log).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiws.errors import AiwsError, UsageError
from aiws.model.catalog import load_catalog
from aiws.sandbox import system
from aiws.sandbox.paths import image_root

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "iproute2",
    "ca-certificates",
    "sudo",
    "locales",
)
# Bump when the steps after debootstrap change: that changes every cache key.
RECIPE_VERSION = "1"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT = 1200
TAR_TIMEOUT = 600
LOG_TAIL_LINES = 15
# Units that make no sense in a container; masked so the boot ends `running`.
MASKED_UNITS = ("e2scrub_reap.service",)


def distros() -> list[str]:
    return [name for name, p in load_catalog().platforms.items() if p.os_id == "debian"]


def codename(distro: str) -> str:
    if distro not in distros():
        raise UsageError(f"unknown distro '{distro}'", f"choose from: {', '.join(distros())}")
    return load_catalog().platforms[distro].codename


def image_key(distro: str, packages: tuple[str, ...] = PACKAGES) -> str:
    recipe = ",".join(sorted(packages)) + f";recipe={RECIPE_VERSION}"
    return f"{distro}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def mirror() -> str:
    return os.environ.get("AIWS_DEBIAN_MIRROR", DEFAULT_MIRROR)


def ensure_image(distro: str, announce: Callable[[str], None] = lambda _: None) -> Path:
    """The unpacked lower dir of `distro`'s base image; builds and unpacks it when missing.

    `announce` hears about a build before it starts: it takes about a minute.
    """
    key = image_key(distro)
    root = image_root()
    root.mkdir(parents=True, exist_ok=True)
    lower = root / key
    with system.locked(root / f"{key}.lock"):  # one builder per image, across processes
        if not lower.is_dir():
            tarball = root / f"{key}.tar.gz"
            if not tarball.is_file():
                announce(f"building the {distro} base image once (about a minute)")
                build_image(distro, tarball)
            _unpack(tarball, lower)
    return lower


def build_image(distro: str, tarball: Path) -> None:
    """debootstrap `distro`, prepare it for booting in a container and pack it as `tarball`."""
    system.require_tools("debootstrap", "tar")
    log = tarball.with_name(tarball.name.removesuffix(".tar.gz") + ".log")
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix=".build-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        _debootstrap(codename(distro), rootfs, log)
        _prepare(rootfs)
        partial = Path(scratch) / tarball.name
        system.run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "-czf",
                str(partial),
                "-C",
                str(rootfs),
                ".",
            ],
            timeout=TAR_TIMEOUT,
        )
        partial.rename(tarball)


def _debootstrap(suite: str, rootfs: Path, log: Path) -> None:
    args = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(rootfs),
        mirror(),
    ]
    with log.open("w") as out:
        try:
            done = subprocess.run(
                args, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT, check=False
            )
            failed = done.returncode != 0
        except subprocess.TimeoutExpired:
            failed = True
    if failed:
        raise AiwsError(
            f"building the {suite} base image failed (debootstrap, log {log}):\n"
            + _tail(rootfs / "debootstrap/debootstrap.log", log),
            "check the mirror is reachable (AIWS_DEBIAN_MIRROR) and rerun",
        )


def _tail(*logs: Path) -> str:
    """The last lines of the logs that exist; debootstrap's own log is lost with the rootfs."""
    lines = [
        line
        for log in logs
        if log.is_file()
        for line in log.read_text(errors="replace").splitlines()
    ]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _prepare(rootfs: Path) -> None:
    # An empty machine-id makes every boot generate its own.
    (rootfs / "etc/machine-id").write_text("")
    for unit in MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Drop downloaded .debs but keep the apt lists: apt works inside without an update.
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)
    for cache in (rootfs / "var/cache/apt").glob("*.bin"):
        cache.unlink()


def _unpack(tarball: Path, lower: Path) -> None:
    partial = lower.with_name(f".{lower.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    system.run(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-xzf",
            str(tarball),
            "-C",
            str(partial),
        ],
        timeout=TAR_TIMEOUT,
    )
    partial.rename(lower)
