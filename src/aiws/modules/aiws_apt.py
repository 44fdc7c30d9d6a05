#!/usr/bin/python3
"""Ansible module: Debian packages from the bundle's apt repository, and exactly aiws's
back out (the component step installs them too; this module is how a purge removes them).
How both work: src/aiws/module_utils/aiws_packages.py. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_apt
short_description: Install packages from the bundle's apt repository; purge exactly aiws's
options:
  component:
    description: The component the packages belong to (its ledger record).
    type: str
    required: true
  state:
    description: present or absent.
    type: str
    choices: [present, absent]
    default: present
  repo:
    description: The bundle's unpacked apt repository (holds Packages).
    type: path
  packages:
    description: Packages to install (state=present).
    type: list
    elements: str
    default: []
  state_dir:
    description: aiws's apt directory (source list, package indexes).
    type: path
    default: /var/lib/aiws/apt
  baseline:
    description: The host's packages and accounts before aiws's first install (written once).
    type: path
    default: /var/lib/aiws/host-before.json
  ledger:
    description: The aiws ledger.
    type: path
    default: /var/lib/aiws/state.json
  version:
    description: The component's version (for a record this step creates).
    type: str
    default: ""
  purge_paths:
    description: With state=absent, paths the purged packages leave behind.
    type: list
    elements: path
    default: []
"""

try:
    from ansible.module_utils.aiws_common import Failure, module_main
    from ansible.module_utils.aiws_packages import absent, present
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main
    from aiws.module_utils.aiws_packages import absent, present

ARGUMENT_SPEC = {
    "component": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "repo": {"type": "path"},
    "packages": {"type": "list", "elements": "str", "default": []},
    "state_dir": {"type": "path", "default": "/var/lib/aiws/apt"},
    "baseline": {"type": "path", "default": "/var/lib/aiws/host-before.json"},
    "ledger": {"type": "path", "default": "/var/lib/aiws/state.json"},
    "version": {"type": "str", "default": ""},
    "purge_paths": {"type": "list", "elements": "path", "default": []},
}


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        if params["state"] == "absent":
            return absent(params, check_mode)
        if not params["repo"]:
            return {"failed": True, "msg": "repo is required with state=present"}
        return present(params, check_mode)
    except Failure as exc:  # a LedgerError too
        return {"failed": True, "msg": "%s: %s" % (params["component"], exc)}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
