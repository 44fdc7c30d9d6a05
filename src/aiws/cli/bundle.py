"""`aiws bundle build | verify | inspect | keygen`: the offline bundle (docs/bundle.md)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from aiws.bundle.build import BuildRequest, build_bundle, project_dir
from aiws.bundle.inspect import inspect_bundle
from aiws.bundle.recipes import CONTROLLER
from aiws.bundle.signing import keygen, load_private_key
from aiws.bundle.target import parse_target
from aiws.bundle.verify import describe, verify_bundle
from aiws.cli.options import JsonOpt, Sha256Opt, SignKeyOpt, TrustKeyOpt
from aiws.cli.output import Output
from aiws.concurrency import AdaptiveLimiter
from aiws.model.catalog import load_catalog
from aiws.model.request import parse_overrides, split_csv
from aiws.model.trust import fingerprint, load_public_key, load_trust
from aiws.resources import cache_root

app = typer.Typer(
    help="Build, verify and inspect the offline bundle (runtime tarballs + manifests); "
    "make the key that signs it.",
    no_args_is_help=True,
)


@app.command("build")
def build(
    target: str = typer.Option(..., "--target", help="Target host, e.g. debian-12-amd64."),
    components: list[str] = typer.Option(
        None, "--components", help="Comma-separated subset (catalog components, 'controller')."
    ),
    sets: list[str] = typer.Option(
        None, "--set", help="Override a pin for this build: <component>.version=X (repeatable)."
    ),
    out: Path = typer.Option(
        cache_root() / "bundles", "--out", help="Directory for the package file."
    ),
    cache_dir: Path = typer.Option(
        cache_root(), "--cache-dir", help="Download cache root (downloads/ under it)."
    ),
    sign_key: SignKeyOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Build the bundle for one target from PyPI, npm and Debian's apt repositories."""
    output = Output(json_mode)
    key = load_private_key(sign_key) if sign_key is not None else None  # before any work
    catalog = load_catalog()
    catalog = catalog.with_overrides(parse_overrides(sets, catalog))
    chosen = list(split_csv(components))
    for name in chosen:
        if name != CONTROLLER:
            catalog.component(name)
    request = BuildRequest(
        catalog=catalog,
        target=parse_target(target, catalog),
        selection=chosen or [*catalog.components, CONTROLLER],
        explicit=bool(chosen),
        out_dir=out.expanduser().resolve(),
        cache_dir=cache_dir.expanduser(),
        project_dir=project_dir(),
        sign_key=key,
    )
    result = build_bundle(request, progress=output.info)
    for name, why in result.manifest.skipped.items():
        output.warn(f"{name} not bundled for {target}: {why}")
    if json_mode:
        output.data(
            {
                "package": str(result.package),
                "sha256": result.sha256,
                "signature": str(result.signature) if result.signature else None,
                "seconds": result.seconds,
                "phase_seconds": result.phase_seconds,
                "cache": {"hits": result.cache_hits, "misses": result.cache_misses},
                "manifest": result.manifest.model_dump(by_alias=True),
            }
        )
        return
    output.print(f"built {escape(str(result.package))} in {result.seconds:.0f} s")
    output.print(f"sha256 {result.sha256}  ({escape(result.checksum.name)})")
    if result.signature is not None and key is not None:
        signer = fingerprint(key.public_key())
        output.print(f"signed {escape(result.signature.name)} with key {signer}")


@app.command("verify")
def verify(
    package: Path = typer.Argument(..., help="The bundle file (its .sha256 must be beside it)."),
    dest: Path = typer.Option(
        None, "--dest", help="Where to unpack the runtime tarballs (default: the cache)."
    ),
    trust_key: TrustKeyOpt = None,
    sha256: Sha256Opt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Verify the package SHA256 (and signature), every SHA256SUMS and every file."""
    output = Output(json_mode)
    trust = load_trust(trust_key, sha256)
    limiter = AdaptiveLimiter()
    bundle = verify_bundle(package, dest, limiter, trust=trust)
    adjustments = [asdict(a) for a in limiter.adjustments]
    signer = fingerprint(trust.key) if trust.key is not None else None
    if json_mode:
        output.data(
            {
                "ok": True,
                **describe(bundle),
                "signed_by": signer,
                "sha256_pinned": trust.sha256 is not None,
                "worker_adjustments": adjustments,
            }
        )
        return
    for a in limiter.adjustments:
        output.info(f"workers {a.before} -> {a.after} at {a.at:.0f}: {a.reason}")
    files = len(bundle.artifacts)
    pins = [f"signed by {signer}"] if signer else []
    pins += ["the pinned SHA256"] if trust.sha256 else []
    output.print(
        f"ok: {escape(package.name)} ({escape(bundle.manifest.target.name)}, "
        f"{files} runtime tarballs{''.join(', ' + p for p in pins)})"
    )


@app.command("keygen")
def keygen_command(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Directory for the key pair (made 0700). Existing keys are never overwritten.",
        file_okay=False,
    ),
) -> None:
    """Make an Ed25519 key pair: sign bundles with the private key (build --sign-key), pin
    the public one on hosts (--trust-key)."""
    output = Output()
    private, public = keygen(out)
    output.print(f"private key {escape(str(private))} (0600: keep it off the hosts)")
    output.print(f"public key  {escape(str(public))}")
    output.print(f"fingerprint {fingerprint(load_public_key(public))}")


@app.command("inspect")
def inspect(
    package: Path = typer.Argument(..., help="The bundle file."),
    json_mode: JsonOpt = False,
) -> None:
    """Show a bundle's target, versions and sizes per component (without verifying)."""
    output = Output(json_mode)
    info = inspect_bundle(package)
    if json_mode:
        output.data(info)
        return
    tested = "" if info["tested"] else " (not tested on this target)"
    output.print(
        escape(
            f"{info['package']}: {info['target']}{tested}, aiws {info['aiws_version']}, "
            f"built {info['built_at']}"
        )
    )
    output.print(_artifact_table(info["artifacts"]))
    for name, why in info["skipped"].items():
        output.print(escape(f"not included: {name}: {why}"))


def _artifact_table(artifacts: list[dict[str, Any]]) -> Table:
    table = Table("artifact", "version", "provides", "size MB", "sha256")
    for a in artifacts:
        provides = ", ".join(a["components"]) or "-"
        table.add_row(
            escape(a["name"]),
            escape(a["version"]),
            escape(provides),
            f"{a['size'] / 1e6:.1f}",
            escape(a["sha256"][:16]),
        )
    return table
