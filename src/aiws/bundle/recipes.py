"""What goes into each runtime tarball: the plan, and one fill function per recipe."""

from __future__ import annotations

import platform
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import metadata
from pathlib import Path

from aiws import __version__
from aiws.bundle.cache import DownloadCache
from aiws.bundle.manifest import Resolved
from aiws.bundle.sources import apt, npm, pypi
from aiws.bundle.sources import python as target_python
from aiws.bundle.tarball import sha256_file
from aiws.bundle.target import BundleTarget
from aiws.errors import AiwsError, UsageError
from aiws.model.catalog import Catalog, Component, PlaceBinary
from aiws.model.resolve import resolve_layout

CONTROLLER = "controller"
APT = "apt"
PYTHON_RECIPES = {"wheelhouse", "project", CONTROLLER}
NPM_RECIPES = {"npm-tree", "node-runtime"}
HOST_NPM_CPU = {"x86_64": "x64", "aarch64": "arm64"}  # platform.machine() -> npm cpu
AIWS_RECIPES = {"project", CONTROLLER}  # this project's own wheel: its Python floor applies
# The Python projects of this repository, by distribution name: where each one's source is.
PROJECT_DIRS = {"aiws": ".", "aiws-bridge": "bridge"}

# Where bootstrap.sh puts the controller's venv (its scripts name this path: prebuilt for it).
CONTROLLER_VENV = "{runtime}/controller/venv"
BOOTSTRAP = """\
#!/bin/sh
# Put this directory's prebuilt aiws controller in place (no network, no pip), then run aiws.
#   sh bootstrap.sh install --mode all-in-one --bundle /path/to/aiws-bundle-....tar
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv={venv}
# The venv in place is this tarball's when it keeps a copy of its SHA256SUMS; another one
# (an older controller's) is replaced whole, never mixed with this one.
if ! cmp -s "$here/SHA256SUMS" "$venv/.aiws-sums" 2>/dev/null; then
  rm -rf "$venv.new"
  cp -a "$here/venv" "$venv.new"
  # the interpreter links and pyvenv.cfg (--without-pip: a minimal Debian lacks ensurepip)
  python3 -m venv --without-pip "$venv.new"
  cp "$here/SHA256SUMS" "$venv.new/.aiws-sums"
  rm -rf "$venv"
  mv "$venv.new" "$venv"
fi
exec "$venv/bin/aiws" "$@"
"""


@dataclass(frozen=True)
class Artifact:
    """One runtime tarball to build."""

    name: str  # a component, "apt" or "controller"
    recipe: str
    version: str
    components: dict[str, str]  # the catalog components it provides
    sources: list[str]  # pinned specs
    entry_points: list[str] = field(default_factory=list)
    prune: list[str] = field(default_factory=list)
    binary: str | None = None
    place_binary: PlaceBinary | None = None  # {cpu} already filled in
    venv: str | None = None  # a Python runtime's venv on the target, prebuilt for that path


@dataclass(frozen=True)
class BundlePlan:
    artifacts: list[Artifact]
    skipped: dict[str, str]  # component -> why it is not in this bundle


def plan(
    catalog: Catalog, target: BundleTarget, selection: list[str], explicit: bool
) -> BundlePlan:
    """The artifacts for `selection` (catalog components, plus 'controller')."""
    artifacts: list[Artifact] = []
    skipped: dict[str, str] = {}
    apt_components: dict[str, str] = {}
    apt_packages: list[str] = []
    for name in selection:
        component = None if name == CONTROLLER else _for(catalog, name, target)
        recipe = CONTROLLER if component is None else _recipe(component)
        why = aiws_unsupported(target) if recipe in AIWS_RECIPES else None
        if why is None and recipe in PYTHON_RECIPES:
            why = target_python.can_run(target)
        if why:
            if explicit:
                raise UsageError(
                    f"{name} cannot be bundled for {target.name}: {why}",
                    f"leave {name} out of --components",
                )
            skipped[name] = why
        elif component is None:
            artifacts.append(_controller_artifact(catalog))
        elif recipe == APT:
            apt_components[name] = component.version
            apt_packages += component.apt_packages
        else:
            artifacts.append(_component_artifact(catalog, component, target))
    if any(a.recipe in PYTHON_RECIPES for a in artifacts):
        apt_packages += catalog.bundle.apt_packages
    if apt_packages:
        apt_artifact = Artifact(APT, APT, "", apt_components, sorted(set(apt_packages)))
        artifacts.insert(0, apt_artifact)
    return BundlePlan(artifacts, skipped)


def _for(catalog: Catalog, name: str, target: BundleTarget) -> Component:
    return catalog.component(name).for_platform(target.platform)


def aiws_unsupported(target: BundleTarget) -> str | None:
    """Why aiws itself cannot run on the target's Python, or None."""
    floor = (metadata("aiws")["Requires-Python"] or "").removeprefix(">=")
    if floor and _version_tuple(target.python) < _version_tuple(floor):
        return f"aiws needs Python >= {floor}; {target.platform} has {target.python}"
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _recipe(component: Component) -> str:
    if component.bundle is None:
        raise AiwsError(f"catalog component '{component.name}' has no bundle recipe")
    return component.bundle.recipe


def _component_artifact(catalog: Catalog, component: Component, target: BundleTarget) -> Artifact:
    assert component.bundle is not None
    venv = resolve_layout(catalog, component).get("venv")
    return Artifact(
        name=component.name,
        recipe=component.bundle.recipe,
        version=component.version,
        components={component.name: component.version},
        sources=pinned_specs(component, target),
        entry_points=component.bundle.entry_points,
        prune=[
            g.format(cpu=target.npm_cpu, foreign_cpu=target.foreign_npm_cpu)
            for g in component.bundle.prune
        ],
        binary=component.bundle.binary,
        place_binary=_for_cpu(component.bundle.place_binary, target),
        venv=venv if component.bundle.recipe in PYTHON_RECIPES else None,
    )


def _for_cpu(place: PlaceBinary | None, target: BundleTarget) -> PlaceBinary | None:
    if place is None:
        return None
    candidates = [c.format(cpu=target.npm_cpu) for c in place.candidates]
    return place.model_copy(update={"candidates": candidates})


def _controller_artifact(catalog: Catalog) -> Artifact:
    sources = [f"aiws=={__version__}", *catalog.bundle.controller_extra]
    venv = controller_venv(catalog)
    return Artifact(CONTROLLER, CONTROLLER, __version__, {}, sources, ["bootstrap.sh"], venv=venv)


def controller_venv(catalog: Catalog) -> str:
    return CONTROLLER_VENV.format(runtime=catalog.paths.runtime)


def pinned_specs(component: Component, target: BundleTarget) -> list[str]:
    """The component's sources; the first one pinned to the component's version."""
    specs = []
    for index, source in enumerate(component.source_specs()):
        spec = source.spec.format(cpu=target.npm_cpu)
        if index == 0 and source.registry == "pypi":
            spec = f"{spec}=={component.version}"
        elif index == 0 and source.registry == "npm":
            spec = f"{spec}@{component.version}"
        elif source.registry == "project":
            spec = f"{spec}=={component.version}"
        specs.append(spec)
    return specs


class Builder:
    """Fills each artifact's payload directory through the download cache."""

    def __init__(
        self,
        target: BundleTarget,
        cache: DownloadCache,
        project_dir: Path,
        workdir: Path,
        node: str,
    ):
        self.target = target
        self.cache = cache
        self.project_dir = project_dir
        self.workdir = workdir
        self.node_version = node  # the catalog's Node: npm trees are resolved for it
        self._project_wheels: dict[str, Path] = {}
        self._wheel_lock = threading.Lock()  # artifacts build in parallel; a wheel once

    def payload(self, artifact: Artifact, npm_cpu: str | None = None) -> Path:
        """The artifact's payload directory (from the cache, or filled now). `npm_cpu`:
        an npm payload for another cpu than the target's (this machine's)."""
        fill = self._fills()[artifact.recipe]
        cpu = npm_cpu or self.target.npm_cpu
        key: dict[str, object] = {
            "recipe": artifact.recipe,
            "sources": artifact.sources,
            # npm payloads depend on the cpu only: every distro of one arch shares them
            "target": f"linux-{cpu}" if artifact.recipe in NPM_RECIPES else self.target.name,
            "prune": artifact.prune,
            "binary": artifact.binary,
            "node": self.node_version if artifact.recipe in NPM_RECIPES else None,
            "place_binary": artifact.place_binary.model_dump() if artifact.place_binary else None,
            # a cached repository resolved by older closure rules must not be reused
            "resolver": apt.RESOLVER_VERSION if artifact.recipe == APT else None,
        }
        if artifact.recipe == "wheelhouse":
            key["installer"] = pypi.WHEELHOUSE_INSTALLER  # the pip the target installs with
        if artifact.recipe == CONTROLLER:
            key["aiws_wheel_sha256"] = sha256_file(self.project_wheel())
        if artifact.recipe == "project":
            key["project_wheel_sha256"] = sha256_file(self.project_wheel(_name(artifact)))
        if artifact.venv is not None:
            key["prebuilt"] = {"format": target_python.PREBUILD_FORMAT, "venv": artifact.venv}

        def fill_and_prune(payload: Path) -> None:
            fill(payload, artifact)
            prune(payload, artifact.prune)

        return self.cache.entry(artifact.recipe, key, fill_and_prune)

    def resolved(self, artifact: Artifact, payload: Path) -> list[Resolved]:
        if artifact.recipe == APT:
            return apt.resolved_debs(payload)
        if artifact.recipe in NPM_RECIPES:
            return npm.resolved_packages(payload)
        return pypi.resolved_wheels(payload)

    def project_wheel(self, name: str = "aiws") -> Path:
        """The wheel of one of this repository's projects, built once per build."""
        with self._wheel_lock:
            return self._project_wheel(name)

    def _project_wheel(self, name: str) -> Path:
        if name not in self._project_wheels:
            if name not in PROJECT_DIRS:
                raise AiwsError(f"no project '{name}' in this repository")
            source = self.project_dir / PROJECT_DIRS[name]
            self._project_wheels[name] = pypi.build_project_wheel(source, self.workdir / name, name)
        return self._project_wheels[name]

    def _fills(self) -> dict[str, Callable[[Path, Artifact], None]]:
        return {
            APT: self._apt,
            "wheelhouse": self._wheelhouse,
            "pypi-binary": self._binary,
            "node-runtime": self._node_runtime,
            "npm-tree": self._npm_tree,
            "project": self._project,
            CONTROLLER: self._controller,
        }

    def _apt(self, payload: Path, artifact: Artifact) -> None:
        state = self.cache.scratch(f"apt-state/{self.target.name}")
        apt.fill_repo(payload, artifact.sources, self.target, state)

    def _wheelhouse(self, payload: Path, artifact: Artifact) -> None:
        pypi.fill_wheelhouse(
            payload, artifact.sources, self.target, artifact.name, artifact.sources
        )
        self._prebuild(payload, artifact)

    def _prebuild(self, payload: Path, artifact: Artifact) -> None:
        """The wheelhouse installed into its venv with the target's Python; the wheels and
        the pip that installed them are not shipped (the manifest still lists the wheels)."""
        assert artifact.venv is not None
        scratch = self.workdir / f"prebuild-{artifact.name}"
        target_python.prebuild_venv(payload, self.target_python(), artifact.venv, scratch)
        pypi.record_wheels(payload)
        shutil.rmtree(payload / "wheels")
        shutil.rmtree(payload / "installer")

    def target_python(self) -> target_python.TargetPython:
        """The target's CPython (its release's packages, extracted), once per cache."""
        key = {
            "target": self.target.name,
            "packages": target_python.packages(self.target),
            "resolver": apt.RESOLVER_VERSION,
        }
        state = self.cache.scratch(f"apt-state/{self.target.name}-python")
        entry = self.cache.entry(
            "target-python", key,
            lambda payload: target_python.fill_target_python(payload, self.target, state),
        )  # fmt: skip
        return target_python.TargetPython(entry / "root", self.target.python)

    def _binary(self, payload: Path, artifact: Artifact) -> None:
        assert artifact.binary is not None
        pypi.fill_binary(payload, artifact.sources[0], artifact.binary, self.target, artifact.name)

    def _node_runtime(self, payload: Path, artifact: Artifact) -> None:
        npm.fill_runtime(payload, artifact.sources[0], self.cache.scratch("npm-cache"))

    def _npm_tree(self, payload: Path, artifact: Artifact) -> None:
        npm_cache = self.cache.scratch("npm-cache")
        npm.fill_tree(payload, artifact.sources[0], self.target, npm_cache, self._build_node())
        if artifact.place_binary:
            place = artifact.place_binary
            npm.place_binary(payload, place.to, place.candidates, artifact.name)

    def _build_node(self) -> Path:
        """The catalog's Node for this machine's cpu (it runs npm here, never ships)."""
        cpu = HOST_NPM_CPU.get(platform.machine())
        if cpu is None:
            raise AiwsError(
                f"cannot build npm trees on a {platform.machine()} machine",
                "build on amd64 or arm64",
            )
        spec = f"node-linux-{cpu}@{self.node_version}"
        runtime = Artifact("node", "node-runtime", self.node_version, {}, [spec])
        return self.payload(runtime, npm_cpu=cpu) / "bin" / "node"

    def _project(self, payload: Path, artifact: Artifact) -> None:
        wheel = str(self.project_wheel(_name(artifact)))
        pypi.fill_wheelhouse(payload, [wheel], self.target, artifact.name, artifact.sources[:1])
        self._prebuild(payload, artifact)

    def _controller(self, payload: Path, artifact: Artifact) -> None:
        downloads = [str(self.project_wheel()), *artifact.sources[1:]]
        pypi.fill_wheelhouse(payload, downloads, self.target, artifact.name, artifact.sources)
        self._prebuild(payload, artifact)
        assert artifact.venv is not None
        (payload / "bootstrap.sh").write_text(BOOTSTRAP.replace("{venv}", artifact.venv))
        (payload / "bootstrap.sh").chmod(0o755)


def _name(artifact: Artifact) -> str:
    """The distribution a project artifact carries (its pinned source, name==version)."""
    return artifact.sources[0].split("==")[0]


def prune(payload: Path, globs: list[str]) -> None:
    """Remove what cannot run on the target (e.g. CUDA/Vulkan builds); see docs/bundle.md."""
    for pattern in globs:
        for path in sorted(payload.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
