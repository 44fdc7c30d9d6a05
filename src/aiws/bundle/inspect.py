"""`aiws bundle inspect`: what a package holds, from its aggregate manifest (not verified)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiws.bundle.verify import read_manifest


def inspect_bundle(package: Path) -> dict[str, Any]:
    manifest = read_manifest(package)
    return {
        "package": str(package),
        "size": package.stat().st_size,
        "aiws_version": manifest.aiws_version,
        "built_at": manifest.built_at,
        "target": manifest.target.name,
        "python": manifest.target.python,
        "tested": manifest.tested,
        "versions": manifest.versions,
        "artifacts": [
            {
                "name": a.name,
                "version": a.version,
                "components": sorted(a.components),
                "tarball": a.tarball,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in manifest.artifacts
        ],
        "skipped": manifest.skipped,
    }
