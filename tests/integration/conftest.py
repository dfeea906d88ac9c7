"""pytest fixtures for the stud integration tests.

Run:  /usr/bin/python3 -m pytest -q tests/integration
Binary: $STUD_BIN if set, else <repo root>/stud.
"""

import os
import socket
import subprocess
import types

import pytest

from backend import Backend, free_port
from harness import STUD_BIN, Detached, Stud, stud_available, wait_until, which


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s"
                           % (" ".join(args), r.stderr.decode(errors="replace")))


SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"


def _self_signed(d, name, newkey_args):
    key, crt = d / (name + ".key"), d / (name + ".crt")
    _openssl("req", "-x509", *newkey_args, "-nodes", "-keyout", str(key),
             "-out", str(crt), "-days", "3", "-subj", "/CN=localhost",
             "-addext", SAN, cwd=d)
    return crt, key


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """Certificates made with the openssl CLI:
    rsa_pem / ec_pem   cert chain + key in one file (what stud loads)
    rsa_dh_pem         rsa_pem + 3072-bit DH parameters
    rsa_crt / ec_crt   the certificate alone (to verify stud as a CA file)
    mismatched_pem     cert of one key followed by a different key
    malformed_pem      a PEM file whose certificate is garbage
    """
    d = tmp_path_factory.mktemp("certs")
    ns = types.SimpleNamespace(dir=d)

    ns.rsa_crt, rsa_key = _self_signed(d, "rsa", ["-newkey", "rsa:2048"])
    ns.rsa_pem = d / "rsa.pem"
    ns.rsa_pem.write_bytes(ns.rsa_crt.read_bytes() + rsa_key.read_bytes())

    ns.ec_crt, ec_key = _self_signed(
        d, "ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    ns.ec_pem = d / "ec.pem"
    ns.ec_pem.write_bytes(ns.ec_crt.read_bytes() + ec_key.read_bytes())

    other_key = d / "other.key"
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", str(other_key), cwd=d)
    ns.mismatched_pem = d / "mismatched.pem"
    ns.mismatched_pem.write_bytes(ns.rsa_crt.read_bytes()
                                  + other_key.read_bytes())

    ns.malformed_pem = d / "malformed.pem"
    ns.malformed_pem.write_bytes(
        b"-----BEGIN CERTIFICATE-----\n"
        b"this is not base64 at all ### !!!\n"
        b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
        b"-----END CERTIFICATE-----\n"
        + rsa_key.read_bytes())

    # cert + key + DH parameters (RFC 7919 ffdhe3072: instant, and 3072
    # bits differs from what OpenSSL's automatic DH would pick for RSA-2048)
    dh = d / "dh3072.pem"
    _openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
             "dh_param:ffdhe3072", "-out", str(dh), cwd=d)
    ns.rsa_dh_pem = d / "rsa-dh.pem"
    ns.rsa_dh_pem.write_bytes(ns.rsa_pem.read_bytes() + dh.read_bytes())

    ns.missing_pem = d / "does-not-exist.pem"
    return ns


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """test_tls_features.make_pki()'s PKI, made once for every module that
    uses it (read only)."""
    from test_tls_features import make_pki
    return make_pki(tmp_path_factory)


@pytest.fixture(scope="session")
def stud_bin():
    if not stud_available():
        pytest.fail("stud binary not found or not executable at %s "
                    "(build it with `make`, or set STUD_BIN)" % STUD_BIN)
    return STUD_BIN


@pytest.fixture
def start_stud(stud_bin, certs, tmp_path):
    """start_stud(backend_port, *extra_args, frontend="127.0.0.1,0",
    pem=certs.rsa_pem, backend_spec="127.0.0.1,<backend_port>", wait=True,
    env=None)
    -> Stud (listening, .port parsed from stderr, unless wait=False).  Every stud started is stopped
    (SIGTERM, then SIGKILL if needed, workers included) at teardown."""
    started = []

    def start(backend_port, *extra, frontend="127.0.0.1,0", pem=None,
              backend_spec=None, wait=True, env=None):
        if backend_spec is None:
            backend_spec = "127.0.0.1,%d" % backend_port
        args = ["-f", frontend, "-b", backend_spec]
        args += list(extra)
        args.append(pem if pem is not None else certs.rsa_pem)
        s = Stud(args, tmp_path, env=env)
        started.append(s)
        if wait:
            s.wait_listening()
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def stud_args(stud_bin, tmp_path):
    """stud_args(*args, wait=True, env=None) -> Stud started with exactly
    these arguments (nothing added: no -f, -b or PEM).  Stopped at
    teardown like start_stud's."""
    started = []

    def start(*args, wait=True, env=None):
        s = Stud(list(args), tmp_path, env=env)
        started.append(s)
        if wait:
            s.wait_listening()
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def detached():
    """detached(pid) -> Detached: registers a daemonised stud (pid from its
    pidfile) so that it and its workers are stopped at teardown."""
    made = []

    def track(pid):
        d = Detached(pid)
        made.append(d)
        d.workers()
        return d

    yield track
    for d in made:
        d.stop()


@pytest.fixture
def backend():
    """backend(mode, port=0, size=0, sndbuf=None) -> running Backend; all
    are closed at teardown."""
    made = []

    def make(mode, **kw):
        b = Backend(mode, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def haproxy(tmp_path):
    """haproxy(cfg_text) -> port: validates the config (haproxy -c), runs
    haproxy in the foreground (-db) and waits until it accepts; stopped at
    teardown.  cfg_text may use {port}."""
    exe = which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(exe, os.X_OK):
        pytest.skip("haproxy not installed (Debian package haproxy)")
    procs = []

    def start(cfg_text):
        port = free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(cfg_text.format(port=port))
        r = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0, "haproxy -c: %s%s" % (r.stdout, r.stderr)
        log = open(tmp_path / "haproxy.log", "wb")
        p = subprocess.Popen([exe, "-f", str(cfg), "-db"],
                             stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        log.close()
        procs.append(p)

        def up():
            if p.poll() is not None:
                return "exited"
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return True
            except OSError:
                return False
        st = wait_until(up, 10.0, 0.05)
        assert st is True, "haproxy not accepting on %d (%s): %s" % (
            port, st, (tmp_path / "haproxy.log").read_text(errors="replace"))
        return port

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
