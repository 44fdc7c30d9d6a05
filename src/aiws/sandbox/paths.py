"""Where sandboxes keep their run state and where base images are cached."""

from __future__ import annotations

import os
from pathlib import Path

# Run state of live sandboxes. Not /var/lib/aiws: that is the product's own path on a target.
DEFAULT_STATE_ROOT = Path("/var/lib/aiws-sandbox")


def state_root() -> Path:
    return Path(os.environ.get("AIWS_SANDBOX_STATE", DEFAULT_STATE_ROOT))


def cache_root() -> Path:
    """~/.cache/aiws (or $AIWS_CACHE_DIR): base images and benchmark records."""
    if "AIWS_CACHE_DIR" in os.environ:
        return Path(os.environ["AIWS_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aiws"


def image_root() -> Path:
    return cache_root() / "images"
