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
  keep:
    description: >-
      Paths never removed, with their parent directories (a directory holding one is emptied
      of everything else instead): what the running controller uses itself.
    type: list
    elements: path
    default: []
"""

import os
import shutil

try:
    from ansible.module_utils.aiws_common import module_main
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import module_main

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "required": True},
    "keep": {"type": "list", "elements": "path", "default": []},
}


def unsafe(path):
    """Anything but an absolute, normalised path below the root. ("//" is the root too:
    POSIX lets normpath keep a leading double slash, so it is refused by name.)"""
    return (
        not path.startswith("/")
        or path.startswith("//")
        or os.path.normpath(path) != path
        or path.rstrip("/") == ""
        or ".." in path.split("/")
    )


def _holds(directory, keep):
    return [k for k in keep if k == directory or k.startswith(directory.rstrip("/") + "/")]


def remove(path, check_mode, keep=()):
    if not os.path.lexists(path):
        return "absent"
    kept = _holds(path, keep)
    if path in kept:
        return "kept"
    if check_mode:
        return "would remove"
    if kept and os.path.isdir(path) and not os.path.islink(path):
        # Emptied of everything but what is kept: a change only if something went.
        inside = [remove(os.path.join(path, name), check_mode, kept) for name in os.listdir(path)]
        return "removed" if "removed" in inside else "kept"
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return "removed"


def run(params, check_mode=False):
    bad = [p for p in params["paths"] if unsafe(p)]
    if bad:
        return {"failed": True, "msg": "refusing to remove unsafe path %r" % bad[0]}
    keep = [os.path.normpath(k) for k in params.get("keep") or []]
    report = [{"path": p, "status": remove(p, check_mode, keep)} for p in params["paths"]]
    changed = any(item["status"] not in ("absent", "kept") for item in report)
    return {"changed": changed, "aiws_paths": report}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
