"""The site's own CA for `--internal-ca`, made with the host's openssl.

Clients are asked to trust this CA, so it may vouch for the site's name and nothing else:
its certificate carries a critical name constraint permitting only the site's domain (and
names under it), and no path below it (pathlen 0). Its key stays in aiws's secrets
directory (root's, 0600): Caddy, the internet-facing process, is given only the site's
certificate and key. The site's certificate is issued for 825 days (the longest some
clients accept from any CA) and issued again by the install once a third of that is left
(RENEW_DAYS), or when it no longer matches the CA, the domain or its key.

Every file is written atomically; openssl works in a private temporary directory beside
the secrets. Stdlib only (plus the openssl command): this runs on the target host.
"""

import os
import re
import shutil
import subprocess
import tempfile

try:
    from ansible.module_utils.aiws_common import Failure
    from ansible.module_utils.aiws_secrets import write_secret
except ImportError:  # called in-process by the controller
    from aiws.module_utils.aiws_common import Failure
    from aiws.module_utils.aiws_secrets import write_secret

CA_DAYS = 3650
SITE_DAYS = 825
RENEW_DAYS = SITE_DAYS // 3  # as Caddy does (and `aiws doctor` expects): a third left
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(r"^(?=.{1,253}$)" + LABEL + r"(\." + LABEL + r")*$")
TIMEOUT = 60


def openssl(*args, **kwargs):
    """Run openssl; (returncode, stdout)."""
    binary = shutil.which("openssl")
    if binary is None:
        raise Failure("--internal-ca needs the openssl command on this host (apt install openssl)")
    done = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False, **kwargs
    )
    return done.returncode, done.stdout + done.stderr


def _must(*args, **kwargs):
    code, output = openssl(*args, **kwargs)
    if code != 0:
        raise Failure("openssl %s failed: %s" % (args[0], output.strip().splitlines()[-1:]))
    return output


def permitted_names(ca_pem):
    """The DNS names a CA certificate's name constraints permit ([] when it has none)."""
    if not os.path.exists(ca_pem):
        return []
    code, output = openssl("x509", "-in", ca_pem, "-noout", "-ext", "nameConstraints")
    if code != 0 or "Permitted" not in output:
        return []
    permitted = output.split("Permitted:", 1)[1].split("Excluded:", 1)[0]
    return re.findall(r"DNS:([^\s,]+)", permitted)


def site_is_current(paths, domain, renew_days=RENEW_DAYS):
    """Whether the site's certificate is the CA's, for `domain` alone, matches its key and
    is valid beyond `renew_days`."""
    if not all(os.path.exists(paths[k]) for k in ("ca", "certificate", "key")):
        return False
    if openssl("verify", "-CAfile", paths["ca"], paths["certificate"])[0] != 0:
        return False
    if openssl("x509", "-in", paths["certificate"], "-noout",
               "-checkend", str(renew_days * 86400))[0] != 0:  # fmt: skip
        return False
    code, san = openssl("x509", "-in", paths["certificate"], "-noout", "-ext", "subjectAltName")
    if code != 0 or re.findall(r"DNS:([^\s,]+)", san) != [domain]:
        return False
    from_cert = _must("x509", "-in", paths["certificate"], "-noout", "-pubkey")
    from_key = _must("pkey", "-in", paths["key"], "-pubout")
    return from_cert.strip() == from_key.strip()


def ensure_site_ca(paths, domain, check=False, renew_days=RENEW_DAYS):
    """Make the CA when missing or made for another domain, and the site's certificate when
    it is not current; `paths`: ca_key, ca, key, certificate. (ca_changed, site_changed)."""
    if not DOMAIN.match(domain or ""):
        raise Failure("the site's domain %r is not a DNS name" % (domain,))
    ca_changed = not (os.path.exists(paths["ca_key"]) and permitted_names(paths["ca"]) == [domain])
    site_changed = ca_changed or not site_is_current(paths, domain, renew_days)
    if check or not (ca_changed or site_changed):
        return ca_changed, site_changed
    secrets_dir = os.path.dirname(paths["ca_key"])
    if not os.path.isdir(secrets_dir):
        os.makedirs(secrets_dir, 0o700)
    work = tempfile.mkdtemp(prefix=".aiws-pki-", dir=secrets_dir)
    try:
        if ca_changed:
            _make_ca(work, paths, domain)
        _issue_site(work, paths, domain)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ca_changed, site_changed


def _new_key(work, name):
    path = os.path.join(work, name)
    _must("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    return path


def _make_ca(work, paths, domain):
    key = _new_key(work, "ca.key")
    cert = os.path.join(work, "ca.pem")
    _must(
        "req", "-x509", "-new", "-key", key, "-out", cert, "-days", str(CA_DAYS), "-sha256",
        "-subj", "/CN=aiws site CA for %s" % domain,
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "nameConstraints=critical,permitted;DNS:%s" % domain,
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    _install(key, paths["ca_key"])
    _install(cert, paths["ca"])


def _issue_site(work, paths, domain):
    key = _new_key(work, "site.key")
    request = os.path.join(work, "site.csr")
    cert = os.path.join(work, "site.pem")
    extensions = os.path.join(work, "site.ext")
    with open(extensions, "w") as handle:
        handle.write(
            "subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n" % domain
        )
    _must("req", "-new", "-key", key, "-out", request, "-subj", "/CN=%s" % domain)
    _must(
        "x509", "-req", "-in", request, "-CA", paths["ca"], "-CAkey", paths["ca_key"],
        "-set_serial", "0x%s" % os.urandom(16).hex(), "-days", str(SITE_DAYS), "-sha256",
        "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    _install(key, paths["key"])
    _install(cert, paths["certificate"])


def _install(source, destination):
    with open(source, "rb") as handle:
        write_secret(destination, handle.read())
