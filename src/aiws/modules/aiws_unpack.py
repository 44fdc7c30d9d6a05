#!/usr/bin/python3
"""Ansible module: unpack verified runtime tarballs into /opt/aiws/<artifact>/<version>.

For each tarball in one pass: its SHA256 must match the bundle manifest (checked while
reading), every member must be a plain file, directory or in-tree symlink with a safe
relative path, no setuid/setgid bit and nothing world-writable (module_utils/aiws_tarsafe,
the rules `aiws bundle verify` applies too), and every file's content must match the
tarball's own SHA256SUMS. The tree is built in <dest>.partial and renamed into place only
when all of that holds; a marker then records the SHA256 of the tarball it came from, so a
rerun with the same tarball does nothing and a tree from any other tarball (or none) is
replaced. Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: aiws_unpack
short_description: Check and unpack verified runtime tarballs, skipping those already in place
options:
  artifacts:
    description: Each {name, version, src (the tarball on this host), sha256, dest}.
    type: list
    elements: dict
    required: true
  marker:
    description: File in each unpacked tree holding the SHA256 of its tarball.
    type: str
    default: .aiws-bundle-sha256
  remove_src:
    description: Delete each tarball once unpacked (it was shipped to an upload directory).
    type: bool
    default: false
"""

import hashlib
import os
import shutil
import tarfile

try:
    from ansible.module_utils.aiws_common import module_main
    from ansible.module_utils.aiws_tarsafe import member_problem, safe_component, under_symlink
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import module_main
    from aiws.module_utils.aiws_tarsafe import member_problem, safe_component, under_symlink

CHUNK = 1 << 20
META = ("manifest.json", "SHA256SUMS")
ARGUMENT_SPEC = {
    "artifacts": {"type": "list", "elements": "dict", "required": True},
    "marker": {"type": "str", "default": ".aiws-bundle-sha256"},
    "remove_src": {"type": "bool", "default": False},
}


class Failure(Exception):
    pass


class HashingReader:
    """Hashes every byte tarfile reads from the compressed file."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def finish(self):
        while self.read(CHUNK):
            pass
        return self.digest.hexdigest()


def marker_of(dest, marker):
    try:
        with open(os.path.join(dest, marker)) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _parse_sums(data, where):
    sums = {}
    for line in data.decode("utf-8", "replace").splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64:
            raise Failure("%s: malformed SHA256SUMS line" % where)
        sums[path] = digest
    return sums


def _write_member(tar, member, target):
    """Write one regular file, returning the SHA256 of what was written."""
    digest = hashlib.sha256()
    source = tar.extractfile(member)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
    os.chmod(target, member.mode & 0o777)
    return digest.hexdigest()


def _escaping_links(partial, links):
    """Symlinks whose target, resolved on disk, leaves the tree (e.g. through a chain)."""
    root = os.path.realpath(partial)
    escaping = []
    for name in sorted(links):
        resolved = os.path.realpath(os.path.join(partial, name))
        if resolved != root and not resolved.startswith(root + os.sep):
            escaping.append(name)
    return escaping


def _write_bytes(target, data, mode):
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(target, mode)


def _refused(member, name, marker, seen, links):
    """Why this member may not be written (alone, or after those before it), or None."""
    problem = member_problem(member)
    if not problem and name == marker:
        problem = "reserved name (the unpack marker)"
    if not problem and name in seen:
        problem = "appears twice"
    if not problem and under_symlink(name, links):
        problem = "lies under a symlink"
    return problem


def extract(artifact, partial, marker):
    """Unpack into `partial`, checking as it goes; raises Failure naming the problem."""
    where = "%s %s" % (artifact["name"], artifact["version"])
    with open(artifact["src"], "rb") as raw:
        reader = HashingReader(raw)
        sums, written, links, seen = None, {}, {}, set()
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                problem = _refused(member, name, marker, seen, links)
                if problem:
                    raise Failure("%s: member %s: %s" % (where, member.name, problem))
                seen.add(name)
                target = os.path.join(partial, name)
                if member.isdir():
                    os.makedirs(target, 0o755, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                if member.issym():
                    os.symlink(member.linkname, target)
                    links[name] = member.linkname
                elif name == "SHA256SUMS":
                    data = tar.extractfile(member).read()
                    sums = _parse_sums(data, where)
                    _write_bytes(target, data, 0o644)
                else:
                    written[name] = _write_member(tar, member, target)
        actual = reader.finish()
    if actual != artifact["sha256"]:
        raise Failure(
            "%s: tarball SHA256 %s does not match the bundle manifest (%s); copy the bundle "
            "again" % (where, actual[:16], artifact["sha256"][:16])
        )
    escaping = _escaping_links(partial, links)
    if escaping:
        raise Failure("%s: member %s: symlink leaving the tree" % (where, escaping[0]))
    if sums is None:
        raise Failure("%s: no SHA256SUMS in the tarball" % where)
    wrong = sorted(p for p in set(sums) | set(written) if sums.get(p) != written.get(p))
    if wrong:
        raise Failure(
            "%s: %d file(s) do not match SHA256SUMS, first %s" % (where, len(wrong), wrong[0])
        )


def _clear(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def unpack(artifact, marker, check):
    for key in ("name", "version"):
        if not safe_component(str(artifact.get(key, ""))):
            raise Failure("unsafe artifact %s %r" % (key, artifact.get(key)))
    dest = artifact["dest"]
    if marker_of(dest, marker) == artifact["sha256"]:
        return False
    if check:
        return True
    partial = dest + ".partial"
    parent = os.path.dirname(dest)
    made_parent = not os.path.isdir(parent)
    _clear(partial)
    os.makedirs(partial, 0o755)
    try:
        extract(artifact, partial, marker)
    except (OSError, EOFError, tarfile.TarError, Failure) as exc:
        _clear(partial)
        if made_parent and not os.listdir(parent):
            os.rmdir(parent)  # a refused tarball leaves nothing behind
        if isinstance(exc, Failure):
            raise
        raise Failure(
            "%s %s: corrupt tarball (%s)" % (artifact["name"], artifact["version"], exc)
        ) from None
    _write_bytes(os.path.join(partial, marker), (artifact["sha256"] + "\n").encode(), 0o644)
    _clear(dest)
    os.rename(partial, dest)
    return True


def run(params, check_mode=False):
    params = {key: params.get(key, spec.get("default")) for key, spec in ARGUMENT_SPEC.items()}
    unpacked = []
    try:
        for artifact in params["artifacts"]:
            if unpack(artifact, params["marker"], check_mode):
                unpacked.append(artifact["name"])
            if params["remove_src"] and not check_mode and os.path.exists(artifact["src"]):
                os.unlink(artifact["src"])
    except Failure as exc:
        return {"failed": True, "msg": str(exc), "unpacked": unpacked}
    return {"changed": bool(unpacked), "unpacked": unpacked}


def main():
    module_main(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
