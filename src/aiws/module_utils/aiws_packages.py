"""Debian packages from the bundle's apt repository, and exactly ours back out.

apt is pointed at the bundle's repository only, through options on each call (a source list
and an index directory of aiws's own): nothing is added to the host's apt configuration and
the host's own package lists are never touched, so an offline host never tries a mirror.

state=present: finish an interrupted dpkg run, remember the host's packages and accounts
before aiws's first install (once), install what is missing, and record in the ledger which
packages aiws installed (installed now, offered by the bundle, not on the host before) and
which accounts the packages created. state=absent: purge exactly the component's recorded
packages, after a simulation shows apt would remove nothing else (refused, naming the
packages, when it would), then the paths the packages leave behind. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil

try:
    from ansible.module_utils.aiws_common import (
        Failure,
        component_record,
        ledger_to_update,
        must_run,
        now,
        read_ledger,
        write_json,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import (
        Failure,
        component_record,
        ledger_to_update,
        must_run,
        now,
        read_ledger,
        write_json,
    )

APT_TIMEOUT = 1800
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")


def _run(argv, timeout=APT_TIMEOUT):
    return must_run(argv, timeout, ENV).stdout


def apt_options(state_dir):
    """apt reads only aiws's source list and keeps its indexes in aiws's own directory."""
    return [
        "-oDir::Etc::SourceList=%s" % os.path.join(state_dir, "sources.list"),
        "-oDir::Etc::SourceParts=/nonexistent",
        "-oDir::State::Lists=%s" % os.path.join(state_dir, "lists"),
        "-oDir::Cache::pkgcache=",
        "-oDir::Cache::srcpkgcache=",
        "-oAPT::Get::List-Cleanup=0",
    ]


def dpkg_status():
    """{package: status abbreviation} of every package dpkg knows."""
    out = _run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\n"], 120)
    status = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            status[parts[1]] = parts[0]
    return status


def installed(status):
    return {name for name, abbrev in status.items() if abbrev.startswith("ii")}


def accounts():
    names = {}
    for kind, path in (("users", "/etc/passwd"), ("groups", "/etc/group")):
        with open(path) as handle:
            names[kind] = {line.split(":", 1)[0] for line in handle if ":" in line}
    return names


def offered(repo):
    """{package: names it depends on (any alternative, Provides resolved later)} of the repo."""
    with open(os.path.join(repo, "Packages")) as handle:
        stanzas = handle.read().split("\n\n")
    depends, provides = {}, {}
    for stanza in stanzas:
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):
                fields[key] = value
        name = fields.get("Package")
        if not name:
            continue
        wanted = ",".join(fields.get(k, "") for k in ("Pre-Depends", "Depends"))
        depends[name] = {
            _name(alt) for group in wanted.split(",") for alt in group.split("|") if _name(alt)
        }
        for virtual in fields.get("Provides", "").split(","):
            if _name(virtual):
                provides.setdefault(_name(virtual), set()).add(name)
    return depends, provides


def _name(spec):
    return spec.strip().split(" ")[0].split(":")[0].strip()


def closure(roots, depends, provides, candidates):
    """`roots` and everything they depend on, within `candidates` (what aiws may own)."""
    seen, todo = set(), [r for r in roots if r in candidates]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in depends.get(name, ()):
            for real in {dep} | provides.get(dep, set()):
                if real in candidates and real not in seen:
                    todo.append(real)
    return seen


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def point_at_repo(repo, state_dir, check):
    """aiws's source list names the repository; its index is read when it changed."""
    index = os.path.join(repo, "Packages")
    if not os.path.isfile(index):
        raise Failure("%s is missing: install with --bundle FILE (a bundle carrying it)" % index)
    wanted = "deb [trusted=yes] file:%s ./\n" % repo
    source_list = os.path.join(state_dir, "sources.list")
    stamp = os.path.join(state_dir, "lists", ".aiws-index")
    with open(index, "rb") as handle:
        fingerprint = "%s %d\n" % (repo, len(handle.read()))
    current = _slurp(source_list) == wanted and _slurp(stamp) == fingerprint
    if current or check:
        return not current
    os.makedirs(os.path.join(state_dir, "lists", "partial"), 0o755, exist_ok=True)
    with open(source_list, "w") as handle:
        handle.write(wanted)
    _run(["apt-get", "update", "-qq", *apt_options(state_dir)])
    with open(stamp, "w") as handle:
        handle.write(fingerprint)
    return True


def _slurp(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def present(params, check):
    repo, state_dir = params["repo"], params["state_dir"]
    check_names(params["packages"], params["component"])
    if check and not os.path.isfile(os.path.join(repo, "Packages")):
        # A plan on a host the bundle has not reached yet: its repository is unpacked by
        # the real run; what is not installed now would be.
        missing = [p for p in params["packages"] if p not in installed(dpkg_status())]
        return {"changed": True, "missing": missing}
    changed = point_at_repo(repo, state_dir, check)
    status = dpkg_status()
    if any(not abbrev.startswith(("ii", "rc", "un", "pn")) for abbrev in status.values()):
        changed = True  # an interrupted run left a package half installed
        if not check:
            _run(["dpkg", "--configure", "-a"])
            status = dpkg_status()
    before_accounts = accounts()
    baseline = _read_json(params["baseline"])
    if baseline is None:
        baseline = {
            "packages": sorted(installed(status)),
            "users": sorted(before_accounts["users"]),
            "groups": sorted(before_accounts["groups"]),
        }
        if not check:
            write_json(params["baseline"], baseline)
    missing = [p for p in params["packages"] if p not in installed(status)]
    if missing:
        changed = True
        if check:
            return {"changed": True, "missing": missing}
        _run(
            [
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                *apt_options(state_dir),
                *missing,
            ]
        )
        status = dpkg_status()
    # Ours: the component's packages and their dependency closure among the packages that
    # came from the bundle and were not on the host before aiws.
    depends, provides = offered(repo)
    candidates = (installed(status) & set(depends)) - set(baseline["packages"])
    ours = closure(params["packages"], depends, provides, candidates)
    after_accounts = accounts()
    created = {k: sorted(after_accounts[k] - before_accounts[k]) for k in after_accounts}
    changed |= record(params, sorted(ours), created, check)
    return {
        "changed": changed,
        "missing": missing,
        "packages": sorted(ours),
        "users": created["users"],
        "groups": created["groups"],
    }


def record(params, packages, created, check):
    """Merge what this step installed into the component's record, at once: an interrupted
    run still leaves the packages known to a later purge."""
    ledger = ledger_to_update(params["ledger"], check)
    current = component_record(ledger, params["component"])
    wanted = dict(current)
    wanted.setdefault("version", params["version"])
    for key, new in (
        ("packages", packages),
        ("users", created["users"]),
        ("groups", created["groups"]),
    ):
        wanted[key] = sorted(set(current[key]) | set(new))
    if wanted == current:
        return False
    stamp = now()
    wanted.setdefault("installed_at", stamp)
    wanted["updated_at"] = stamp
    ledger.setdefault("components", {})[params["component"]] = wanted
    if not check:
        write_json(params["ledger"], ledger)
    return True


def simulate_purge(packages):
    out = _run(["apt-get", "-s", "purge", *packages])
    return {line.split()[1] for line in out.splitlines() if line.startswith("Purg ")}


# Debian policy's package name (plus an optional :arch): never an apt-get option.
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$")


def check_names(names, where):
    """Refuse a package name apt-get would take for something else (e.g. "-oDpkg::...")."""
    for name in names:
        if not PACKAGE_NAME.match(str(name)):
            raise Failure("%s names %r, which is not a Debian package name" % (where, name))
    return names


def absent(params, check):
    ledger = read_ledger(params["ledger"]) or {}
    shared = set()
    for name in ledger.get("components", {}):
        if name != params["component"]:
            shared |= set(component_record(ledger, name)["packages"])
    # A package another component still records stays (it is theirs too).
    own = component_record(ledger, params["component"])["packages"]
    check_names(own, "the ledger (%s)" % params["component"])
    recorded = [p for p in own if p not in shared]
    status = dpkg_status()
    present_now = [p for p in recorded if not status.get(p, "un").startswith(("un", "pn"))]
    result = {"changed": False, "purged": [], "aiws_paths": []}
    if present_now:
        extra = sorted(simulate_purge(present_now) - set(recorded))
        if extra:
            raise Failure(
                "purging %s's packages would also remove %s, which aiws did not install; "
                "remove those first or keep %s's packages"
                % (params["component"], ", ".join(extra), params["component"])
            )
        result.update(changed=True, purged=present_now)
        if not check:
            _run(["apt-get", "purge", "-y", "-qq", *present_now])
    if recorded:
        for path in params["purge_paths"]:
            status_word = "absent"
            if os.path.lexists(path):
                status_word = "would remove" if check else "removed"
                if not check:
                    _remove(path)
            result["aiws_paths"].append({"path": path, "status": status_word})
    result["changed"] |= any(p["status"] != "absent" for p in result["aiws_paths"])
    return result


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
