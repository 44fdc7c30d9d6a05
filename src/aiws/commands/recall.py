"""A rerun that does not repeat its choices repeats the hosts' last install.

`aiws install --bundle B` on an installed host means "converge what is there": the mode, the
components, the public domain with its TLS choice and the operator's configuration come from
the ledger's record of the last successful install (aiws_host_facts `last_install`). A flag
or the configuration file still wins; only what neither says is taken from the record, and
the summary names what was. Without the record, a first install must say its mode.

Why: a bare rerun that fell back to the defaults would silently change the host (Caddy from
its own CA to ACME, LiteLLM without the configured models).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aiws.commands import hostfacts
from aiws.errors import UsageError
from aiws.guard import checks as guard
from aiws.guard.checks import HostFacts, LastInstall
from aiws.model.catalog import Catalog
from aiws.model.config import LoadedConfig, OperatorConfig, recorded_config
from aiws.model.hosts import Hosts
from aiws.model.request import InstallRequest

Gather = Callable[[Hosts, Catalog], Mapping[str, HostFacts]]


def complete(
    request: InstallRequest,
    catalog: Catalog,
    target: Hosts,
    gather: Gather = hostfacts.gather,
) -> InstallRequest:
    """The request with every unset choice filled from the hosts' record (read only when
    something is unset that the record could answer)."""
    if not needs_record(request, catalog):
        return replace(request, unset=frozenset())
    return merge(request, catalog, gather(target, catalog))


def answerable(request: InstallRequest) -> frozenset[str]:
    """Guard findings the record may still answer (the guard runs again after it)."""
    return frozenset({"domain.missing"} if "domain" in request.unset else ())


def early_report(request: InstallRequest, catalog: Catalog) -> guard.GuardReport | None:
    """The guard on what the request already says, before any host is read, without the
    findings the record may answer; None when the request names no mode yet."""
    if not request.mode:
        return None
    report = guard.evaluate(request, catalog)
    tolerated = answerable(request)
    return replace(report, findings=tuple(f for f in report.findings if f.code not in tolerated))


def needs_record(request: InstallRequest, catalog: Catalog) -> bool:
    unset = request.unset
    if "mode" in unset or "config" in unset:
        return True
    public = _public(catalog, request)
    return public and ("domain" in unset or ("internal_ca" in unset and bool(request.domain)))


def merge(
    request: InstallRequest, catalog: Catalog, facts: Mapping[str, HostFacts]
) -> InstallRequest:
    """`request` completed from each host's `last_install`; hosts that disagree on a choice
    the request leaves open are refused (say it with a flag)."""
    hosts = ", ".join(sorted(facts)) or "the target"
    lasts = {host: f.last_install for host, f in facts.items()}
    recalled: list[str] = []
    unset = request.unset

    loaded = request.config
    if "config" in unset:
        stored = recorded_config(_agreed(lasts, "config", "--config FILE"))
        if stored is not None and stored != OperatorConfig():
            loaded = LoadedConfig(stored, f"the ledger on {hosts}")
            recalled.append("the operator configuration")
    chosen = loaded.config

    mode, only = request.mode, request.only
    if "mode" in unset:
        mode = chosen.mode or _agreed(lasts, "mode", "--mode MODE") or ""
        if not mode:
            raise UsageError(
                f"no --mode given and no earlier install on {hosts} to repeat",
                "pass --mode (all-in-one, core or local; see `aiws versions`)",
            )
        recalled.append(f"mode {mode}")
        if not only:
            only = _installed_of_mode(catalog, mode, facts)
    request = replace(request, mode=mode, only=only, config=loaded)

    domain, internal_ca = request.domain, request.internal_ca
    public = _public(catalog, request)
    if "domain" in unset and public:
        domain = chosen.domain or _agreed(lasts, "domain", "--domain FQDN")
        if domain:
            recalled.append(f"domain {domain}")
    if "internal_ca" in unset and domain:
        if chosen.caddy.certificate is not None:
            internal_ca = False  # the operator's own certificate is the choice
        elif chosen.tls is not None:
            internal_ca = chosen.tls == "internal"
        else:
            same = [last for last in lasts.values() if last.domain == domain]
            internal_ca = bool(same) and all(last.internal_ca for last in same)
            if same:
                recalled.append("the site CA" if internal_ca else "ACME certificates")
    return replace(
        request,
        domain=domain,
        internal_ca=internal_ca,
        unset=frozenset(),
        recalled=tuple(recalled),
    )


def _agreed(lasts: Mapping[str, LastInstall], name: str, flag: str) -> Any:
    values = {
        json.dumps(value, sort_keys=True): value
        for value in (getattr(last, name) for last in lasts.values())
        if value is not None
    }
    if len(values) > 1:
        raise UsageError(
            f"the hosts' last installs differ in {name} ({', '.join(sorted(values))[:200]})",
            f"say which to use with {flag}",
        )
    return next(iter(values.values()), None)


def _installed_of_mode(
    catalog: Catalog, mode: str, facts: Mapping[str, HostFacts]
) -> tuple[str, ...]:
    """The mode's components installed on any host; () when that is all of them (or the
    mode is unknown, which the guard then names)."""
    chosen = catalog.modes.get(mode)
    if chosen is None:
        return ()
    installed = {name for f in facts.values() for name in f.installed}
    present = [name for name in chosen.components if name in installed]
    return () if len(present) == len(chosen.components) else tuple(present)


def _public(catalog: Catalog, request: InstallRequest) -> bool:
    mode = catalog.modes.get(request.mode)
    if mode is None:
        return False
    names = request.only or tuple(mode.components)
    return any(catalog.components[n].public for n in names if n in catalog.components)
