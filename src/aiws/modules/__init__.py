"""aiws's own Ansible modules. They run on the target's python (3.9+), stdlib only.

Each exposes `run(params, check_mode) -> result` so the controller can call it in-process
for the local host (aiws.ansible.hostcall) and Ansible can run it anywhere else.
"""
