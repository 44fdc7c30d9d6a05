"""Fresh systemd hosts on demand: systemd-nspawn containers on an overlay of a cached image.

See docs/sandbox.md. `aiws.sandbox.host` creates and destroys them; the other modules hold
the pure parts (names, state, addresses, inventories) and the base image cache.
"""
