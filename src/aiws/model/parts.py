"""The skeleton's contract with a component role (roles/component): the parts a role gives.

A role declares its parts once, as `<name>_parts` (its render hook's facts): what the
component step writes and runs. The skeleton adds what every component of a kind shares
(accounts, directories, an agent's key file and launcher header, a Python component's venv)
and reads nothing else of the role. A part this contract does not name, a missing required
one or a wrong type is an error when the role renders, not an empty list on a host.
"""

from __future__ import annotations

from typing import Any

# part -> (type, default); every part is optional unless REQUIRED says otherwise.
PARTS: dict[str, tuple[type, Any]] = {
    # {type, exec_start, directives; before_listening for a socket}: how a service runs
    "unit": (dict, {}),
    "files": (list, []),  # [{dest, content, mode, group}]; @AIWS_SECRET(name)@ allowed
    "prepare_files": (list, []),  # written before its packages come
    "init": (list, []),  # [{argv, creates, scratch, dest}]: one-time initialisations
    "directories": (list, []),  # [{path, owner, group, mode}] beyond config and state
    "owned_paths": (list, []),  # more paths a purge removes
    "restart": (bool, False),  # restart although no file changed
    "units": (list, []),  # [{name, content, start}]: further units (a timer, its service)
    "checks": (list, []),  # [{argv, stdout}]: commands that must print `stdout`, run last
    "launcher": (str, ""),  # an agent's launcher body (after the skeleton's header)
}
REQUIRED = {"service": {"unit"}, "agent": {"launcher"}}
ONLY_FOR = {"unit": "service", "launcher": "agent"}


def role_parts(name: str, kind: str, given: Any) -> dict[str, Any]:
    """`given` (a role's `<name>_parts`) checked against the contract, defaults filled in."""
    where = f"roles/{name}: {name}_parts"
    if not isinstance(given, dict):
        raise ValueError(f"{where} must be a mapping of parts, not {type(given).__name__}")
    unknown = sorted(set(given) - PARTS.keys())
    if unknown:
        raise ValueError(
            f"{where}: unknown part {', '.join(unknown)} (the skeleton takes: {', '.join(PARTS)})"
        )
    missing = sorted(REQUIRED.get(kind, set()) - given.keys())
    if missing:
        raise ValueError(f"{where}: {_a(kind)} needs {', '.join(missing)}")
    for part in given:
        if part in ONLY_FOR and ONLY_FOR[part] != kind:
            raise ValueError(f"{where}: {part} is only for {_a(ONLY_FOR[part])}, not {_a(kind)}")
    parts = {}
    for part, (kind_of, default) in PARTS.items():
        value = given.get(part, default)
        if not isinstance(value, kind_of):
            raise ValueError(f"{where}: {part} must be a {kind_of.__name__}, not {value!r:.60}")
        parts[part] = value
    return parts


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
