#!/usr/bin/python3
"""Ansible module: remove paths and say, for each, whether it was removed or absent.

In check mode it reports what it would remove and touches nothing: that is how
`aiws uninstall --dry-run` prints the exact plan of the real run. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_remove
short_description: Remove paths, reporting each as removed, absent or would-remove
options:
  paths:
    description: Files or directories to remove (directories recursively).
    type: list
    elements: path
    required: true
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {"paths": {"type": "list", "elements": "path", "required": True}}


def remove(path, check_mode):
    if not os.path.lexists(path):
        return "absent"
    if check_mode:
        return "would remove"
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return "removed"


def run(params, check_mode=False):
    report = [{"path": p, "status": remove(p, check_mode)} for p in params["paths"]]
    changed = any(item["status"] != "absent" for item in report)
    return {"changed": changed, "aiws_paths": report}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module.params, module.check_mode))


if __name__ == "__main__":
    main()
