"""Python runtimes prebuilt for the target: a venv's contents made on the build machine with
the target's own CPython, so the host unpacks a ready tree instead of running pip.

The target's CPython comes from its Debian release (the builder's private apt, never this
machine's), extracted without root into the download cache and run through its own dynamic
loader: a Debian 13 interpreter runs on a Debian 12 build machine. It installs the wheelhouse
into a venv laid out for the target's path (`/opt/aiws/<component>/<version>/venv`) and
byte-compiles it there (unchecked-hash .pyc: they do not depend on file times, and a runtime
file that changes is caught by the bundle's sums, not by Python).

What the payload keeps is the venv's own files: its site-packages and its scripts, whose
`#!` names the target's path. The interpreter links (`bin/python*`, pointing at
/usr/bin/python3) and `pyvenv.cfg` are made on the host by `python3 -m venv --without-pip`,
since a runtime tarball holds no symlink leaving its tree. A patch release of the target's
Python keeps both its ABI (the wheels' cp3XY tags) and its bytecode's magic number, so a
runtime built against 3.11.2 runs on 3.11.x; another minor is another platform (the guard
refuses a bundle for another platform).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from aiws.bundle.sources import run_tool
from aiws.bundle.sources.apt import PrivateApt, host_mirrors
from aiws.bundle.target import BundleTarget
from aiws.concurrency import run_bounded
from aiws.errors import AiwsError

# Bump when what a prebuilt runtime holds changes (cache keys of the payloads include it).
PREBUILD_FORMAT = 1
INSTALL_TIMEOUT = 1800
COMPILE_WORKERS = max(2, os.cpu_count() or 1)
HOST_DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# What the interpreter needs to install and byte-compile: the minimal interpreter and the
# standard library, with their closure over an empty system (libc6 included).
PACKAGES = ["python{v}-minimal", "libpython{v}-stdlib"]
_LOADER = re.compile(r"^ld-linux[-.\w]*\.so\.\d+$")
# Made on the host by `python3 -m venv`, never shipped (see the module's docstring).
_HOST_MADE = {"pyvenv.cfg", "lib64", "include"}
_HOST_MADE_SCRIPTS = re.compile(r"^(python[\d.]*|activate.*|Activate\.ps1)$")


@dataclass(frozen=True)
class TargetPython:
    """The target's CPython, extracted under `root`, and how to run it on this machine."""

    root: Path
    version: str  # "3.11"

    @property
    def executable(self) -> Path:
        return self.root / "usr" / "bin" / f"python{self.version}"

    def loader(self) -> Path:
        """The target's own dynamic loader (a regular file: its /lib64 link is absolute)."""
        for libdir in self.library_dirs():
            for entry in sorted(libdir.iterdir()):
                if _LOADER.match(entry.name) and entry.is_file() and not entry.is_symlink():
                    return entry
        raise AiwsError(f"the target's Python under {self.root} has no dynamic loader")

    def library_dirs(self) -> list[Path]:
        dirs = [self.root / base / "lib" / _triplet(self.root) for base in ("usr", ".")]
        return [d for d in dirs if d.is_dir()]

    def command(self, python: Path) -> list[str]:
        """argv running `python` (the interpreter or a venv's link to it) on this machine."""
        libraries = ":".join(str(d) for d in self.library_dirs())
        return [str(self.loader()), "--library-path", libraries, str(python)]


def _triplet(root: Path) -> str:
    found = [p.name for p in (root / "usr" / "lib").glob("*-linux-gnu") if p.is_dir()]
    if len(found) != 1:
        raise AiwsError(f"the target's Python under {root} has no single multiarch directory")
    return found[0]


def can_run(target: BundleTarget) -> str | None:
    """Why this machine cannot run the target's Python (None when it can)."""
    here = HOST_DEB_ARCH.get(platform.machine())
    if here != target.arch:
        return (
            f"its Python runtime is prebuilt with {target.name}'s own Python, which this "
            f"{here or platform.machine()} build machine cannot run (build on {target.arch})"
        )
    return None


def packages(target: BundleTarget) -> list[str]:
    return [p.format(v=target.python) for p in PACKAGES]


def fill_target_python(payload: Path, target: BundleTarget, state: Path) -> None:
    """payload/root: the target release's interpreter and standard library, extracted."""
    apt = PrivateApt(state, target, host_mirrors())
    apt.update()
    wanted = packages(target)
    apt.download(wanted)
    closure = apt.closure(wanted)
    root = payload / "root"
    root.mkdir()
    for name, version in closure:
        (deb,) = (apt.state / "archives").glob(f"{name}_{version.replace(':', '%3a')}_*.deb")
        run_tool(["dpkg-deb", "--extract", str(deb), str(root)], f"extract {deb.name}", 300)
    (payload / "packages.txt").write_text("".join(f"{n} {v}\n" for n, v in sorted(closure)))
    python = TargetPython(root, target.python)
    run_tool([*python.command(python.executable), "-c", "import ssl, sqlite3, zlib"],
             f"{target.platform}'s Python", 60)  # fmt: skip


def prebuild_venv(payload: Path, python: TargetPython, venv: str, scratch: Path) -> None:
    """payload/venv: the wheelhouse (payload/wheels, requirements.txt, the bundled pip)
    installed for the target path `venv`, byte-compiled, without what the host makes."""
    what = f"prebuilt venv {venv}"
    build = scratch / "venv"
    shutil.rmtree(scratch, ignore_errors=True)
    (build / "bin").mkdir(parents=True)
    (build / "lib" / f"python{python.version}" / "site-packages").mkdir(parents=True)
    (build / "pyvenv.cfg").write_text(
        f"home = {python.executable.parent}\ninclude-system-site-packages = false\n"
        f"version = {python.version}\n"
    )
    (build / "bin" / "python").symlink_to(python.executable)
    install = [
        *python.command(build / "bin" / "python"), str(payload / "installer" / "pip.whl" / "pip"),
        "install", "--quiet", "--no-index", "--no-compile", "--disable-pip-version-check",
        "--no-warn-script-location", f"--find-links={payload / 'wheels'}",
        f"--requirement={payload / 'requirements.txt'}",
    ]  # fmt: skip
    env_free = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    run_tool(install, what, INSTALL_TIMEOUT, env=env_free)
    target = payload / "venv"
    target.mkdir()
    for entry in sorted(build.iterdir()):
        if entry.name not in _HOST_MADE and entry.name != "bin":
            entry.rename(target / entry.name)
    _move_scripts(build / "bin", target / "bin", f"{venv}/bin/python")
    byte_compile(python.command(build / "bin" / "python"), target, venv, what, env_free)
    shutil.rmtree(scratch)


def byte_compile(python: list[str], tree: Path, venv: str, what: str, env: dict[str, str]) -> None:
    """Every .py under `tree` compiled as if `tree` were `venv`, by COMPILE_WORKERS
    processes of the target's Python side by side (each on a share of the top-level
    entries). Not compileall's own -j: it starts its workers from sys.executable through a
    fork server, without the loader this machine needs to run the target's Python."""
    site = next(tree.glob("lib/python*/site-packages"))
    entries = sorted(site.iterdir()) + sorted(p for p in tree.iterdir() if p.name != "lib")
    shares = [entries[i::COMPILE_WORKERS] for i in range(COMPILE_WORKERS)]
    compileall = [
        *python, "-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "unchecked-hash",
        "-s", str(tree), "-p", venv,
    ]  # fmt: skip

    def compile_share(share: list[Path]) -> str:
        return run_tool([*compileall, *map(str, share)], f"{what}: byte-compile",
                        INSTALL_TIMEOUT, env=env)  # fmt: skip

    run_bounded(compile_share, [share for share in shares if share])


def _move_scripts(source: Path, dest: Path, interpreter: str) -> None:
    """The venv's scripts, their `#!` naming the target's interpreter; the interpreter
    links and activation scripts stay behind (the host makes its own)."""
    dest.mkdir()
    for script in sorted(source.iterdir()):
        if _HOST_MADE_SCRIPTS.match(script.name) or script.is_symlink():
            continue
        (dest / script.name).write_bytes(retarget(script.read_bytes(), interpreter))
        (dest / script.name).chmod(script.stat().st_mode & 0o777)


# pip's launcher for an interpreter path too long for `#!` (over 127 bytes on Linux).
_SH_LAUNCHER = re.compile(rb"\A#!/bin/sh\n'''exec' .*\n' '''\n")


def retarget(script: bytes, interpreter: str) -> bytes:
    """A script whose `#!` names the build's Python, naming `interpreter` instead."""
    shebang = b"#!" + interpreter.encode() + b"\n"
    launcher = _SH_LAUNCHER.match(script)
    if launcher:
        return shebang + script[launcher.end() :]
    first, _, rest = script.partition(b"\n")
    if first.startswith(b"#!") and b"python" in first:
        return shebang + rest
    return script
