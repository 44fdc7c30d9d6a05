"""A bundle target such as `debian-12-amd64`: the platform, the arch and what follows."""

from __future__ import annotations

from dataclasses import dataclass

from aiws.errors import UsageError
from aiws.model.catalog import Catalog, Platform

_NPM_CPU = {"amd64": "x64", "arm64": "arm64"}
_WHEEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
_OLDEST_MANYLINUX_GLIBC = 17  # manylinux2014


@dataclass(frozen=True)
class BundleTarget:
    platform: str  # debian-12
    arch: str  # amd64 | arm64
    info: Platform

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.arch}"

    @property
    def python(self) -> str:
        return self.info.python

    @property
    def npm_cpu(self) -> str:
        return _NPM_CPU[self.arch]

    @property
    def foreign_npm_cpu(self) -> str:
        return next(cpu for arch, cpu in _NPM_CPU.items() if arch != self.arch)

    @property
    def tested(self) -> bool:
        """Only amd64 bundles are exercised end to end on this project's test machines."""
        return self.arch == "amd64"

    def wheel_platforms(self) -> list[str]:
        """Every manylinux tag the target's glibc can load, newest first."""
        arch = _WHEEL_ARCH[self.arch]
        newest = int((self.info.glibc or "2.17").split(".")[1])
        tags = [
            f"manylinux_2_{minor}_{arch}"
            for minor in range(newest, _OLDEST_MANYLINUX_GLIBC - 1, -1)
        ]
        legacy = ["manylinux2014"] + (["manylinux2010", "manylinux1"] if arch == "x86_64" else [])
        return tags + [f"{tag}_{arch}" for tag in legacy]


def parse_target(name: str, catalog: Catalog) -> BundleTarget:
    """`debian-12-amd64` -> BundleTarget; a name the catalog does not know is a usage error."""
    platform, _, arch = name.strip().rpartition("-")
    if platform not in catalog.platforms or arch not in catalog.architectures:
        targets = [f"{p}-{a}" for p in catalog.platforms for a in catalog.architectures]
        raise UsageError(f"unknown bundle target '{name}'", f"choose from: {', '.join(targets)}")
    if arch not in _NPM_CPU:
        raise UsageError(f"no bundle recipe for arch '{arch}'", "use amd64 or arm64")
    return BundleTarget(platform, arch, catalog.platforms[platform])
