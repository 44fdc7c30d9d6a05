"""`aiws restore`: the site a backup holds, rebuilt on this host from the same bundle.

Nothing changes until everything has been checked: the passphrase, every member of the
archive against its manifest (read once, into aiws's private cache), this host's platform
and architecture, and the bundle's target and versions against the archive's. Then:

1. an install from the bundle with the choices the archive records (mode, components,
   domain, TLS, the operator's configuration): users, packages, runtime trees and units
   in place, as on any new site;
2. the services stopped (PostgreSQL excepted), the backup's configuration, state, secrets
   and ledger put in place (aiws_restore: what the new site made and the backup does not
   hold is removed), each database dropped and restored from its dump;
3. the same install again, which now finds the site's own secrets, tokens, certificates
   and data: it sets the database owners' passwords to the restored secrets and starts
   every service on the restored state. Its health check ends the restore.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiws.ansible import driver
from aiws.ansible.hostcall import call_module
from aiws.backup.archive import unseal
from aiws.backup.sealed import SealedError
from aiws.bundle.manifest import BundleManifest
from aiws.bundle.private import private_cache
from aiws.bundle.verify import read_manifest
from aiws.commands import hostfacts
from aiws.commands import install as install_logic
from aiws.errors import AiwsError, UsageError
from aiws.guard.checks import HostFacts
from aiws.model.catalog import Catalog
from aiws.model.config import LoadedConfig, OperatorConfig, recorded_config
from aiws.model.hosts import Hosts
from aiws.model.request import InstallRequest
from aiws.model.resolve import resolve_layout

RESTORED_FROM = "the backup"


@dataclass
class Checked:
    manifest: dict[str, Any]
    payload: Path  # the archive's members as a plain tar, in aiws's private cache


@dataclass
class RestoreOutcome:
    manifest: dict[str, Any]
    first: install_logic.InstallOutcome
    last: install_logic.InstallOutcome
    restored: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.last.exit_code == 0


def _open_archive(path: Path) -> IO[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read the backup {path}: {exc.strerror}") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise UsageError(f"the backup {path} is not a regular file")
    return handle


@contextmanager
def checked_archive(path: Path, passphrase: bytes) -> Iterator[Checked]:
    """The archive read whole and checked, as a plain tar only root can read; gone after."""
    payload = private_cache("restore") / f"{driver.new_run_id()}.tar"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with _open_archive(path) as raw, os.fdopen(os.open(payload, flags, 0o600), "wb") as out:
            manifest = unseal(raw, passphrase, out)
        yield Checked(manifest, payload)
    finally:
        payload.unlink(missing_ok=True)


def bundle_problems(manifest: dict[str, Any], bundle: BundleManifest) -> list[str]:
    """Why `bundle` cannot rebuild the site `manifest` describes (empty: it can)."""
    problems = []
    made_for = f"{manifest.get('platform')}-{manifest.get('arch')}"
    if f"{bundle.target.platform}-{bundle.target.arch}" != made_for:
        problems.append(
            f"the bundle is for {bundle.target.platform}-{bundle.target.arch}, the backup "
            f"from {made_for}"
        )
    for name, version in sorted(manifest.get("versions", {}).items()):
        carried = bundle.versions.get(name)
        if carried != version:
            problems.append(f"{name} {version} (the bundle has {carried or 'none'})")
    return problems


def _check_bundle(manifest: dict[str, Any], bundle: Path) -> None:
    problems = bundle_problems(manifest, read_manifest(bundle))
    if problems:
        raise UsageError(
            f"the bundle cannot rebuild this backup: {'; '.join(problems)}",
            "give the bundle the site was installed from (docs/backup.md)",
        )


def _check_host(manifest: dict[str, Any], facts: HostFacts) -> None:
    made_for = (manifest.get("platform"), manifest.get("arch"))
    if (facts.platform, facts.arch) != made_for:
        raise UsageError(
            f"this host is {facts.platform} {facts.arch}, the backup is from "
            f"{made_for[0]} {made_for[1]}",
            "restore it on a host of the same platform and architecture",
        )


def check_archive(path: Path, passphrase: bytes, bundle: Path | None) -> dict[str, Any]:
    """`aiws restore --check`: the archive's manifest, once it and the bundle are checked."""
    with checked_archive(path, passphrase) as checked:
        if bundle is not None:
            _check_bundle(checked.manifest, bundle)
        return checked.manifest


def _request(manifest: dict[str, Any], catalog: Catalog, bundle: Path) -> InstallRequest:
    last = manifest.get("last_install") or {}
    mode = last.get("mode") or ""
    if mode not in catalog.modes:
        raise SealedError(f"the backup records no install mode this aiws knows ({mode!r})")
    config = recorded_config(last.get("config"))
    loaded = LoadedConfig(config, RESTORED_FROM) if config else LoadedConfig(OperatorConfig(), None)
    components = [c for c in catalog.modes[mode].components if c in manifest.get("versions", {})]
    only = () if len(components) == len(catalog.modes[mode].components) else tuple(components)
    return InstallRequest(
        mode=mode,
        only=only,
        domain=last.get("domain"),
        internal_ca=bool(last.get("internal_ca")),
        bundle=bundle,
        config=loaded,
    )


def restore_params(catalog: Catalog, checked: Checked) -> dict[str, Any]:
    postgresql = catalog.components["postgresql"]
    layout = resolve_layout(catalog, postgresql)
    installed = checked.manifest.get("versions", {})
    units = [
        c.unit
        for name, c in catalog.components.items()
        if c.unit and name in installed and name != "postgresql"
    ]
    kept = {item["path"] for item in checked.manifest.get("not_kept", [])}
    return {
        "payload": str(checked.payload),
        "roots": [catalog.paths.config, catalog.paths.state],
        "not_kept": sorted(kept),
        "stop_units": [*units, "aiws-*@*.service"],
        "databases": [
            {"name": d.name, "owner": d.owner}
            for c in catalog.components.values()
            for d in c.databases
        ],
        "pg_bin": layout["bin"],
        "socket_dir": layout["socket"],
        "port": postgresql.listen.port if postgresql.listen else 5432,
    }


Install = Callable[[InstallRequest, Catalog, str], install_logic.InstallOutcome]


def restore(
    target: Hosts,
    catalog: Catalog,
    archive: Path,
    passphrase: bytes,
    bundle: Path,
    run_install: Install,
    *,
    replace_site: bool,
) -> RestoreOutcome:
    if not target.is_local:
        raise UsageError(
            "aiws restore runs on the host it rebuilds, not through an inventory",
            "run `aiws restore` on the host (docs/backup.md)",
        )
    clock = time.monotonic()
    with checked_archive(archive, passphrase) as checked:
        manifest = checked.manifest
        _check_bundle(manifest, bundle)
        facts = next(iter(hostfacts.gather(target, catalog).values()))
        _check_host(manifest, facts)
        if facts.installed and not replace_site:
            raise UsageError(
                "this host has a site: a restore replaces its data, secrets and tokens "
                "with the backup's",
                "add --yes to replace it",
            )
        request = _request(manifest, catalog, bundle)
        first = run_install(request, catalog, "install before the restore")
        if first.exit_code != 0:
            raise AiwsError(
                "the install before the restore failed; nothing of the backup was put in place",
                "see its summary above, fix the cause and run the restore again",
            )
        platform_catalog = catalog.for_platform(facts.platform)
        params = restore_params(platform_catalog, checked)
        restored = next(iter(call_module(target, "aiws_restore", params).values()))
    last = run_install(request, catalog, "the restored site")
    return RestoreOutcome(manifest, first, last, restored, time.monotonic() - clock)
