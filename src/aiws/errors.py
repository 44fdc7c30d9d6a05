"""Exit codes and the one error type the CLI turns into a one-line message."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable exit codes; scripts rely on them (docs/cli.md)."""

    OK = 0
    FAILED = 1  # the run, a probe or a verification failed
    USAGE = 2  # bad usage, or refused by the guard before any change
    WARNINGS = 3  # `aiws doctor`: warnings, and no error


class AiwsError(Exception):
    """A failure the user can act on: what is wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str = "", exit_code: ExitCode = ExitCode.FAILED):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class UsageError(AiwsError):
    def __init__(self, problem: str, fix: str = ""):
        super().__init__(problem, fix, ExitCode.USAGE)
