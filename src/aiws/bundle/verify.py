"""`aiws bundle verify` and the installer's entry point: trust nothing until it is hashed.

Order matters: the package's own SHA256 (against the `.sha256` beside it, and against the
operator's pins: `--sha256`, the signature checked with `--trust-key`) is checked before
anything is unpacked, so a truncated, corrupt or substituted package changes nothing. Then
the aggregate SHA256SUMS and manifest, read from the package itself, then runtime tarballs,
file by file, against their own manifest.json and SHA256SUMS, in parallel
(aiws.concurrency): every tarball for `aiws bundle verify`, only those a host still has to
unpack for `aiws install` (a rerun with the same bundle hashes the package and nothing else).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from aiws import __version__
from aiws.bundle.manifest import (
    BUNDLE_MANIFEST,
    COMPONENT_MANIFEST,
    SCHEMA,
    SUMS,
    ArtifactEntry,
    ArtifactManifest,
    BundleManifest,
    FileEntry,
)
from aiws.bundle.package import Package, open_once
from aiws.bundle.private import private_cache
from aiws.bundle.signing import check_signature
from aiws.bundle.tarball import CHUNK, sha256_file
from aiws.concurrency import AdaptiveLimiter, run_bounded
from aiws.errors import AiwsError
from aiws.model.trust import HEX64, Trust
from aiws.module_utils.aiws_tarsafe import escaping_links, member_problem, under_symlink

REBUILD = "rebuild it with `aiws bundle build`, or copy it again"
M = TypeVar("M", bound=BaseModel)


class ManifestProblem(Exception):
    """A manifest that cannot be read; the message says why, in one line."""


class NewerSchema(ManifestProblem):
    """A manifest from a newer aiws: upgrading aiws is the fix, not rebuilding."""


@dataclass(frozen=True)
class VerifiedArtifact:
    name: str
    version: str
    components: dict[str, str]
    tarball: Path
    sha256: str
    checked: bool = True  # every file hashed against its manifest (else: only listed)


@dataclass(frozen=True)
class VerifiedBundle:
    package: Path
    sha256: str
    manifest: BundleManifest
    artifacts: list[VerifiedArtifact]

    @property
    def platform(self) -> str:
        return self.manifest.target.platform

    @property
    def arch(self) -> str:
        return self.manifest.target.arch

    @property
    def versions(self) -> dict[str, str]:
        return self.manifest.versions

    def for_component(self, component: str) -> VerifiedArtifact:
        """The tarball that provides a catalog component (e.g. postgresql -> apt)."""
        for artifact in self.artifacts:
            if component in artifact.components or artifact.name == component:
                return artifact
        raise AiwsError(
            f"bundle {self.package.name} has no '{component}'",
            "rebuild it with that component in --components",
        )


def read_target(package: Path) -> tuple[str, str]:
    """(platform, arch) from the aggregate manifest: cheap, nothing is verified."""
    manifest = read_manifest(package)
    return manifest.target.platform, manifest.target.arch


def read_manifest(package: Path) -> BundleManifest:
    """The aggregate manifest, read from the front of the package (not verified)."""
    try:
        with tarfile.open(package, "r:") as tar:
            first = tar.next()
            if first is None or first.name != BUNDLE_MANIFEST:
                raise AiwsError(
                    f"{package}: not an aiws bundle (no {BUNDLE_MANIFEST} first)", REBUILD
                )
            stream = tar.extractfile(first)
            assert stream is not None
            raw = stream.read()
    except tarfile.ReadError as exc:
        raise AiwsError(f"{package}: {_tar_problem(exc)}", REBUILD) from None
    except (OSError, tarfile.TarError) as exc:
        raise AiwsError(f"{package}: unreadable bundle ({_short(exc)})", REBUILD) from None
    try:
        return parse_manifest(raw, BundleManifest)
    except ManifestProblem as exc:
        raise AiwsError(f"{package}: {BUNDLE_MANIFEST}: {exc}", _fix(exc)) from None


def parse_manifest(raw: bytes, model: type[M]) -> M:
    """A manifest's JSON as `model`; ManifestProblem naming the first problem (not JSON, a
    newer schema than this aiws reads, an unknown or invalid field)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ManifestProblem(f"not JSON ({_short(exc)})") from None
    if not isinstance(data, dict):
        raise ManifestProblem("not a JSON object")
    schema = data.get("schema", SCHEMA)
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA:
        raise NewerSchema(
            f"built by a newer aiws ({str(data.get('aiws_version', '?'))[:20]}, manifest "
            f"schema {schema}; this aiws reads schema {SCHEMA})"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ManifestProblem(_validation_problem(exc)) from None


def _fix(problem: ManifestProblem) -> str:
    if isinstance(problem, NewerSchema):
        return f"upgrade aiws (this is aiws {__version__}) to use this bundle"
    return REBUILD


def _validation_problem(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'{more}"
    if first["type"] == "missing":
        return f"field '{where}' is missing{more}"
    message = first["msg"].removeprefix("Value error, ")
    return f"field '{where}': {message[:160]}{more}"


def check_package_checksum(package: Package, trust: Trust | None = None) -> str:
    """The package's real SHA256 (hashed, or remembered for this unchanged file) against
    `<package>.sha256` and the operator's pins; its hex digest.

    Without a pin the `.sha256` beside the package is required; with `--sha256` or
    `--trust-key` it may be absent, and when present it must agree as well."""
    trust = trust or Trust()
    checksum = package.path.with_name(package.name + ".sha256")
    expected = None
    if not trust.pinned or checksum.exists():
        expected = _read_checksum(checksum)
    actual = package.sha256()
    if expected is not None and actual != expected:
        raise AiwsError(
            f"{package.name}: SHA256 {actual[:16]}... does not match {checksum.name} "
            f"({expected[:16]}...): truncated or corrupt; nothing was unpacked",
            REBUILD,
        )
    if trust.sha256 is not None and actual != trust.sha256:
        raise AiwsError(
            f"{package.name}: SHA256 {actual[:16]}... is not the pinned --sha256 "
            f"{trust.sha256[:16]}...: not the package you were given; nothing was unpacked",
            "get the package again from its publisher, and its SHA256 out of band",
        )
    if trust.key is not None:
        check_signature(package.path, actual, trust)
    return actual


def _read_checksum(checksum: Path) -> str:
    """The digest in a `sha256sum` line: `<64 hex>  <file name>`."""
    try:
        text = checksum.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise AiwsError(
            f"{checksum}: missing (the package's SHA256)", "copy it with the bundle"
        ) from None
    except UnicodeDecodeError:
        raise AiwsError(
            f"{checksum.name}: not UTF-8 text (expected '<sha256>  <file name>')",
            "copy it with the bundle again",
        ) from None
    fields = text.split()
    if not fields or not HEX64.match(fields[0]):
        raise AiwsError(
            f"{checksum.name}: malformed (expected '<64 hex digits>  <file name>', got "
            f"{text.strip()[:40]!r})",
            "copy it with the bundle again",
        )
    return fields[0].lower()


@dataclass
class CheckedPackage:
    """A package whose SHA256 passed its checks, and its verified manifest; every later
    read (the tarballs) goes through the same open file. A context manager."""

    package: Package
    sha256: str
    manifest: BundleManifest

    def __enter__(self) -> CheckedPackage:
        return self

    def __exit__(self, *_: object) -> None:
        self.package.close()


def verify_bundle(
    package: Path,
    dest: Path | None = None,
    limiter: AdaptiveLimiter | None = None,
    only: Collection[str] | None = None,
    trust: Trust | None = None,
) -> VerifiedBundle:
    """Verify the package and its tarballs (those named in `only`, else all), extracted
    into `dest`. AiwsError on any problem."""
    with open_package(package, trust) as checked:
        return verify_tarballs(checked, only, dest, limiter)


def open_package(path: Path, trust: Trust | None = None) -> CheckedPackage:
    """The package, opened once (aiws.bundle.package), its SHA256 checked against its
    .sha256 and the pins in `trust`, and its verified manifest. Every command that takes a
    bundle comes through here; close it (`with`) when done."""
    package = open_once(path)
    try:
        digest = check_package_checksum(package, trust)
        return CheckedPackage(package, digest, _verified_aggregate(package))
    except BaseException:
        package.close()
        raise


def verify_tarballs(
    checked: CheckedPackage,
    only: Collection[str] | None = None,
    dest: Path | None = None,
    limiter: AdaptiveLimiter | None = None,
    files: bool = True,
) -> VerifiedBundle:
    """Extract the tarballs named in `only` (else all) and check each against the manifest:
    its SHA256, and with `files` every file inside too. The installer checks the tarball's
    SHA256 only, before any change: the host's unpack checks every file against the
    tarball's own SHA256SUMS as it writes it (aiws_unpack), which that SHA256 vouches for."""
    manifest = checked.manifest
    dest = dest or private_cache("unpacked") / checked.sha256[:16]
    wanted = [a for a in manifest.artifacts if only is None or a.name in only]
    _extract_tarballs(checked.package, dest, [a.tarball for a in wanted])
    check = verify_artifact if files else _check_tarball_sha256
    problems = run_bounded(lambda a: check(dest / a.tarball, a), wanted, limiter)
    found = [p for group in problems for p in group]
    if found:
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        raise AiwsError(found[0] + more, REBUILD)
    names = {a.name for a in wanted}
    artifacts = [
        VerifiedArtifact(
            a.name, a.version, a.components, dest / a.tarball, a.sha256, a.name in names
        )
        for a in manifest.artifacts
    ]
    return VerifiedBundle(checked.package.path, checked.sha256, manifest, artifacts)


def _extract_tarballs(package: Package, dest: Path, names: list[str]) -> None:
    """Copy the named tarballs out of the package (a plain tar: cheap seeks), each into a
    new file: whatever stood at its name (an older copy, a planted symlink) is removed
    first, and the new one is created, never followed."""
    if not names:
        return
    _real_directory(dest)
    try:
        with tarfile.open(fileobj=package.rewind(), mode="r:") as tar:
            for member in tar:
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise AiwsError(f"{package.name}: unexpected entry '{member.name}'", REBUILD)
                if member.name in names:
                    stream = tar.extractfile(member)
                    assert stream is not None
                    _write_new(dest / member.name, stream)
    except tarfile.ReadError as exc:
        raise AiwsError(f"{package.name}: {_tar_problem(exc)}", REBUILD) from None


def _real_directory(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dest.is_symlink() or not dest.is_dir():
        raise AiwsError(f"{dest}: not a directory of its own (a symlink?)", REBUILD)


def _write_new(path: Path, stream: IO[bytes]) -> None:
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, 0o600), "wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)


def _package_members(package: Package, names: tuple[str, ...]) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=package.rewind(), mode="r:") as tar:
            found = {}
            for member in tar:
                if member.name in names and member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    found[member.name] = stream.read()
                if len(found) == len(names):
                    break
    except tarfile.ReadError as exc:
        raise AiwsError(f"{package.name}: {_tar_problem(exc)}", REBUILD) from None
    except (OSError, tarfile.TarError) as exc:
        raise AiwsError(f"{package.path}: unreadable bundle ({_short(exc)})", REBUILD) from None
    missing = [name for name in names if name not in found]
    if missing:
        raise AiwsError(f"{package.name}: {missing[0]} is missing from the package", REBUILD)
    return found


def _tar_problem(exc: tarfile.ReadError) -> str:
    """A tar reader's complaint, said plainly: not a tar at all, or cut short."""
    text = str(exc)
    if "unexpected end of data" in text or "truncated" in text:
        return "truncated or corrupt bundle (the tar ends early)"
    return f"not a tar file, or corrupt ({_short(exc)})"


def _verified_aggregate(package: Package) -> BundleManifest:
    """SHA256SUMS and the aggregate manifest, read from the (just hashed) package itself."""
    members = _package_members(package, (SUMS, BUNDLE_MANIFEST))
    sums = _parse_sums(members[SUMS].decode("utf-8", "replace"), f"{package.name}: {SUMS}")
    raw = members[BUNDLE_MANIFEST]
    if sums.get(BUNDLE_MANIFEST) != hashlib.sha256(raw).hexdigest():
        raise AiwsError(f"{package.name}: {BUNDLE_MANIFEST} does not match {SUMS}", REBUILD)
    try:
        manifest = parse_manifest(raw, BundleManifest)
    except ManifestProblem as exc:
        raise AiwsError(f"{package.name}: {BUNDLE_MANIFEST}: {exc}", _fix(exc)) from None
    for artifact in manifest.artifacts:
        if sums.get(artifact.tarball) != artifact.sha256:
            raise AiwsError(
                f"component '{artifact.name}': {artifact.tarball}: {SUMS} and "
                f"{BUNDLE_MANIFEST} disagree",
                REBUILD,
            )
    return manifest


def _check_tarball_sha256(tarball: Path, entry: ArtifactEntry) -> list[str]:
    if not tarball.is_file():
        return [f"component '{entry.name}': {tarball.name}: missing"]
    actual = sha256_file(tarball)
    if actual != entry.sha256:
        return [
            f"component '{entry.name}': {tarball.name}: SHA256 {actual[:16]}... != manifest "
            f"{entry.sha256[:16]}..."
        ]
    return []


def verify_artifact(tarball: Path, entry: ArtifactEntry) -> list[str]:
    """Every problem of one runtime tarball, each naming the component and the file."""
    where = f"component '{entry.name}': {tarball.name}"
    if not tarball.is_file():
        return [f"{where}: missing"]
    problems: list[str] = []
    if tarball.stat().st_size != entry.size:
        problems.append(f"{where}: size {tarball.stat().st_size} != manifest {entry.size}")
    try:
        with tarball.open("rb") as raw:
            hashing = _HashingReader(raw)
            problems += [f"{where}: {p}" for p in _check_members(cast(IO[bytes], hashing), entry)]
            actual = hashing.finish()
    except ManifestProblem as exc:
        return [*problems, f"{where}: {COMPONENT_MANIFEST}: {exc}"]
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        return [*problems, f"{where}: corrupt tarball ({_short(exc)})"]
    if actual != entry.sha256:
        problems.append(f"{where}: SHA256 {actual[:16]}... != manifest {entry.sha256[:16]}...")
    return problems


def _check_members(stream: IO[bytes], entry: ArtifactEntry) -> list[str]:
    """Every member: what it is (aiws_tarsafe, the same rules aiws_unpack applies on the
    host, whatever the manifest says), then against the tarball's manifest.json."""
    problems: list[str] = []
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        head, manifest, manifest_sha, sums = _read_head(tar)
        if (manifest.artifact, manifest.version) != (entry.name, entry.version):
            problems.append(f"{COMPONENT_MANIFEST} is for {manifest.artifact} {manifest.version}")
        expected = {f.path: f for f in manifest.files}
        seen: set[str] = {m.name for m in head}
        links: dict[str, str] = {}
        for member in tar:  # re-yields the head members already read: skip them
            if any(member is m for m in head):
                continue
            name = member.name.rstrip("/")
            problem = member_problem(member)
            if not problem and name in seen:
                problem = "appears twice"
            if not problem and under_symlink(name, links):
                problem = "lies under a symlink"
            if problem:
                problems.append(f"member {member.name}: {problem}")
                continue
            seen.add(name)
            if member.issym():
                links[name] = member.linkname
            if not member.isdir():  # directories: not listed (the builder writes them 0755)
                problems += _check_member(tar, member, expected.get(name))
    problems += [f"member {name}: symlink leaving the tree" for name in escaping_links(links)]
    problems += [f"file {path}: missing" for path in sorted(expected.keys() - seen)]
    problems += _check_sums(sums, manifest.files, manifest_sha)
    return problems


def _read_head(
    tar: tarfile.TarFile,
) -> tuple[list[tarfile.TarInfo], ArtifactManifest, str, dict[str, str]]:
    """manifest.json and SHA256SUMS, which the builder writes first."""
    head: dict[str, bytes] = {}
    members = []
    for name in (COMPONENT_MANIFEST, SUMS):
        member = tar.next()
        stream = tar.extractfile(member) if member and member.isfile() else None
        if member is None or member.name != name or stream is None:
            raise ValueError(f"{name} is not where the builder puts it")
        members.append(member)
        head[name] = stream.read()
    manifest = parse_manifest(head[COMPONENT_MANIFEST], ArtifactManifest)
    sha = hashlib.sha256(head[COMPONENT_MANIFEST]).hexdigest()
    sums = _parse_sums(head[SUMS].decode("utf-8", "replace"), SUMS)
    return members, manifest, sha, sums


def _check_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, want: FileEntry | None
) -> list[str]:
    name = member.name
    if want is None:
        return [f"file {name}: not in {COMPONENT_MANIFEST}"]
    if member.issym():
        return [] if member.linkname == want.link else [f"file {name}: link target changed"]
    if not member.isfile() or want.sha256 is None:
        return [f"file {name}: type changed"]
    problems = []
    if f"{member.mode:04o}" != want.mode:
        problems.append(f"file {name}: mode {member.mode:04o} != manifest {want.mode}")
    if member.size != want.size:
        problems.append(f"file {name}: size {member.size} != manifest {want.size}")
    stream = tar.extractfile(member)
    assert stream is not None
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != want.sha256:
        problems.append(
            f"file {name}: SHA256 {digest.hexdigest()[:16]}... != manifest {want.sha256[:16]}..."
        )
    return problems


def _check_sums(sums: dict[str, str], files: list[FileEntry], manifest_sha: str) -> list[str]:
    wanted = {f.path: f.sha256 for f in files if f.sha256 is not None}
    wanted[COMPONENT_MANIFEST] = manifest_sha
    return [
        f"file {path}: {SUMS} and {COMPONENT_MANIFEST} disagree"
        for path in sorted(wanted.keys() | sums.keys())
        if wanted.get(path) != sums.get(path)
    ]


def _parse_sums(text: str, what: str) -> dict[str, str]:
    sums = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64:
            raise AiwsError(f"{what}: malformed line '{line[:60]}'", REBUILD)
        sums[path] = digest
    return sums


class _HashingReader:
    """A read-only stream that hashes every byte read through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def finish(self) -> str:
        """Hash what the tar reader left unread (gzip/tar padding), then the digest."""
        while self.read(CHUNK):
            pass
        return self.digest.hexdigest()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def describe(bundle: VerifiedBundle) -> dict[str, Any]:
    """What `aiws bundle verify --json` prints."""
    return {
        "package": str(bundle.package),
        "sha256": bundle.sha256,
        "target": bundle.manifest.target.name,
        "tested": bundle.manifest.tested,
        "versions": bundle.versions,
        "artifacts": [
            {"name": a.name, "version": a.version, "tarball": str(a.tarball), "sha256": a.sha256}
            for a in bundle.artifacts
        ],
    }
