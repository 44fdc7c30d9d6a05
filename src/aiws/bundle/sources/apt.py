"""A local apt repository for the target: the packages and their dependency closure.

apt runs with a private state (lists, status, cache, sources) so the build machine's own
apt is never touched. The closure is computed against a minimal Debian of the target
release: a dpkg status listing what debootstrap's minbase installs (every Essential and
Priority: required package, and apt). The result is a flat repository the target uses as
`deb [trusted=yes] file:/opt/aiws/apt/<version> ./`; the bundle's hashes are its trust.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiws.bundle.manifest import Resolved
from aiws.bundle.sources import run_tool
from aiws.bundle.tarball import sha256_file
from aiws.bundle.target import BundleTarget
from aiws.errors import AiwsError

APT_TIMEOUT = 900
HOST_SOURCES = Path("/etc/apt")
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Bump when the closure rules change: it is part of the download cache key.
RESOLVER_VERSION = 3
_INST = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) ")


@dataclass(frozen=True)
class Mirror:
    uri: str
    keyring: str
    security: bool


def host_mirrors(etc: Path = HOST_SOURCES) -> list[Mirror]:
    """The Debian archive and security mirrors this machine's apt is configured with."""
    codename = _host_codename()
    mirrors: dict[str, Mirror] = {}
    for entry in _source_entries(etc):
        suites = entry.get("suites", "").split()
        if codename in suites or f"{codename}-security" in suites:
            security = f"{codename}-security" in suites
            keyring = entry.get("signed-by", DEFAULT_KEYRING)
            for uri in entry.get("uris", "").split():
                mirrors.setdefault(uri, Mirror(uri.rstrip("/"), keyring, security))
    if not any(not m.security for m in mirrors.values()):
        raise AiwsError(
            f"no Debian mirror for '{codename}' in {etc}/sources.list(.d)",
            "build the bundle on a Debian machine whose apt reaches a Debian mirror",
        )
    return list(mirrors.values())


def _host_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip('"')
    raise AiwsError("cannot tell this machine's Debian release", "build on Debian")


def _source_entries(etc: Path) -> list[dict[str, str]]:
    """deb822 (.sources) and one-line (.list) entries, as lower-case field dicts."""
    entries: list[dict[str, str]] = []
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for path in files:
        if path.suffix == ".sources" and path.is_file():
            entries += [e for e in _deb822(path.read_text()) if e.get("enabled", "yes") != "no"]
        elif path.name.endswith(".list") and path.is_file():
            entries += _one_line(path.read_text())
    return [e for e in entries if "deb" in e.get("types", "").split()]


def _deb822(text: str) -> list[dict[str, str]]:
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def _one_line(text: str) -> list[dict[str, str]]:
    entries = []
    for line in text.splitlines():
        match = re.match(r"^(deb)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line.strip())
        if match:
            options = dict(o.split("=", 1) for o in (match.group(2) or "").split() if "=" in o)
            entry = {"types": "deb", "uris": match.group(3), "suites": match.group(4)}
            entries.append(entry | {k.lower(): v for k, v in options.items()})
    return entries


class PrivateApt:
    """apt-get/apt-cache bound to a private state directory for one target."""

    def __init__(self, state: Path, target: BundleTarget, mirrors: list[Mirror]):
        self.state = state
        self.target = target
        for sub in ("lists/partial", "archives/partial", "etc/sources.list.d"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("preferences.d", "apt.conf.d", "trusted.gpg.d"):
            (state / "etc" / sub).mkdir(parents=True, exist_ok=True)
        (state / "etc" / "sources.list").write_text(self._sources(mirrors))
        self.use_status(state / "status.empty")
        self.status.touch()

    def _sources(self, mirrors: list[Mirror]) -> str:
        codename, arch = self.target.info.codename, self.target.arch
        lines = []
        for mirror in mirrors:
            suites = (
                [f"{codename}-security"] if mirror.security else [codename, f"{codename}-updates"]
            )
            opts = f"[arch={arch} signed-by={mirror.keyring}]"
            lines += [f"deb {opts} {mirror.uri} {suite} main\n" for suite in suites]
        return "".join(lines)

    def use_status(self, status: Path) -> None:
        self.status = status

    def options(self) -> list[str]:
        state, arch = self.state, self.target.arch
        settings = {
            "Dir::State": state,
            "Dir::State::Lists": state / "lists",
            "Dir::State::status": self.status,
            "Dir::Etc": state / "etc",
            "Dir::Etc::SourceList": state / "etc" / "sources.list",
            "Dir::Etc::SourceParts": state / "etc" / "sources.list.d",
            "Dir::Cache": state,
            "Dir::Cache::archives": state / "archives",
            "APT::Architecture": arch,
            "APT::Architectures": arch,
            "APT::Install-Recommends": "false",
            "Debug::NoLocking": "1",
        }
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]

    def run(self, tool: str, *args: str) -> str:
        what = f"apt ({self.target.info.codename}/{self.target.arch})"
        return run_tool([tool, "-q", *self.options(), *args], what, APT_TIMEOUT)

    def update(self) -> None:
        self.run("apt-get", "update")

    def available(self) -> dict[tuple[str, str], str]:
        """(package, version) -> its index stanza, for each package's candidate version."""
        return _stanzas(self.run("apt-cache", "dumpavail"))

    def every_version(self, packages: list[str]) -> dict[tuple[str, str], str]:
        """(package, version) -> stanza for every version any suite offers of `packages`."""
        return _stanzas(self.run("apt-cache", "show", *packages))

    def closure(self, packages: list[str]) -> list[tuple[str, str]]:
        """(package, version) pairs apt would install on top of the current status."""
        out = self.run("apt-get", "-s", "install", "-y", *packages)
        return [(m.group(1), m.group(2)) for m in map(_INST.match, out.splitlines()) if m]

    def download(self, packages: list[str]) -> None:
        self.run("apt-get", "install", "-y", "--download-only", *packages)


def _stanzas(text: str) -> dict[tuple[str, str], str]:
    stanzas = {}
    for block in text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version): (\S+)$", block, re.MULTILINE))
        if "Package" in fields:
            stanzas[(fields["Package"], fields["Version"])] = block.strip() + "\n"
    return stanzas


def minbase_packages(available: dict[tuple[str, str], str]) -> list[str]:
    """Essential and Priority: required packages: what a minbase Debian starts from.

    usr-is-merged (where the release has it: not bullseye) is named because debootstrap
    installs it, while apt would satisfy init-system-helpers' `usrmerge | usr-is-merged`
    with usrmerge (which pulls in perl).
    """
    names = {
        name
        for (name, _), stanza in available.items()
        if re.search(r"^(Essential: yes|Priority: required)$", stanza, re.MULTILINE)
    }
    offered = {name for name, _ in available}
    return sorted(names | {"apt"} | ({"usr-is-merged"} & offered))


def release_versions(available: dict[tuple[str, str], str], names: set[str]) -> list[str]:
    """Index stanzas of `names` at their oldest offered version: the release's own.

    A fresh minbase host has the release's versions, not the point updates; assuming the
    newest would leave out the updated base packages that others pin exactly
    (perl needs perl-base of its own version).
    """
    oldest: dict[str, tuple[str, str]] = {}
    for (name, version), stanza in available.items():
        if name in names and (name not in oldest or _older(version, oldest[name][0])):
            oldest[name] = (version, stanza)
    return [stanza for _, stanza in oldest.values()]


def _older(left: str, right: str) -> bool:
    done = subprocess.run(
        ["dpkg", "--compare-versions", left, "lt", right], check=False, timeout=10
    )
    return done.returncode == 0


def fill_repo(payload: Path, packages: list[str], target: BundleTarget, state: Path) -> None:
    """payload/*.deb + Packages + Release: the closure of `packages` over minbase."""
    apt = PrivateApt(state, target, host_mirrors())
    apt.update()
    available = apt.available()
    base = sorted({name for name, _ in apt.closure(minbase_packages(available))})
    offered = apt.every_version(base)
    minbase_status = state / "status.minbase"
    minbase_status.write_text(
        "".join(
            s + "Status: install ok installed\n\n" for s in release_versions(offered, set(base))
        )
    )
    apt.use_status(minbase_status)
    wanted = apt.closure(packages)
    apt.download(packages)
    stanzas = [_copy_deb(apt.state / "archives", payload, available[pkg]) for pkg in sorted(wanted)]
    (payload / "Packages").write_text("\n".join(stanzas))
    (payload / "Release").write_text(_release(payload / "Packages", target))


def _copy_deb(archives: Path, payload: Path, stanza: str) -> str:
    """Copy the downloaded .deb into the repo; its index stanza, pointing at it."""
    fields = dict(re.findall(r"^(\S+): (.*)$", stanza, re.MULTILINE))
    name = Path(fields["Filename"]).name
    # apt's archive names carry the epoch ("1%3a14.0.6-12"); the index's do not
    cached = f"{fields['Package']}_{fields['Version'].replace(':', '%3a')}_{fields['Architecture']}"
    source = archives / f"{cached}.deb"
    if not source.exists() or sha256_file(source) != fields["SHA256"]:
        raise AiwsError(f"apt download of {name} is missing or does not match its index")
    shutil.copyfile(source, payload / name)
    return re.sub(r"^Filename: \S+$", f"Filename: ./{name}", stanza, flags=re.MULTILINE)


def _release(packages: Path, target: BundleTarget) -> str:
    size = packages.stat().st_size
    return (
        f"Origin: aiws\nLabel: aiws offline bundle\nSuite: aiws\n"
        f"Codename: {target.info.codename}\nArchitectures: {target.arch} all\n"
        f"SHA256:\n {sha256_file(packages)} {size} Packages\n"
    )


def resolved_debs(payload: Path) -> list[Resolved]:
    found = []
    for block in (payload / "Packages").read_text().split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|SHA256): (\S+)$", block, re.MULTILINE))
        if fields:
            found.append(
                Resolved(name=fields["Package"], version=fields["Version"], sha256=fields["SHA256"])
            )
    return found


def snapshot_id(resolved: list[Resolved]) -> str:
    """A short id of exactly which debs the repository holds: its version."""
    pins = "".join(f"{r.name}={r.version}\n" for r in resolved)
    return hashlib.sha256(pins.encode()).hexdigest()[:12]


def upstream_version(debian_version: str) -> str:
    """'1:2.6.2-5+b1' -> '2.6.2' (no epoch, no Debian revision)."""
    return debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
