"""What the user asked for, parsed and normalised once, before the guard sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiws.errors import UsageError
from aiws.model.catalog import OVERRIDABLE_FIELDS, SET_KEYS, Catalog
from aiws.model.config import LoadedConfig, OperatorConfig, load_config
from aiws.model.trust import Trust, load_trust
from aiws.module_utils.aiws_tarsafe import safe_component


@dataclass(frozen=True)
class InstallRequest:
    mode: str  # "" until recalled, when neither --mode nor the configuration file gave one
    only: tuple[str, ...] = ()  # empty: every component of the mode
    domain: str | None = None
    internal_ca: bool = False
    backends: tuple[str, ...] = ("systemd",)
    component_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    bundle: Path | None = None
    check: bool = False
    trust: Trust = field(default_factory=Trust)  # --trust-key / --sha256: the bundle's pins
    # --allow-downgrade: a component may go back to an older version than its record's.
    allow_downgrade: bool = False
    # The operator's configuration file (/etc/aiws/aiws.yml or --config), validated.
    config: LoadedConfig = field(default_factory=lambda: LoadedConfig(OperatorConfig(), None))
    # What neither a flag nor the configuration file chose ("mode", "domain", "internal_ca",
    # "config": no file); aiws.commands.recall fills these from the hosts' ledger and empties it.
    unset: frozenset[str] = frozenset()
    # What was taken from that record, one phrase each (the summary says so).
    recalled: tuple[str, ...] = ()

    def recorded(self) -> dict[str, object]:
        """The choices a later bare rerun repeats (kept with the run in the ledger)."""
        return {
            "mode": self.mode,
            "only": list(self.only),
            "domain": self.domain,
            "internal_ca": self.internal_ca,
        }


def request_from_cli(
    catalog: Catalog,
    *,
    mode: str | None,
    only: list[str] | None = None,
    domain: str | None = None,
    internal_ca: bool | None = None,
    backend: list[str] | None = None,
    sets: list[str] | None = None,
    bundle: Path | None = None,
    check: bool = False,
    trust_key: Path | None = None,
    sha256: str | None = None,
    config: Path | None = None,
    allow_downgrade: bool = False,
) -> InstallRequest:
    """The request `aiws install` and `aiws preflight` build from their shared options.

    A flag wins over the configuration file; what neither says is left `unset` for the
    hosts' record (aiws.commands.recall). `--set` is checked against the catalog (UsageError on
    a bad one); a `--bundle` that is not a file, and a bad or useless `--trust-key`/`--sha256`, are
    UsageErrors. Nothing is read from the bundle here.
    """
    overrides = parse_overrides(sets, catalog)
    loaded = load_config(catalog, config)
    if bundle is not None and not bundle.is_file():
        raise UsageError(f"bundle {bundle} does not exist", "pass the path of a built bundle file")
    trust = load_trust(trust_key, sha256)
    if trust.pinned and bundle is None:
        raise UsageError(
            "--trust-key and --sha256 need --bundle (they say which bundle to accept)",
            "add --bundle FILE",
        )
    chosen = loaded.config
    mode = mode or chosen.mode
    domain = domain or chosen.domain
    if internal_ca is None and chosen.tls is not None:
        internal_ca = chosen.tls == "internal"
    unset = {
        name
        for name, value in (("mode", mode), ("domain", domain), ("internal_ca", internal_ca))
        if value is None
    }
    if loaded.source is None:
        unset.add("config")
    return InstallRequest(
        mode=mode or "",
        only=split_csv(only),
        domain=domain,
        internal_ca=bool(internal_ca),
        backends=split_csv(backend) or ("systemd",),
        component_overrides=overrides,
        bundle=bundle,
        check=check,
        trust=trust,
        config=loaded,
        unset=frozenset(unset),
        allow_downgrade=allow_downgrade,
    )


def split_csv(values: list[str] | None) -> tuple[str, ...]:
    """`--only a,b --only c` -> ('a', 'b', 'c'), order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for value in values or []:
        for item in value.split(","):
            if item.strip():
                seen[item.strip()] = None
    return tuple(seen)


def parse_overrides(values: list[str] | None, catalog: Catalog) -> dict[str, dict[str, str]]:
    """`--set <component>.<field>=V` (field in OVERRIDABLE_FIELDS) -> {component: {field: V}}.

    These are the only keys `--set` takes (catalog.SET_KEYS); any other KEY is refused
    with a UsageError naming it, so nothing from the command line reaches Ansible's
    variables except through the catalog.
    """
    overrides: dict[str, dict[str, str]] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set '{item}' is not KEY=VALUE", "write it as --set key=value")
        component, _, fieldname = key.partition(".")
        if fieldname not in OVERRIDABLE_FIELDS:
            raise UsageError(
                f"--set {key}: not a key aiws accepts",
                f"allowed: {', '.join(SET_KEYS)} (e.g. --set vault.version=X)",
            )
        if component not in catalog.components:
            raise UsageError(
                f"--set {key}: no component named '{component}'",
                f"choose from: {', '.join(catalog.components)}",
            )
        if not value:
            raise UsageError(f"--set {key} has an empty value", "give a value after '='")
        if fieldname == "version" and not safe_component(value):
            raise UsageError(
                f"--set {key}={value}: a version must be one safe path component "
                "(it names /opt/aiws/<component>/<version>)",
                "use letters, digits, '.', '_', '+' and '-'",
            )
        overrides.setdefault(component, {})[fieldname] = value
    return overrides
