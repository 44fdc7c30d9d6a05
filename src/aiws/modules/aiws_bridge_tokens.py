#!/usr/bin/python3
"""Ansible module: the Bridge's named tokens, stored hashed in its tokens file.

The file is {"tokens": [{"name", "sha256", "created"}]}, 0640 root:<the Bridge's group>,
written atomically; the Bridge reads it again when it changes, so adding or revoking a token
needs no restart. `add` makes a token and returns it once (the only time it exists in clear);
`first` does the same only when the file holds no token (the install's first token); given
`sha256`, `first` stores that digest instead, so the token itself never reaches the host
(the installer made it and shows it in its summary when the fact aiws_bridge_first_token
says `created`);
`list` returns names and dates, never a digest. Stdlib only; `run()` is also called
in-process by the controller for the local host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_bridge_tokens
short_description: Add, list and revoke the Bridge's named tokens (stored hashed)
options:
  file:
    description: The Bridge's tokens file.
    type: path
    required: true
  group:
    description: The group that may read the file (the Bridge's account); root when absent.
    type: str
    default: root
  state:
    description: list, add (a new token named `name`), first (add `name` when none exists), revoke.
    type: str
    choices: [list, add, first, revoke]
    default: list
  name:
    description: The token's name (add, first, revoke).
    type: str
  sha256:
    description: With first, the digest to store (the token is made by the caller).
    type: str
"""

import grp
import hashlib
import json
import re
import secrets

try:
    from ansible.module_utils.aiws_common import module_main, now, read_tokens, write_atomic
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import module_main, now, read_tokens, write_atomic

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
ARGUMENT_SPEC = {
    "file": {"type": "path", "required": True},
    "group": {"type": "str", "default": "root"},
    "state": {"type": "str", "choices": ["list", "add", "first", "revoke"], "default": "list"},
    "name": {"type": "str"},
    "sha256": {"type": "str"},
}
DIGEST = re.compile(r"^[0-9a-f]{64}\Z")


def write_tokens(path, tokens, group):
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = 0
    data = (json.dumps({"tokens": tokens}, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_atomic(path, data, mode=0o640 if gid else 0o600, gid=gid)


def run(params, check_mode=False):
    result = {"changed": False, "tokens": []}
    path, state, name = params["file"], params.get("state") or "list", params.get("name")
    try:
        tokens = read_tokens(path)
    except (OSError, ValueError) as exc:
        return dict(result, failed=True, msg=str(exc))
    if state != "list" and (not name or not NAME.match(name)):
        return dict(
            result, failed=True, msg="a token name is 1-64 of A-Z a-z 0-9 . _ - (%r)" % name
        )
    names = [t["name"] for t in tokens]
    digest = params.get("sha256")
    if digest is not None and (state != "first" or not DIGEST.match(digest)):
        return dict(result, failed=True, msg="sha256: 64 hex digits, with state=first only")
    if state == "first":
        result["ansible_facts"] = {"aiws_bridge_first_token": {"name": name, "created": False}}
        if tokens:
            state = "list"
    if state in ("add", "first"):
        if name in names:
            return dict(result, failed=True, msg="a token named %s exists; revoke it first" % name)
        token = None if digest else secrets.token_urlsafe(32)
        entry = {
            "name": name,
            "created": now(),
            "sha256": digest or hashlib.sha256(token.encode()).hexdigest(),
        }
        tokens.append(entry)
        result.update(changed=True, name=name)
        if token is not None:
            result["token"] = token
        if state == "first":
            result["ansible_facts"]["aiws_bridge_first_token"]["created"] = True
    elif state == "revoke":
        if name not in names:
            return dict(result, failed=True, msg="no token named %s" % name, unknown=True)
        tokens = [t for t in tokens if t["name"] != name]
        result["changed"] = True
    if result["changed"] and not check_mode:
        write_tokens(path, tokens, params.get("group") or "root")
    result["tokens"] = [{"name": t["name"], "created": t.get("created", "")} for t in tokens]
    return result


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
