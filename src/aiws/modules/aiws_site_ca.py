#!/usr/bin/python3
"""Ansible module: the site's own name-constrained CA and certificate (`--internal-ca`).

The CA (its key and certificate) and the site's certificate and key are secrets of Caddy's
component (catalog.yaml), kept in aiws's secrets directory (root's, 0600) and recorded in
the ledger by the component step like any other; that step copies the certificate, its
key and the CA's certificate to where Caddy and clients read them. The CA is made once per
domain; the site's certificate is issued again when it nears its end
(aiws.module_utils.aiws_pki). Nothing is returned but whether anything changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_site_ca
short_description: The site's name-constrained CA and its certificate for --internal-ca
options:
  domain:
    description: The site's DNS name; the CA may vouch for it (and names under it) only.
    type: str
    required: true
  dir:
    description: aiws's secrets directory (0700 root).
    type: path
    required: true
  names:
    description: The secrets' file names, {ca_key, ca, key, certificate}.
    type: dict
    required: true
"""

import os

try:
    from ansible.module_utils.aiws_common import Failure, module_main
    from ansible.module_utils.aiws_pki import ensure_site_ca
    from ansible.module_utils.aiws_secrets import check_spec
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure, module_main
    from aiws.module_utils.aiws_pki import ensure_site_ca
    from aiws.module_utils.aiws_secrets import check_spec

ARGUMENT_SPEC = {
    "domain": {"type": "str", "required": True},
    "dir": {"type": "path", "required": True},
    "names": {"type": "dict", "required": True},
}
PARTS = ("ca_key", "ca", "key", "certificate")


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    try:
        names = params["names"] or {}
        if sorted(names) != sorted(PARTS):
            raise Failure("names must give exactly %s" % ", ".join(PARTS))
        for name in names.values():
            check_spec(name, "0600")
        paths = {part: os.path.join(params["dir"], names[part]) for part in PARTS}
        ca_changed, site_changed = ensure_site_ca(paths, params["domain"], check_mode)
    except Failure as exc:
        return {"failed": True, "msg": str(exc)}
    changed = ca_changed or site_changed
    return {"changed": changed, "ca_changed": ca_changed, "site_changed": site_changed}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
