"""Where sandboxes keep their run state and where base images are cached."""

from __future__ import annotations

import os
from pathlib import Path

from aiws.resources import cache_root

# Run state of live sandboxes. Not /var/lib/aiws: that is the product's own path on a target.
DEFAULT_STATE_ROOT = Path("/var/lib/aiws-sandbox")


def state_root() -> Path:
    return Path(os.environ.get("AIWS_SANDBOX_STATE", DEFAULT_STATE_ROOT))


def image_root() -> Path:
    return cache_root() / "images"
