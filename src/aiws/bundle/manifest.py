"""The bundle's manifests: one per runtime tarball, one aggregate for the package.

Artifact names, versions, component names and tarball names become path components on the
target (/opt/aiws/<artifact>/<version>): each must be one safe component, so that build and
verify both refuse `..` or `a/b` before any path is made from it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aiws.module_utils.aiws_tarsafe import safe_component

SCHEMA = 1  # the newest manifest schema this aiws reads (and writes)
COMPONENT_MANIFEST = "manifest.json"
BUNDLE_MANIFEST = "bundle-manifest.json"
SUMS = "SHA256SUMS"


def _one_component(value: str) -> str:
    if not safe_component(value):
        raise ValueError(
            f"{value!r} is not a single safe path component (letters, digits, '.', '_', '+', "
            "'-', not starting with '.' or '-', at most 128)"
        )
    return value


SafeName = Annotated[str, AfterValidator(_one_component)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(Model):
    path: str  # relative, POSIX
    size: int
    mode: str  # "0644" | "0755" | "0777" (symlink)
    sha256: str | None = None  # regular files
    link: str | None = None  # symlinks: the target


class Resolved(Model):
    """One package the registry actually delivered (pins resolve transitively)."""

    name: str  # a wheel/deb file name, or an npm package
    version: str = ""
    sha256: str = ""


class TargetInfo(Model):
    name: str  # debian-12-amd64
    platform: str
    arch: str
    os_id: str
    version_id: str
    codename: str
    python: str


class ArtifactManifest(Model):
    """manifest.json inside one runtime tarball."""

    schema_version: int = Field(default=SCHEMA, alias="schema")
    artifact: SafeName  # the tarball's unit: a component name, "apt" or "controller"
    version: SafeName
    components: dict[SafeName, SafeName]  # catalog components it provides -> version
    recipe: str
    sources: list[str]  # the source package specs asked for
    resolved: list[Resolved]
    built_at: str
    aiws_version: str
    target: TargetInfo
    tested: bool
    entry_points: list[str]
    pruned: list[str] = Field(default_factory=list)
    files: list[FileEntry]


class ArtifactEntry(Model):
    name: SafeName
    version: SafeName
    components: dict[SafeName, SafeName]
    tarball: SafeName
    size: int
    sha256: str


class BundleManifest(Model):
    """bundle-manifest.json at the root of the package."""

    schema_version: int = Field(default=SCHEMA, alias="schema")
    aiws_version: str
    built_at: str
    target: TargetInfo
    tested: bool
    versions: dict[SafeName, SafeName]  # every catalog component in the bundle -> version
    artifacts: list[ArtifactEntry]
    skipped: dict[str, str] = Field(default_factory=dict)  # component -> why not built

    def artifact(self, name: str) -> ArtifactEntry | None:
        return next((a for a in self.artifacts if a.name == name), None)


def dump(model: BaseModel) -> bytes:
    return (model.model_dump_json(indent=2, by_alias=True) + "\n").encode()
