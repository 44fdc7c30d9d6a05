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
    description: >-
      Files or directories to remove (directories recursively). Each must be an absolute,
      normalised path below the root (a path with .. or the root itself is refused).
    type: list
    elements: path
    required: true
  roots:
    description: >-
      aiws's own paths (the catalog's roots, a component's declared paths): every path must be
      one of them or below one, or nothing at all is removed.
    type: list
    elements: path
    required: true
  keep:
    description: >-
      Paths never removed, with their parent directories (a directory holding one is emptied
      of everything else instead): what the running controller uses itself.
    type: list
    elements: path
    default: []
"""

try:
    from ansible.module_utils.aiws_common import module_main
    from ansible.module_utils.aiws_removal import remove_paths
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import module_main
    from aiws.module_utils.aiws_removal import remove_paths

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "required": True},
    "roots": {"type": "list", "elements": "path", "required": True},
    "keep": {"type": "list", "elements": "path", "default": []},
}


def run(params, check_mode=False):
    try:
        report = remove_paths(
            params["paths"], check_mode, params.get("roots") or [], params.get("keep") or []
        )
    except ValueError as exc:
        return {"failed": True, "msg": str(exc)}
    changed = any(item["status"] not in ("absent", "kept") for item in report)
    return {"changed": changed, "aiws_paths": report}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
