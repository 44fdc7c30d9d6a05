"""The run-mode guard, rule by rule: one table row per refusal or warning."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from typing import Any

import pytest

import aiws.guard.checks as guard_module
from aiws.guard.checks import BundleTarget, HostFacts, evaluate, is_fqdn
from aiws.model.catalog import load_catalog
from aiws.model.config import (
    CaddyCertificate,
    CaddySettings,
    LiteLLMSettings,
    LoadedConfig,
    Model,
    OperatorConfig,
)
from aiws.model.request import InstallRequest
from tests.helpers.facts import host_facts

CATALOG = load_catalog()
BUNDLE = BundleTarget(platform="debian-12", arch="amd64")
GOOD = InstallRequest(mode="all-in-one", domain="bridge.example.com")
KEY = "openai-api-key"
WITH_MODEL = InstallRequest(
    mode="all-in-one",
    domain="bridge.example.com",
    config=LoadedConfig(
        OperatorConfig(
            models=[Model(name="gpt", model="gpt-4.1", provider="openai", api_key_secret=KEY)]
        ),
        "/etc/aiws/aiws.yml",
    ),
)


WITH_CERTIFICATE = InstallRequest(
    mode="core",
    domain="bridge.example.com",
    config=LoadedConfig(
        OperatorConfig(
            caddy=CaddySettings(
                certificate=CaddyCertificate(certificate_secret="site-crt", key_secret="site-key")
            )
        ),
        "/etc/aiws/aiws.yml",
    ),
)


WITH_DATABASE = InstallRequest(
    mode="core",
    domain="bridge.example.com",
    config=LoadedConfig(
        OperatorConfig(litellm=LiteLLMSettings(database=True)), "/etc/aiws/aiws.yml"
    ),
)


def host(**changes: Any) -> HostFacts:
    return host_facts(**{
        "hostname": "target",
        "disk": [
            {"path": "/opt/aiws", "device": 1, "free_mb": 50_000},
            {"path": "/var/lib/aiws", "device": 1, "free_mb": 50_000},
        ],
        "listeners": [{"address": "0.0.0.0", "port": 22, "process": "sshd", "pid": 1}],
        **changes,
    })  # fmt: skip


def codes(request: InstallRequest, facts: HostFacts | None = None, **kw: Any) -> list[str]:
    return [f.code for f in evaluate(request, CATALOG, facts, **kw).findings]


# (case id, request, host facts or None, bundle or None, expected finding codes)
CASES: list[tuple[str, InstallRequest, HostFacts | None, BundleTarget | None, list[str]]] = [
    ("all good, request only", GOOD, None, None, []),
    ("all good, with host", GOOD, host(), None, []),
    (
        "all good, internal CA for the domain",
        InstallRequest("core", domain="bridge.example.com", internal_ca=True),
        host(),
        None,
        [],
    ),
    ("local mode needs no domain", InstallRequest("local"), host(), None, []),
    ("unknown mode", InstallRequest("nonsense"), None, None, ["mode.unknown"]),
    (
        "unknown component",
        replace(GOOD, only=("postgresql", "redis")),
        None,
        None,
        ["component.unknown"],
    ),
    (
        "component outside the mode",
        InstallRequest("core", only=("qmd",), domain="bridge.example.com", internal_ca=True),
        None,
        None,
        ["component.not-in-mode"],
    ),
    (
        "docker with k3s",
        replace(GOOD, backends=("docker", "k3s")),
        None,
        None,
        ["backend.exclusive"] + ["backend.unsupported"] * 24,
    ),
    ("unknown backend", replace(GOOD, backends=("podman",)), None, None, ["backend.unknown"]),
    (
        "component without the backend",
        InstallRequest("core", only=("postgresql",), backends=("docker",)),
        None,
        None,
        ["backend.unsupported"],
    ),
    (
        "docker without an engine",
        InstallRequest("local", only=("node",), backends=("docker",)),
        host(),
        None,
        ["backend.unsupported", "backend.missing"],
    ),
    ("public without a domain", InstallRequest("all-in-one"), None, None, ["domain.missing"]),
    (
        "an internal CA still needs the site's name",
        InstallRequest("all-in-one", internal_ca=True),
        None,
        None,
        ["domain.missing"],
    ),
    ("domain that is not an FQDN", replace(GOOD, domain="bridge"), None, None, ["domain.invalid"]),
    ("IP address as domain", replace(GOOD, domain="10.0.0.1"), None, None, ["domain.invalid"]),
    (
        "domain on a local install",
        InstallRequest("local", domain="a.example.com"),
        None,
        None,
        ["domain.unused"],
    ),
    (
        "openclaw without litellm",
        InstallRequest("local", only=("openclaw", "node", "qmd")),
        host(),
        None,
        ["component.requires"],
    ),
    (
        "openclaw with litellm already installed",
        InstallRequest("local", only=("openclaw", "node", "qmd")),
        host(installed=["litellm"]),
        None,
        [],
    ),
    (
        "vault without postgresql",
        InstallRequest("core", only=("vault",)),
        host(),
        None,
        ["component.requires"],
    ),
    (
        "vault alone where postgresql is installed (an upgrade of vault)",
        InstallRequest("core", only=("vault",)),
        host(installed=["postgresql", "vault"]),
        None,
        [],
    ),
    (
        "what a component needs is decided with the hosts' facts, not before",
        InstallRequest("core", only=("vault",)),
        None,
        None,
        [],
    ),
    (
        "bundle for another distro",
        GOOD,
        host(),
        BundleTarget(platform="debian-11", arch="amd64"),
        ["bundle.target"],
    ),
    (
        "bundle for another arch",
        GOOD,
        host(),
        BundleTarget(platform="debian-12", arch="arm64"),
        ["bundle.target"],
    ),
    ("matching bundle", GOOD, host(), BundleTarget(platform="debian-12", arch="amd64"), []),
    ("no systemd as PID 1", GOOD, host(pid1="bash"), None, ["host.systemd"]),
    ("unsupported OS", GOOD, host(os_id="centos", os_version_id="9"), None, ["host.os"]),
    ("unsupported Debian release", GOOD, host(os_version_id="10"), None, ["host.os"]),
    ("unsupported arch", GOOD, host(arch="riscv64"), None, ["host.arch"]),
    (
        "too little disk",
        GOOD,
        host(
            disk=[
                {"path": "/opt/aiws", "device": 1, "free_mb": 900},
                {"path": "/var/lib/aiws", "device": 1, "free_mb": 900},
            ]
        ),
        None,
        ["host.disk"],
    ),
    (
        "too little disk on the data filesystem only",
        GOOD,
        host(
            disk=[
                {"path": "/opt/aiws", "device": 1, "free_mb": 50_000},
                {"path": "/var/lib/aiws", "device": 2, "free_mb": 100},
            ]
        ),
        None,
        ["host.disk"],
    ),
    (
        "too little memory",
        GOOD,
        host(mem_total_mb=1024, mem_available_mb=900),
        None,
        ["host.memory"],
    ),
    ("memory in use", GOOD, host(mem_available_mb=1000), None, ["host.memory-available"]),
    (
        "port taken by someone else",
        GOOD,
        host(
            listeners=[
                {
                    "address": "127.0.0.1",
                    "port": 5432,
                    "process": "postgres",
                    "pid": 42,
                    "unit": "postgresql@15-main.service",
                }
            ]
        ),
        None,
        ["host.port"],
    ),
    (
        "port taken on the wildcard address",
        GOOD,
        host(listeners=[{"address": "::", "port": 4000, "process": "node", "pid": 7}]),
        None,
        ["host.port"],
    ),
    (
        "port held by aiws itself (a rerun)",
        GOOD,
        host(
            listeners=[
                {
                    "address": "127.0.0.1",
                    "port": 5432,
                    "process": "postgres",
                    "pid": 42,
                    "unit": "aiws-postgresql.service",
                }
            ]
        ),
        None,
        [],
    ),
    (
        "same port on another address",
        GOOD,
        host(listeners=[{"address": "10.1.2.3", "port": 8200, "process": "other", "pid": 9}]),
        None,
        [],
    ),
    (
        "package manager busy: wait, not refuse",
        GOOD,
        host(package_lock={"held": True, "holder": "apt-get (pid 99)"}),
        None,
        ["host.package-lock"],
    ),
    (
        "Debian 11's Python 3.9 cannot run LiteLLM, Hermes or the Bridge",
        GOOD,
        host(os_version_id="11"),
        None,
        ["host.python"],
    ),
    (
        "Debian 11 still takes PostgreSQL and Vault",
        InstallRequest("core", only=("postgresql", "vault")),
        host(os_version_id="11"),
        None,
        [],
    ),
    (
        "an operator's certificate whose secrets the host has",
        WITH_CERTIFICATE,
        host(secrets=["site-crt", "site-key"]),
        None,
        [],
    ),
    (
        "an operator's certificate whose key the host does not have",
        WITH_CERTIFICATE,
        host(secrets=["site-crt"]),
        None,
        ["config.secret-missing"],
    ),
    (
        "the internal CA on a host without openssl",
        InstallRequest("all-in-one", domain="bridge.example.com", internal_ca=True),
        host(openssl=False),
        None,
        ["host.openssl"],
    ),
    (
        "the internal CA on a host with openssl",
        InstallRequest("all-in-one", domain="bridge.example.com", internal_ca=True),
        host(),
        None,
        [],
    ),
    (
        "an operator's certificate and the internal CA at once",
        replace(WITH_CERTIFICATE, internal_ca=True),
        None,
        None,
        ["tls.conflict"],
    ),
    (
        "a configured model names a secret the host does not have",
        WITH_MODEL,
        host(secrets=["postgresql-aiws_vault"]),
        None,
        ["config.secret-missing"],
    ),
    ("the secret a configured model names is there", WITH_MODEL, host(secrets=[KEY]), None, []),
    (
        "LiteLLM's database mode (no bundle has its engines)",
        WITH_DATABASE,
        None,
        None,
        ["config.litellm-database"],
    ),
    (
        "database mode asked, LiteLLM not selected",
        replace(WITH_DATABASE, only=("postgresql",), domain=None),
        None,
        None,
        [],
    ),
    (
        "Ansible's temp dir on the host could be another user's",
        GOOD,
        host(ansible_tmp_problem="/root/.ansible belongs to uid 1000"),
        None,
        ["host.ansible-tmp"],
    ),
    (
        "an older release of an installed component (the measured OpenBao 2.6.2 over 2.7.2)",
        GOOD,
        host(installed=["postgresql", "vault"], versions={"postgresql": "15", "vault": "9.0.1"}),
        BUNDLE,
        ["component.downgrade"],
    ),
    (
        "a downgrade asked for explicitly only warns",
        replace(GOOD, allow_downgrade=True),
        host(installed=["vault"], versions={"vault": "9.0.1"}),
        BUNDLE,
        ["component.downgrade"],
    ),
    (
        "upgrades are fine",
        GOOD,
        host(installed=["vault", "litellm"], versions={"vault": "2.6.2", "litellm": "1.0.0"}),
        BUNDLE,
        [],
    ),
    (
        "PostgreSQL's major version never changes in place, whichever way",
        replace(GOOD, allow_downgrade=True),
        host(installed=["postgresql"], versions={"postgresql": "13"}),
        BUNDLE,
        ["component.version-change"],
    ),
    (
        "without a bundle (doctor, a bare preflight) there are no versions to compare",
        GOOD,
        host(installed=["postgresql"], versions={"postgresql": "17"}),
        None,
        [],
    ),
]


@pytest.mark.parametrize(
    ("request_", "facts", "bundle", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_guard_table(
    request_: InstallRequest,
    facts: HostFacts | None,
    bundle: BundleTarget | None,
    expected: list[str],
) -> None:
    assert codes(request_, facts, bundle=bundle) == expected


def test_every_finding_is_one_line_with_a_fix() -> None:
    for _, request, facts, bundle, _expected in CASES:
        for finding in evaluate(request, CATALOG, facts, bundle).findings:
            assert "\n" not in finding.line
            assert finding.problem and finding.fix, finding


def test_unknown_mode_names_the_valid_modes() -> None:
    (finding,) = evaluate(InstallRequest("nonsense"), CATALOG).findings
    assert finding.line == "unknown mode 'nonsense'; valid modes: all-in-one, core, local"


def test_warnings_do_not_refuse() -> None:
    busy = host(package_lock={"held": True, "holder": "dpkg (pid 1)"})
    report = evaluate(GOOD, CATALOG, busy)
    assert report.ok and [w.code for w in report.warnings] == ["host.package-lock"]
    assert "waits up to 300s" in report.warnings[0].line


def test_selection_comes_in_install_order() -> None:
    report = evaluate(
        InstallRequest(
            "core",
            only=("caddy", "bridge", "vault", "postgresql"),
            domain="bridge.example.com",
            internal_ca=True,
        ),
        CATALOG,
    )
    assert report.components == ("postgresql", "vault", "bridge", "caddy")


def test_public_exposure_follows_the_selection() -> None:
    """Without caddy nothing is public, so a core install needs no domain."""
    assert codes(InstallRequest("core", only=("postgresql",))) == []


def test_every_rule_code_is_exercised() -> None:
    seen = {code for c in CASES for code in c[4]}
    declared = set(re.findall(r'Finding\(\s*"([a-z0-9.-]+)"', inspect.getsource(guard_module)))
    assert len(declared) >= 15
    assert declared == seen, f"rules without a test case: {declared - seen}"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("bridge.example.com", True),
        ("a.b.c.example.org.", True),
        ("x-1.example.io", True),
        ("bridge", False),
        ("-bad.example.com", False),
        ("bad-.example.com", False),
        ("a" * 64 + ".example.com", False),
        ("192.168.1.10", False),
        ("example.123", False),
        ("under_score.example.com", False),
    ],
)
def test_is_fqdn(name: str, ok: bool) -> None:
    assert is_fqdn(name) is ok


def test_the_python_refusal_names_what_needs_it_and_why() -> None:
    (finding,) = evaluate(GOOD, CATALOG, host(os_version_id="11")).findings
    assert finding.line.startswith(
        "debian-11 has Python 3.9, and litellm, hermes, bridge need Python 3.10 or newer"
    )
    assert "end of life in August 2026" in finding.line


def test_a_downgrade_names_both_versions_and_the_way_out() -> None:
    facts = host(installed=["vault"], versions={"vault": "9.0.1"})
    wanted = CATALOG.component("vault").version
    (refused,) = evaluate(GOOD, CATALOG, facts, BUNDLE).findings
    assert refused.severity == "error"
    assert refused.line == (
        f"vault 9.0.1 is installed and the bundle has {wanted}: a downgrade; use a bundle "
        "with vault 9.0.1 or newer, or pass --allow-downgrade when its data can go back "
        "(docs/upgrade.md)"
    )
    allowed = evaluate(replace(GOOD, allow_downgrade=True), CATALOG, facts, BUNDLE)
    assert allowed.ok and [f.severity for f in allowed.findings] == ["warning"]
    postgresql = host(installed=["postgresql"], versions={"postgresql": "17"})
    (moved,) = evaluate(GOOD, CATALOG, postgresql, BUNDLE).findings
    assert moved.line == (
        "postgresql 17 is installed and the bundle has 15: postgresql cannot change version "
        "in place; use a bundle with postgresql 17, or follow docs/upgrade.md#postgresql"
    )


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.105.7", "1.106.2"),
        ("1.106.2", "1.108.14"),
        ("2026.9.6", "2026.10.1"),
        ("2.6.2", "2.7.2"),
        ("15", "17"),
        ("1.0.0rc1", "1.0.0"),
        ("1.0", "1.0.1"),
        ("0.61.0", "0.61.1"),
    ],
)
def test_versions_are_ordered_as_releases(older: str, newer: str) -> None:
    assert guard_module.version_key(older) < guard_module.version_key(newer)
    assert guard_module.version_key(newer) == guard_module.version_key(newer)
