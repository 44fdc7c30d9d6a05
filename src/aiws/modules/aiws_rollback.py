#!/usr/bin/python3
"""Ansible module: put a component back to its previous generation (`aiws rollback`).

The generation an upgrade saved (aiws_generations): its configuration files and units as
they were, restarted through the same health gate as an upgrade, and its ledger record. Its
databases go back to the dump taken before the upgrade only when asked (`with_data`):
everything written since is lost then. The generation is used up (it is what runs again);
the newer tree stays until the next successful upgrade prunes it. In check mode it says
what it would do. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_rollback
short_description: Return components to the generation their last upgrade saved
options:
  components:
    description: >-
      The components, in the order to roll them back (dependants first); one that fails
      stops the rest.
    type: list
    elements: str
    required: true
  ledger:
    description: The aiws ledger (generations live beside it).
    type: path
    default: /var/lib/aiws/state.json
  run:
    description: The run id (recorded in the ledger's upgrades).
    type: str
    default: ""
  with_data:
    description: Also restore its databases from the dump taken before the upgrade.
    type: bool
    default: false
  required:
    description: >-
      Components named by the operator: one without a saved generation fails; any other
      without one is skipped.
    type: list
    elements: str
    default: []
"""

try:
    from ansible.module_utils.aiws_common import Failure, module_main, read_ledger
    from ansible.module_utils.aiws_generations import (
        forget_generation,
        load_generation,
        record_event,
        restore,
        saved_versions,
    )
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main, read_ledger
    from aiws.module_utils.aiws_generations import (
        forget_generation,
        load_generation,
        record_event,
        restore,
        saved_versions,
    )

ARGUMENT_SPEC = {
    "components": {"type": "list", "elements": "str", "required": True},
    "ledger": {"type": "path", "default": "/var/lib/aiws/state.json"},
    "run": {"type": "str", "default": ""},
    "with_data": {"type": "bool", "default": False},
    "required": {"type": "list", "elements": "str", "default": []},
}


def roll_back(params, name, check):
    record = ((read_ledger(params["ledger"]) or {}).get("components") or {}).get(name) or {}
    running = str(record.get("version") or "")
    saved = [v for v in saved_versions(params["ledger"], name) if v != running]
    if not saved:
        if name in params["required"]:
            raise Failure(
                "%s has no previous generation to go back to (running %s); a generation is "
                "saved by an upgrade and used up by a rollback" % (name, running or "nothing")
            )
        return None
    previous = saved[-1]
    plan = {"component": name, "from": running, "to": previous, "with_data": params["with_data"]}
    if check:
        return plan
    generation = load_generation(params["ledger"], name, previous)
    restore(generation, with_data=params["with_data"])
    forget_generation(params["ledger"], name, previous)
    record_event(
        params["ledger"],
        {
            "component": name,
            "from": running,
            "to": previous,
            "run": params["run"],
            "outcome": "rolled back by the operator",
            "with_data": params["with_data"],
        },
    )
    return plan


def run(params, check_mode=False):
    """Each component in turn; the result's `aiws_rollbacks` fact lists what was (or, in
    check mode, would be) rolled back, the failure names the component it stopped at."""
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    done = []
    for name in params["components"]:
        try:
            plan = roll_back(params, name, check_mode)
        except (Failure, OSError, ValueError) as exc:
            return {
                "failed": True,
                "changed": bool(done),
                "msg": "%s: %s" % (name, exc),
                "ansible_facts": {"aiws_rollbacks": done},
            }
        if plan:
            done.append(plan)
    return {"changed": bool(done), "ansible_facts": {"aiws_rollbacks": done}}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
