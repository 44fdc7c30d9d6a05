"""This checkout seen at another place: bound at a new directory under `parent` inside a
private mount namespace (nothing is copied, nothing outside the namespace sees it), run with
the checkout's own venv there, as a clone at that place would be."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class View:
    where: Path  # the checkout's path inside the namespace
    prefix: list[str]  # prepend to a command: it runs inside the namespace, with the bind
    python: str  # the venv's interpreter at the view
    pythonpath: str  # the venv's .pth files name the checkout: the view's sources first


@contextlib.contextmanager
def checkout_view(
    parent: str | None = None, *, read_only: bool = False, enter: bool = False
) -> Iterator[View]:
    """A view under `parent` (a fresh temporary directory by default), 0755; with `enter`,
    commands start in it. The directory is removed afterwards (empty: the bind went with
    its namespace)."""
    inside = Path(sys.executable).relative_to(CHECKOUT)  # the venv is the checkout's
    where = Path(tempfile.mkdtemp(prefix="aiws-checkout-", dir=parent))
    try:
        where.chmod(0o755)
        bind = "mount --bind " + ("-o ro " if read_only else "") + '"$0" "$1"'
        script = bind + (' && cd "$1"' if enter else "") + ' && shift && exec "$@"'
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                  str(CHECKOUT), str(where)]  # fmt: skip
        yield View(where, prefix, str(where / inside), f"{where}/src:{where}/bridge/src")
    finally:
        where.rmdir()
