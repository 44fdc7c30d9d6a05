"""Registry clients: each fills a payload directory from PyPI, npm or Debian's apt."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiws.errors import AiwsError


class UnavailableOnTarget(AiwsError):
    """The registries have no build of this pin for the target (Python, cpu)."""


class ToolError(AiwsError):
    """A registry client failed; `output` keeps everything it said, for a closer look."""

    def __init__(self, problem: str, fix: str, output: str):
        super().__init__(problem, fix)
        self.output = output


def run_tool(
    cmd: Sequence[str],
    what: str,
    timeout: int,
    cwd: Path | None = None,
    fix: str = "",
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a registry client; its failure becomes one line naming `what` and the last error."""
    try:
        done = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AiwsError(f"{what}: {cmd[0]} did not finish in {timeout} s", fix) from None
    except FileNotFoundError:
        raise AiwsError(f"{what}: {cmd[0]} is not installed", fix) from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()] or lines
        detail = errors[-1].strip() if errors else f"exit code {done.returncode}"
        raise ToolError(f"{what}: {detail}", fix, done.stderr + done.stdout)
    return done.stdout
