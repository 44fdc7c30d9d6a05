"""Benchmarks run on the same fresh hosts as the integration tests."""

from tests.integration.conftest import make_sandbox, sandbox, sandbox_ready

__all__ = ["make_sandbox", "sandbox", "sandbox_ready"]
