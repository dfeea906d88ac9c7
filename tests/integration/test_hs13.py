"""stud's own TLS 1.3 full handshake (hs13.c; --tls13-handshake=stud, the
default): a ClientHello offering TLS 1.3 whose first key share OpenSSL
could take is X25519's, with no pre_shared_key, to a certificate context
of one RSA or ECDSA certificate, is answered by stud itself (ServerHello
to Finished and the tickets, which OpenSSL resumes later); everything else
goes to OpenSSL. --log-level=2 names who did it: handshake=full-stud, or
full for OpenSSL.

Covered here (Python's ssl, openssl s_client, gnutls-cli and curl):
  1. RSA, ECDSA P-256 and P-384 keys: an echo and 1 MiB both ways
     (sha256-checked, byte counts in the log), data in the Finished's send,
     300 concurrent clients, client variants, the ChangeCipherSpec only for
     a legacy session ID, certificates of 6 to 40 kB, a reload, TLS 1.3
     disabled;
  2. each suite and signature scheme; the negotiation (suite, group,
     scheme, or the alert) compared with OpenSSL's own
     (--tls13-handshake=openssl) under several server options;
  3. resumption by OpenSSL of the tickets this path issues (each suite, two
     workers, two instances sharing --ticket-key-file), compared with
     OpenSSL's tickets; 4. --tls13-tickets;
  5. the cases left to OpenSSL (log full) still work; 6. gnutls-cli, curl;
  7. SNI, the certificate chain, RSA + ECDSA for one name;
  8. hostile or odd clients: a ClientHello in pieces, altered in 40 ways
     (answered as OpenSSL answers it), followed by EOF or a reset; garbage
     instead of the Finished; the Finished re-encrypted with keys from the
     client's key log, wrong (decrypt_error, the backend sees nothing) or
     framed in unusual but valid ways. The worker survives all of it.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
          tests/integration/test_hs13.py
"""

import ctypes
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend import HTTP_BODY, source_data
from conftest import _openssl, _self_signed
from harness import (IO_TIMEOUT, SANITIZED, client_context, echo_roundtrip,
                     recv_all, recv_exact, recv_hash, tcp_shut_wr,
                     tls_connect, wait_until, which)
from test_hostile import (client_hello, guarded, records,  # noqa: F401
                          wait_closed)
from test_records import _gnutls
from test_reload import _hup
from test_session import _ctx, _key_file, _request
from test_tls_features import (_ocsp_copy, _staple,  # noqa: F401
                               s_client_full)

REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"
SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
          "TLS_CHACHA20_POLY1305_SHA256"]
CCS = b"\x14\x03\x03\x00\x01\x01"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pems(certs, tmp_path_factory):
    """{"rsa", "ec" (P-256), "p384"}: certificate + key files."""
    d = tmp_path_factory.mktemp("hs13")
    crt, key = _self_signed(d, "p384", ["-newkey", "ec", "-pkeyopt",
                                        "ec_paramgen_curve:P-384"])
    p384 = d / "p384.pem"
    p384.write_bytes(crt.read_bytes() + key.read_bytes())
    return {"rsa": certs.rsa_pem, "ec": certs.ec_pem, "p384": p384}


def _stud(start_stud, be, *extra, pem=None):
    """stud with one line per connection on its stderr."""
    return start_stud(be.port, "--log-level=2", *extra, pem=pem)


CONN_LINE = re.compile(r"^stud: client=\S+ backend=\S+ in=(\d+) out=(\d+) "
                       r"duration=\S+ handshake=(\S+) ", re.M)


def _conns(stud, n=None):
    """(in, out, handshake) of stud's connection lines, in order; with n,
    waits (bounded) until there are n of them (a line is written when its
    connection closes)."""
    def get():
        return [(int(i), int(o), k)
                for i, o, k in CONN_LINE.findall(stud.stderr())]
    if n is not None:
        wait_until(lambda: len(get()) >= n, 5.0)
    return get()


def _kinds(stud, n=None):
    """The handshake= field of stud's connection lines (see _conns)."""
    return [k for _, _, k in _conns(stud, n)]


def _tls13():
    ctx = client_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _s_client(port, *args, data=REQUEST):
    """openssl s_client (not -brief) sending data and reading until stud
    closes: (rc, stdout + stderr)."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-ign_eof"] + list(args),
                       input=data, capture_output=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def _outcome(rc, out, version="1.3"):
    """What an s_client run of TLS version negotiated, as comparable
    fields."""
    def field(rx):
        m = re.search(rx, out, re.M)
        return m.group(1).strip() if m else None
    return {"ok": rc == 0 and "200 OK" in out,
            "cipher": field(r"^(?:New|Reused), TLSv%s, Cipher is (\S+)" %
                            re.escape(version)),
            "sigtype": field(r"^Peer signature type: (.+)$"),
            "digest": field(r"^Peer signing digest: (.+)$"),
            "group": field(r"^Server Temp Key: (.+)$"),
            "ems": "Extended master secret: yes" in out,
            "alert": field(r"alert number (\d+)")}


def _echo_and_verified(s, ctx, pem, maximum=None):
    """With ctx a short echo, then 1 MiB up and back, sha256-checked; then
    a verifying client (the certificate in pem is its own CA, maximum its
    highest version): the server's signature and the hostname are checked.
    Both are stud's own handshakes, their byte counts in the log. Returns
    the first connection's (version, cipher)."""
    data, digest = source_data(1 << 20, seed=13)
    with tls_connect(s.port, ctx=ctx) as c:
        seen = (c.version(), c.cipher()[0])
        c.sendall(b"ping\n")
        assert recv_exact(c, 5) == b"ping\n"
        c.sendall(data)
        tcp_shut_wr(c)
        got, n, clean = recv_hash(c)
    assert (n, got) == (len(data), digest)
    assert clean, "no close_notify after the echo backend's EOF"
    verify = ssl.create_default_context(cafile=str(pem))
    if maximum is not None:
        verify.maximum_version = maximum
    with tls_connect(s.port, ctx=verify) as c:
        c.sendall(b"verified\n")
        assert recv_exact(c, 9) == b"verified\n"
    big = 5 + (1 << 20)
    assert _conns(s, 2) == [(big, big, "full-stud"), (9, 9, "full-stud")], \
        s.stderr()
    return seen


def _workers_unchanged(s, before):
    assert s.proc.poll() is None, s.stderr()[-3000:]
    assert s.workers() == before, (before, s.workers(), s.stderr()[-3000:])


def _records(data):
    """[(content type, record bytes)] of a byte string of whole records."""
    out = []
    while data:
        assert len(data) >= 5, data
        n = 5 + struct.unpack(">H", data[3:5])[0]
        assert len(data) >= n, "a partial record"
        out.append((data[0], data[:n]))
        data = data[n:]
    return out


class _HandClient:
    """A client over memory BIOs and a raw socket, its handshake driven by
    hand (the subclasses): .received holds every byte the server sent."""

    def __init__(self, port, ctx):
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out,
                                server_hostname="localhost")
        self.raw = socket.create_connection(("127.0.0.1", port),
                                            timeout=IO_TIMEOUT)
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = b""

    def _fill(self):
        got = self.raw.recv(65536)
        assert got, "stud closed the connection"
        self.received += got
        self.inc.write(got)

    def _read(self, n):
        """n bytes of application data from the server."""
        back = b""
        while len(back) < n:
            try:
                back += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._fill()
        return back

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.raw.close()


class _Client13(_HandClient):
    """A TLS 1.3 client driven by hand: once made, its handshake is done on
    its side and .flight (its ChangeCipherSpec and Finished) is not sent
    yet. send_hello(sock, hello) sends the ClientHello instead of a
    sendall."""

    def __init__(self, port, ctx=None, send_hello=None):
        super().__init__(port, ctx or _tls13())
        try:
            while True:
                try:
                    self.tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    data = self.out.read()
                    if data and not self.received and send_hello:
                        send_hello(self.raw, data)
                    elif data:
                        self.raw.sendall(data)
                    self._fill()
        except BaseException:
            self.raw.close()
            raise
        self.flight = self.out.read()

    def echo(self, data):
        """Send the flight and data; returns as many bytes read back."""
        self.tls.write(data)
        self.raw.sendall(self.flight + self.out.read())
        return self._read(len(data))


# ---------------------------------------------------------------------------
# 1. Python's ssl, each key type
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["rsa", "ec", "p384"])
def test_python_client_echo_and_1mib(start_stud, backend, pems, key):
    s = _stud(start_stud, backend("echo"), pem=pems[key])
    workers = s.wait_workers(1)
    assert _echo_and_verified(s, _tls13(), pems[key])[0] == "TLSv1.3"
    _workers_unchanged(s, workers)


def test_finished_and_300kb_in_one_send(start_stud, backend):
    """The client's Finished followed at once by 300 kB of data, all in
    one send(): what follows the Finished reaches the backend intact."""
    s = _stud(start_stud, backend("echo"))
    data = os.urandom(300000)
    with _Client13(s.port) as c:
        assert c.echo(data) == data
    assert _conns(s, 1) == [(len(data), len(data), "full-stud")], s.stderr()


def _concurrent(start_stud, backend, make_ctx, n):
    """n clients of make_ctx(), 32 at a time, each with its own data, on
    two workers: all echoed, all stud's own handshakes."""
    s = _stud(start_stud, backend("echo"), "-n", "2")
    s.wait_workers(2)

    def one(i):
        data = os.urandom(2000) + str(i).encode()
        return echo_roundtrip(s.port, data, ctx=make_ctx()) == data
    with ThreadPoolExecutor(32) as pool:
        ok = list(pool.map(one, range(n)))
    assert all(ok), ok.count(False)
    assert _kinds(s, n) == ["full-stud"] * n, s.stderr()[-3000:]


def test_concurrent_handshakes(start_stud, backend):
    """300 TLS 1.3 clients, 32 at a time, each with its own data, on
    two workers."""
    _concurrent(start_stud, backend, _tls13, 300)


def _s_client_variant(*args):
    def run(port):
        rc, out = _s_client(port, "-tls1_3", *args)
        assert _outcome(rc, out)["ok"], out[-3000:]
        assert "No ALPN negotiated" in out, out[-3000:]
    return run


def _py_variant(setup):
    def run(port):
        ctx = _tls13()
        setup(ctx)
        with tls_connect(port, ctx=ctx) as c:
            c.sendall(REQUEST)
            assert recv_all(c, limit=1 << 16)[0].endswith(HTTP_BODY)
    return run


CLIENT_VARIANTS = {
    "no-ticket": _s_client_variant("-no_ticket"),
    "no-sni": _s_client_variant("-noservername"),
    "post-handshake-auth": _py_variant(
        lambda ctx: setattr(ctx, "post_handshake_auth", True)),
    # no --alpn-protos: the client's list is ignored (no ALPN in reply)
    "alpn-offered": _s_client_variant("-alpn", "h2,http/1.1"),
}


@pytest.mark.parametrize("variant", list(CLIENT_VARIANTS))
def test_client_variants(start_stud, backend, variant):
    s = _stud(start_stud, backend("http"))
    CLIENT_VARIANTS[variant](s.port)
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


SSL_OP_ENABLE_MIDDLEBOX_COMPAT = 0x00100000


@pytest.mark.parametrize("compat", [True, False], ids=["session-id",
                                                       "no-session-id"])
def test_change_cipher_spec_only_for_a_session_id(start_stud, backend,
                                                  compat):
    """RFC 8446, D.4: the server's ChangeCipherSpec (right after its
    ServerHello) only when the client sent a legacy session ID, which the
    ServerHello echoes."""
    s = _stud(start_stud, backend("echo"))
    ctx = _tls13()
    if not compat:
        ctx.options &= ~SSL_OP_ENABLE_MIDDLEBOX_COMPAT
    with _Client13(s.port, ctx) as c:
        types = [t for t, _ in _records(c.received)]
        assert types[0] == 0x16
        assert types.count(0x14) == (1 if compat else 0), types
        if compat:
            assert types[1] == 0x14, types
        sid = c.received[5 + 4 + 2 + 32:][:33]
        assert sid[0] == (32 if compat else 0), sid.hex()
        assert c.flight.startswith(CCS) == compat
        assert c.echo(b"compat\n") == b"compat\n"
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


BIG_KINDS = {6000: "full-stud", 14000: None, 40000: None}


@pytest.fixture(scope="module")
def big_pems(tmp_path_factory):
    """{size: pem} of self-signed RSA certificates made about size bytes
    long (DER) by their subjectAltName."""
    d = tmp_path_factory.mktemp("big")
    out = {}
    for size in BIG_KINDS:
        names = ",".join("DNS:n%05d.example.com" % i
                         for i in range(size // 22))
        key, crt = d / ("big%d.key" % size), d / ("big%d.crt" % size)
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 str(key), "-out", str(crt), "-days", "3", "-subj",
                 "/CN=localhost", "-addext",
                 "subjectAltName=DNS:localhost," + names, cwd=d)
        out[size] = d / ("big%d.pem" % size)
        out[size].write_bytes(crt.read_bytes() + key.read_bytes())
    return out


@pytest.mark.parametrize("size", list(BIG_KINDS))
def test_big_certificate(start_stud, backend, big_pems, size):
    """Certificates of 6, 14 and 40 kB: every record within the 16 KiB
    limit (+256 for TLS 1.3's expansion), the data flows. A Certificate
    message this path does not take (over about 8 kB here) is OpenSSL's."""
    s = _stud(start_stud, backend("echo"), pem=big_pems[size])
    with _Client13(s.port) as c:
        assert len(c.tls.getpeercert(binary_form=True)) > size * 9 // 10
        assert max(len(r) for _, r in _records(c.received)) <= \
            5 + 16384 + 256
        assert c.echo(b"big certificate\n") == b"big certificate\n"
    assert _kinds(s, 1) == [BIG_KINDS[size] or _kinds(s)[0]], s.stderr()


def test_reload_new_certificate(start_stud, backend, certs, tmp_path):
    """SIGHUP after the PEM file changed from RSA to ECDSA: new
    connections get the new certificate, signed by its key, from stud's
    path."""
    pem = tmp_path / "site.pem"
    shutil.copy(certs.rsa_pem, pem)
    s = _stud(start_stud, backend("echo"), pem=pem)
    for crt in (certs.rsa_crt, certs.ec_crt):
        if crt == certs.ec_crt:
            shutil.copy(certs.ec_pem, pem)
            _hup(s)
        ctx = ssl.create_default_context(cafile=str(crt))
        with tls_connect(s.port, ctx=ctx) as c:
            assert c.getpeercert(binary_form=True) == \
                ssl.PEM_cert_to_DER_cert(crt.read_text())
            c.sendall(b"reload\n")
            assert recv_exact(c, 7) == b"reload\n"
    assert _kinds(s, 2) == ["full-stud"] * 2, s.stderr()


def test_tls13_disabled(start_stud, backend):
    """--tls-protos=TLSv1.2: a TLS 1.3 client with an X25519 share gets
    TLS 1.2, from OpenSSL."""
    s = _stud(start_stud, backend("echo"), "--tls-protos=TLSv1.2")
    with tls_connect(s.port) as c:
        assert c.version() == "TLSv1.2"
        c.sendall(b"1.2\n")
        assert recv_exact(c, 4) == b"1.2\n"
    assert _kinds(s, 1) == ["full"], s.stderr()


# ---------------------------------------------------------------------------
# 2. suites and signature schemes; the same choices as OpenSSL's
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("suite", SUITES)
def test_each_suite(start_stud, backend, suite):
    s = _stud(start_stud, backend("http"))
    rc, out = _s_client(s.port, "-tls1_3", "-ciphersuites", suite)
    got = _outcome(rc, out)
    assert got["ok"] and got["cipher"] == suite, out[-3000:]
    assert got["group"] == "X25519, 253 bits", out[-3000:]
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


@pytest.mark.parametrize("key,sigalgs,sigtype,digest", [
    ("rsa", "rsa_pss_rsae_sha256", "RSA-PSS", "SHA256"),
    ("rsa", "rsa_pss_rsae_sha384", "RSA-PSS", "SHA384"),
    ("ec", "ecdsa_secp256r1_sha256", "ECDSA", "SHA256"),
    ("ec", "ecdsa_secp384r1_sha384:ecdsa_secp256r1_sha256", "ECDSA",
     "SHA256"),
    ("p384", "ecdsa_secp384r1_sha384", "ECDSA", "SHA384"),
])
def test_signature_schemes(start_stud, backend, pems, key, sigalgs, sigtype,
                           digest):
    s = _stud(start_stud, backend("http"), pem=pems[key])
    rc, out = _s_client(s.port, "-tls1_3", "-sigalgs", sigalgs)
    got = _outcome(rc, out)
    assert got["ok"], out[-3000:]
    assert (got["sigtype"], got["digest"]) == (sigtype, digest), out[-3000:]
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


def test_rsa_pss_sha512_first(start_stud, backend):
    """A client preferring rsa_pss_rsae_sha512: stud's path signs with
    SHA-256 or SHA-384 only, so it takes the next scheme offered, where
    OpenSSL would take SHA-512 (both are the client's to accept); a client
    offering SHA-512 alone goes to OpenSSL."""
    s = _stud(start_stud, backend("http"))
    got = [_outcome(*_s_client(s.port, "-tls1_3", "-sigalgs", sigalgs))
           for sigalgs in ("rsa_pss_rsae_sha512:rsa_pss_rsae_sha256",
                           "rsa_pss_rsae_sha512")]
    assert [(g["ok"], g["digest"]) for g in got] == [(True, "SHA256"),
                                                     (True, "SHA512")], got
    assert _kinds(s, 2) == ["full-stud", "full"], s.stderr()


SERVER_OPTS = {
    "default": [],
    "server-order": ["-O"],
    "suites": ["--ciphersuites=TLS_CHACHA20_POLY1305_SHA256:"
               "TLS_AES_128_GCM_SHA256"],
    "suites-server-order": ["-O", "--ciphersuites=TLS_CHACHA20_POLY1305_"
                            "SHA256:TLS_AES_128_GCM_SHA256"],
    "p256-first": ["--ecdh-curve=P-256:X25519"],
    "p256-only": ["--ecdh-curve=P-256"],
}
CLIENTS = {
    "default": [],
    "aes128-first": ["-ciphersuites", ":".join(SUITES)],
    "aes256-only": ["-ciphersuites", "TLS_AES_256_GCM_SHA384"],
    "sha384-first": ["-sigalgs", "rsa_pss_rsae_sha384:rsa_pss_rsae_sha256:"
                     "ecdsa_secp384r1_sha384:ecdsa_secp256r1_sha256"],
    "pkcs1-only": ["-sigalgs", "rsa_pkcs1_sha256"],
    "pss-pss-only": ["-sigalgs", "rsa_pss_pss_sha256"],
    "ecdsa-p256-only": ["-sigalgs", "ecdsa_secp256r1_sha256"],
    "ecdsa-p384-only": ["-sigalgs", "ecdsa_secp384r1_sha384"],
}


# Negotiation logic, compared in the default and shared-cache runs; under
# ASan the reader's memory safety is the unit test's and fuzz_hs13's job.
LOGIC_ONLY = pytest.mark.skipif(SANITIZED, reason="negotiation logic: "
                                "checked in the unsanitized runs")


@LOGIC_ONLY
@pytest.mark.parametrize("key", ["rsa", "ec"])
@pytest.mark.parametrize("opts", list(SERVER_OPTS))
def test_same_choices_as_openssl(start_stud, backend, pems, key, opts):
    """For each client, stud's path and OpenSSL's negotiate the same suite,
    group and signature scheme, or fail with the same alert; stud's own
    successes are full-stud when they use X25519 and a suite of its
    three."""
    be = backend("http")
    extra = SERVER_OPTS[opts]
    ours = _stud(start_stud, be, *extra, pem=pems[key])
    theirs = _stud(start_stud, be, "--tls13-handshake=openssl", *extra,
                   pem=pems[key])
    expected_kinds = []
    for name, args in CLIENTS.items():
        results = [_outcome(*_s_client(s.port, "-tls1_3", *args))
                   for s in (ours, theirs)]
        assert results[0] == results[1], (name, results)
        if results[0]["ok"]:
            ours_too = (results[0]["group"].startswith("X25519")
                        and results[0]["cipher"] in SUITES)
            expected_kinds.append("full-stud" if ours_too else "full")
        else:
            expected_kinds.append(None)
    got = _kinds(ours, len(CLIENTS))
    assert len(got) == len(CLIENTS), ours.stderr()
    assert [k if e else None for k, e in zip(got, expected_kinds)] == \
        expected_kinds, list(zip(CLIENTS, got))
    assert set(_kinds(theirs, len(CLIENTS))) <= {"full", "none"}


def test_configured_suite_it_cannot_do(start_stud, backend):
    """--ciphersuites enabling TLS_AES_128_CCM_SHA256, which this path does
    not do: a client preferring it gets it (from OpenSSL, as before), not
    AES-128-GCM; a client preferring GCM is stud's."""
    ccm_gcm = "TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256"
    s = _stud(start_stud, backend("http"), "--ciphersuites=" + ccm_gcm)
    got = [_outcome(*_s_client(s.port, "-tls1_3", "-ciphersuites", suites))
           for suites in (ccm_gcm, "TLS_AES_128_GCM_SHA256")]
    assert [(g["ok"], g["cipher"]) for g in got] == [
        (True, "TLS_AES_128_CCM_SHA256"), (True, "TLS_AES_128_GCM_SHA256")]
    assert _kinds(s, 2) == ["full", "full-stud"], s.stderr()


# ---------------------------------------------------------------------------
# 3. resumption (by OpenSSL) of the tickets stud issues
# ---------------------------------------------------------------------------
def _ticket_resumes(start_stud, backend, ctx):
    """A ticket of stud's handshake, resumed three times by OpenSSL."""
    s = _stud(start_stud, backend("http"))
    session, reused = _request(ctx, s.port)
    assert not reused and session.has_ticket
    for _ in range(3):
        assert _request(ctx, s.port, session)[1]
    assert _kinds(s, 4) == ["full-stud"] + ["resumed"] * 3, s.stderr()


def test_ticket_resumes(start_stud, backend):
    _ticket_resumes(start_stud, backend, _ctx())


@pytest.mark.parametrize("suite", SUITES)
def test_ticket_of_each_suite_resumes(start_stud, backend, tmp_path, suite):
    """openssl s_client -sess_out then -sess_in: the resumption secret of
    each suite (SHA-384 for AES-256) is the one OpenSSL expects."""
    s = _stud(start_stud, backend("http"))
    sess = tmp_path / "sess.pem"
    args = ["-tls1_3", "-ciphersuites", suite]
    rc, out = _s_client(s.port, *args, "-sess_out", str(sess))
    assert rc == 0 and "New, TLSv1.3, Cipher is " + suite in out, out[-3000:]
    rc, out = _s_client(s.port, *args, "-sess_in", str(sess))
    assert rc == 0 and "Reused, TLSv1.3, Cipher is " + suite in out, \
        out[-3000:]
    assert "200 OK" in out
    assert _kinds(s, 2) == ["full-stud", "resumed"], s.stderr()


def test_ticket_like_openssls(start_stud, backend, tmp_path):
    """The session a ticket of stud's path makes on the client (lifetime,
    suite, early data) is the one OpenSSL's makes, and it resumes, or not,
    as OpenSSL's does when the client then asks for the same name, another
    one or none."""
    be = backend("http")
    seen = {}
    for who in ("stud", "openssl"):
        s = _stud(start_stud, be, "--tls13-handshake=" + who)
        sess = tmp_path / (who + ".sess")
        rc, out = _s_client(s.port, "-tls1_3", "-servername", "a.test",
                            "-sess_out", str(sess))
        assert rc == 0, out[-3000:]
        fields = [re.findall(rx, out) for rx in (
            r"lifetime hint: (\d+)", r"Max Early Data: (\d+)",
            r"Cipher    : (\S+)", r"Resumption PSK: (\S+)")]
        fields[3] = [len(x) for x in fields[3]]
        reused = []
        for name in (["-servername", "a.test"], ["-servername", "b.test"],
                     ["-noservername"]):
            rc, out = _s_client(s.port, "-tls1_3", "-sess_in", str(sess),
                                *name)
            assert rc == 0 and "200 OK" in out, out[-3000:]
            reused.append("Reused, TLSv1.3" in out)
        seen[who] = (fields, reused)
        assert _kinds(s, 4)[0] == ("full-stud" if who == "stud" else "full")
    assert seen["stud"] == seen["openssl"], seen
    assert seen["stud"][1][0], "not resumed with the same name"


def _tickets_on_either_worker(start_stud, backend, ctx):
    """A ticket of stud's handshake, resumed by OpenSSL 20 times on two
    workers."""
    s = _stud(start_stud, backend("http"), "-n", "2")
    s.wait_workers(2)
    session, _ = _request(ctx, s.port)
    resumed = [_request(ctx, s.port, session)[1] for _ in range(20)]
    assert all(resumed), resumed
    assert _kinds(s, 21) == ["full-stud"] + ["resumed"] * 20, s.stderr()


def test_tickets_resume_on_either_worker(start_stud, backend):
    _tickets_on_either_worker(start_stud, backend, _ctx())


def _ticket_key_file_shared(start_stud, backend, tmp_path, ctx):
    """Two instances with one --ticket-key-file resume each other's
    tickets of stud's handshake; a third with another key does not."""
    be = backend("http")
    k1, k2 = _key_file(tmp_path, "k1"), _key_file(tmp_path, "k2")
    a = _stud(start_stud, be, "--ticket-key-file=%s" % k1)
    b = _stud(start_stud, be, "--ticket-key-file=%s" % k1)
    c = _stud(start_stud, be, "--ticket-key-file=%s" % k2)
    session, reused = _request(ctx, a.port)
    assert not reused and session.has_ticket
    assert _request(ctx, b.port, session)[1], "same key file: resumed"
    assert not _request(ctx, c.port, session)[1], "other key: full"
    assert _kinds(a, 1) == ["full-stud"]
    assert _kinds(b, 1) == ["resumed"]
    # a ClientHello offering a ticket is OpenSSL's
    assert _kinds(c, 1) == ["full"]


def test_ticket_key_file_shared_by_two_instances(start_stud, backend,
                                                 tmp_path):
    _ticket_key_file_shared(start_stud, backend, tmp_path, _ctx())


# ---------------------------------------------------------------------------
# 4. --tls13-tickets
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("arg,want", [(None, 1), ("0", 0), ("2", 2)])
def test_tickets_sent(start_stud, backend, arg, want):
    extra = [] if arg is None else ["--tls13-tickets=" + arg]
    s = _stud(start_stud, backend("http"), *extra)
    rc, out = _s_client(s.port, "-tls1_3", "-msg")
    assert rc == 0 and "200 OK" in out, out[-3000:]
    tickets = re.findall(r"^<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], "
                         r"NewSessionTicket$", out, re.M)
    assert len(tickets) == want, out[-3000:]
    if want:
        # Python keeps the last ticket (nonce want - 1): it resumes
        ctx = _ctx()
        session, _ = _request(ctx, s.port)
        assert _request(ctx, s.port, session)[1]
    assert _kinds(s, 3 if want else 1) == \
        ["full-stud"] * (2 if want else 1) + (["resumed"] if want else []), \
        s.stderr()


def test_no_tickets_no_resumption(start_stud, backend):
    s = _stud(start_stud, backend("http"), "--tls13-tickets=0")
    ctx = _ctx()
    session, _ = _request(ctx, s.port)
    assert not session.has_ticket
    assert not _request(ctx, s.port, session)[1]
    assert _kinds(s, 2) == ["full-stud"] * 2, s.stderr()


# ---------------------------------------------------------------------------
# 5. what goes to OpenSSL still works (and says full)
# ---------------------------------------------------------------------------
def _py(maximum=None, alpn=None):
    def run(port, tmp_path):
        ctx = client_context(maximum_version=maximum)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        with tls_connect(port, ctx=ctx) as c:
            c.sendall(REQUEST)
            got = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got += b
            assert got.endswith(HTTP_BODY), got
            return c.version(), c.selected_alpn_protocol()
    return run


def _openssl_groups(groups, want_group, hellos=1):
    def run(port, tmp_path):
        rc, out = _s_client(port, "-tls1_3", "-groups", groups, "-msg")
        got = _outcome(rc, out)
        assert got["ok"] and got["group"].startswith(want_group), out[-3000:]
        assert out.count(", ClientHello") == hellos, out[-3000:]
        return got["group"]
    return run


def _openssl_ok(port, *args):
    rc, out = _s_client(port, *args)
    assert _outcome(rc, out)["ok"], out[-3000:]


def _gnutls_default(port, tmp_path):
    """gnutls-cli's own priorities (its first key share is P-256)."""
    if not which("gnutls-cli"):
        pytest.skip("gnutls-cli not installed")
    r, log = _gnutls(port, REQUEST, tmp_path)
    assert r.stdout.endswith(HTTP_BODY), log[-2000:]


FALLBACKS = {
    "tls13-handshake=openssl": (["--tls13-handshake=openssl"], _py()),
    "alpn": (["--alpn-protos=h2,http/1.1"], _py(alpn=["h2", "http/1.1"])),
    "alpn-client-without": (["--alpn-protos=h2,http/1.1"], _py()),
    "client-verify": (["--client-verify=optional",
                       "--client-verify-ca=%(ca)s"], _py()),
    "write-proxy-v2": (["--write-proxy-v2"], _py()),
    "sni-nomatch-abort": (["--sni-nomatch-abort"], _py()),
    "record-layer=openssl": (["--record-layer=openssl"], _py()),
    "client-p256": ([], _openssl_groups("P-256", "ECDH, prime256v1")),
    "client-p256-x25519": ([], _openssl_groups("P-256:X25519",
                                               "ECDH, prime256v1")),
    "hello-retry": (["--ecdh-curve=X25519"],
                    _openssl_groups("P-256:X25519", "X25519", hellos=2)),
    "server-without-x25519": (["--ecdh-curve=P-256"],
                              _openssl_groups("X25519:P-256",
                                              "ECDH, prime256v1", hellos=2)),
    "tls1.2-client": (["--tls12-handshake=openssl"],
                      _py(maximum=ssl.TLSVersion.TLSv1_2)),
    "max-fragment-length": ([], lambda port, tmp_path: _openssl_ok(
        port, "-tls1_3", "-maxfraglen", "1024")),
    "gnutls-default": ([], _gnutls_default),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_fallback_to_openssl(start_stud, backend, certs, tmp_path, case):
    extra, client = FALLBACKS[case]
    extra = [a % {"ca": certs.rsa_crt} for a in extra]
    s = _stud(start_stud, backend("http"), *extra)
    got = client(s.port, tmp_path)
    if case == "alpn":
        assert got == ("TLSv1.3", "h2")
    assert _kinds(s, 1) == ["full"], s.stderr()


def test_ocsp_staple_asked_goes_to_openssl(stud_args, backend, pki,
                                           tmp_path):
    """A client asking for a staple that exists: OpenSSL (it staples);
    not asking, or no staple configured: stud's path."""
    be = backend("http")
    pem = _ocsp_copy(pki, tmp_path, "ocsp_a", pki.ocsp_good["ocsp_a"])
    bare = _ocsp_copy(pki, tmp_path, "ocsp_b")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--log-level=2", bare, pem)
    stapled, out = _staple(s.port, None, ["-tls1_3"])
    assert stapled and "Cert Status: good" in out, out[-3000:]
    rc, out = s_client_full(s.port, "-tls1_3")
    assert rc == 0 and "OCSP response" not in out, out[-3000:]
    stapled, out = _staple(s.port, "ocsp-b.test", ["-tls1_3"])
    assert not stapled, out[-3000:]
    assert _kinds(s, 3) == ["full", "full-stud", "full-stud"], s.stderr()


# ---------------------------------------------------------------------------
# 6. other implementations
# ---------------------------------------------------------------------------
GNUTLS_X25519 = ("NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:"
                 "+GROUP-SECP256R1")


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_gnutls_x25519_first(start_stud, backend, pems, tmp_path, key):
    """gnutls-cli with X25519 first, then --resume with its ticket."""
    if not which("gnutls-cli"):
        pytest.skip("gnutls-cli not installed (Debian: gnutls-bin)")
    s = _stud(start_stud, backend("http"), pem=pems[key])
    r, log = _gnutls(s.port, REQUEST, tmp_path, "--priority", GNUTLS_X25519)
    assert r.stdout.endswith(HTTP_BODY), log[-2000:]
    assert _kinds(s, 1) == ["full-stud"], s.stderr()
    r, log = _gnutls(s.port, REQUEST, tmp_path, "--priority", GNUTLS_X25519,
                     "--resume")
    assert "This is a resumed session" in log, log[-3000:]
    assert _kinds(s, 3)[1:] == ["full-stud", "resumed"], s.stderr()


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_curl(start_stud, backend, pems, key):
    if not which("curl"):
        pytest.skip("curl not installed")
    s = _stud(start_stud, backend("http"), pem=pems[key])
    r = subprocess.run([which("curl"), "-sS", "--tlsv1.3", "--max-time",
                        "15", "--cacert", str(pems[key]),
                        "https://localhost:%d/" % s.port],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == HTTP_BODY, r.stderr
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


# ---------------------------------------------------------------------------
# 7. SNI
# ---------------------------------------------------------------------------
def _sni_picks(stud_args, backend, pki, version, plain, kinds):
    """www (RSA), dual_ec (ECDSA) and a default (RSA), each with its CA in
    the file: a verifying client of version gets the certificate of the
    name it asks for, an unknown name or none (plain clients) the default;
    the log's handshake kinds are kinds, in that order."""
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--log-level=2", pki.pem["www"], pki.pem["dual_ec"],
                  pki.pem["default"])
    verify = ssl.create_default_context(cafile=str(pki.ca_crt))
    verify.minimum_version = verify.maximum_version = version
    cases = [("www.example.com", "www", verify),
             ("dual.test", "dual_ec", verify),
             ("default.test", "default", verify),
             ("unknown.test", "default", plain()),
             (None, "default", plain())]
    for name, want, ctx in cases:
        with tls_connect(s.port, ctx=ctx, server_hostname=name) as c:
            assert c.version() == version.name.replace("v1_", "v1.")
            assert c.getpeercert(binary_form=True) == pki.der[want], name
            c.sendall(b"sni\n")
            assert recv_exact(c, 4) == b"sni\n"
    assert _kinds(s, len(cases)) == kinds, s.stderr()


def test_sni_picks_the_certificate(stud_args, backend, pki):
    _sni_picks(stud_args, backend, pki, ssl.TLSVersion.TLSv1_3, _tls13,
               ["full-stud"] * 5)


def _chain_like_openssl(stud_args, backend, pki, option, handshake):
    """A PEM holding the certificate and its CA: the Certificate message
    of stud's handshake (option, e.g. --tls13-handshake) carries both, as
    OpenSSL's does; handshake(port, *s_client args) -> (ok, output)."""
    be = backend("http")
    chains = []
    for who in ("stud", "openssl"):
        s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                      "--log-level=2", option + "=" + who, pki.pem["www"])
        ok, out = handshake(s.port, "-showcerts", "-servername",
                            "www.example.com")
        assert ok, out[-3000:]
        chains.append((re.findall(r"^ ?\d+ s:(.*)$", out, re.M),
                       re.findall(r"-----BEGIN CERTIFICATE-----[^-]+", out)))
        assert _kinds(s, 1) == ["full-stud" if who == "stud" else "full"]
    assert len(chains[0][1]) == 2, chains[0][0]
    assert chains[0] == chains[1]


def test_chain_sent_like_openssl(stud_args, backend, pki):
    def handshake(port, *args):
        rc, out = _s_client(port, "-tls1_3", *args)
        return _outcome(rc, out)["ok"], out
    _chain_like_openssl(stud_args, backend, pki, "--tls13-handshake",
                        handshake)


def test_rsa_and_ecdsa_for_one_name(stud_args, backend, pki):
    """Two certificates for one name (RSA and ECDSA) make a context this
    path does not take: OpenSSL picks by the client's signature schemes."""
    be = backend("http")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--log-level=2", pki.pem["dual_rsa"], pki.pem["dual_ec"],
                  pki.pem["default"])
    for sigalgs, want in (("rsa_pss_rsae_sha256", "dual-rsa"),
                          ("ecdsa_secp256r1_sha256", "dual-ec")):
        rc, out = _s_client(s.port, "-tls1_3", "-servername", "dual.test",
                            "-sigalgs", sigalgs)
        assert _outcome(rc, out)["ok"], out[-3000:]
        assert re.search(r"^subject=CN = %s$" % want, out, re.M), out[-3000:]
    assert _kinds(s, 2) == ["full", "full"], s.stderr()


# ---------------------------------------------------------------------------
# 8. hostile clients
# ---------------------------------------------------------------------------
def _split_tcp(sock, hello):
    """The ClientHello record in three TCP segments, 50 ms apart."""
    for a, b in ((0, 3), (3, 60), (60, len(hello))):
        sock.sendall(hello[a:b])
        time.sleep(0.05)


def _split_records(sock, hello):
    """The ClientHello message cut across two handshake records."""
    msg = hello[5:]
    sock.sendall(records(msg[:40]) + records(msg[40:]))


@pytest.mark.parametrize("how,kind", [(_split_tcp, "full-stud"),
                                      (_split_records, "full")],
                         ids=["tcp-segments", "two-records"])
def test_split_hello(start_stud, backend, how, kind):
    """A ClientHello record that arrives in pieces is still stud's; one
    split over two records goes to OpenSSL. Both work."""
    s = _stud(start_stud, backend("echo"))
    with _Client13(s.port, send_hello=how) as c:
        assert c.echo(b"after a split hello") == b"after a split hello"
    assert _kinds(s, 1) == [kind], s.stderr()


def test_finished_never_sent(start_stud, backend):
    """A client that reads the server's flight and then says nothing is
    closed at --ssl-handshake-timeout, as during OpenSSL's handshakes."""
    s = _stud(start_stud, backend("echo"), "--ssl-handshake-timeout=1")
    with _Client13(s.port) as c:
        t0 = time.monotonic()
        wait_closed(c.raw, timeout=5.0)
        assert time.monotonic() - t0 > 0.5
    assert wait_until(lambda: "close=handshake timeout" in s.stderr(), 5.0), \
        s.stderr()


def test_finished_byte_by_byte(start_stud, backend):
    """The client's ChangeCipherSpec and Finished one byte per segment."""
    s = _stud(start_stud, backend("echo"))
    with _Client13(s.port) as c:
        flight, c.flight = c.flight, b""
        for i in range(len(flight)):
            c.raw.sendall(flight[i:i + 1])
            time.sleep(0.005)
        assert c.echo(b"dribbled") == b"dribbled"
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


INSTEAD_OF_FINISHED = {
    "garbage-record": lambda fin: b"\x17\x03\x03\x00\x32" + os.urandom(50),
    "ccs-then-garbage": lambda fin: (CCS + b"\x17\x03\x03\x00\x32"
                                     + os.urandom(50)),
    "tampered-finished": lambda fin: fin[:-1] + bytes([fin[-1] ^ 1]),
    "plaintext-finished": lambda fin: (b"\x16\x03\x03\x00\x24\x14\x00\x00\x20"
                                       + os.urandom(32)),
    "fatal-alert": lambda fin: b"\x15\x03\x03\x00\x02\x02\x28",
    # content type 0 cannot start a record: no waiting for more bytes
    "garbage": lambda fin: b"\x00" + os.urandom(199),
}


def test_garbage_instead_of_finished(guarded):
    """The server's flight read, then anything but a valid Finished (sent
    without our EOF): stud closes the connection within 5 s; the worker
    keeps its pid and its descriptors, a legitimate client is served."""
    g = guarded()

    def attack():
        for name, make in INSTEAD_OF_FINISHED.items():
            with _Client13(g.s.port) as c:
                fin = [r for t, r in _records(c.flight) if t == 0x17][0]
                c.raw.sendall(make(fin))
                try:
                    wait_closed(c.raw, timeout=5.0)
                except AssertionError as e:
                    raise AssertionError("%s: %s" % (name, e))
        # a Finished record cut short, then EOF
        with _Client13(g.s.port) as c:
            c.raw.sendall(c.flight[:-10])
            c.raw.shutdown(socket.SHUT_WR)
            wait_closed(c.raw, timeout=5.0)

    g.run(attack)


def test_hello_then_eof_or_reset(guarded):
    """A ClientHello and then EOF at once, EOF after the server's first
    bytes, or a reset (SO_LINGER 0) after them: stud keeps serving."""
    g = guarded()
    hello = client_hello()

    def attack():
        for end in ("eof", "eof-after-reply", "reset-after-reply", "close"):
            raw = socket.create_connection(("127.0.0.1", g.s.port),
                                           timeout=10)
            try:
                raw.sendall(hello)
                if end == "close":
                    continue
                if end.endswith("after-reply"):
                    assert raw.recv(5)[:1] == b"\x16"
                if end.startswith("reset"):
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
                    continue
                raw.shutdown(socket.SHUT_WR)
                wait_closed(raw, timeout=5.0)
            finally:
                raw.close()

    g.run(attack)


# -- odd ClientHellos: answered as OpenSSL answers them ---------------------
HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
EXT_SNI, EXT_GROUPS, EXT_SIGALGS, EXT_VERSIONS = 0, 10, 13, 43
EXT_PSK_MODES, EXT_KEY_SHARE, EXT_SIGALGS_CERT, EXT_PADDING = 45, 51, 50, 21
X25519 = b"\x00\x1d"


def _vec(n, data):
    """data with its n-byte length in front."""
    return len(data).to_bytes(n, "big") + data


def _parse_hello(rec):
    """Python's ClientHello record (one record) as a dict of its fields;
    exts is a list of [type, data]."""
    body = rec[9:]
    h = {"version": body[:2], "random": body[2:34]}
    p = 34
    h["sid"] = body[p + 1:p + 1 + body[p]]
    p += 1 + body[p]
    n = int.from_bytes(body[p:p + 2], "big")
    h["suites"] = body[p + 2:p + 2 + n]
    p += 2 + n
    h["comp"] = body[p + 1:p + 1 + body[p]]
    p += 3 + body[p]
    h["exts"] = []
    while p < len(body):
        t, n = struct.unpack(">HH", body[p:p + 4])
        h["exts"].append([t, body[p + 4:p + 4 + n]])
        p += 4 + n
    h["tail"] = b""
    return h


def _build_hello(h):
    exts = b"".join(struct.pack(">H", t) + _vec(2, d) for t, d in h["exts"])
    body = (h["version"] + h["random"] + _vec(1, h["sid"])
            + _vec(2, h["suites"]) + _vec(1, h["comp"]) + _vec(2, exts)
            + h["tail"])
    msg = b"\x01" + _vec(3, body)
    assert len(msg) <= 16384, "one record"
    return records(msg)


def _set_ext(h, t, data):
    """Replace extension t (appended if absent); data None removes it."""
    keep = [e for e in h["exts"] if e[0] != t]
    if data is not None:
        at = [e[0] for e in h["exts"]].index(t) if any(
            e[0] == t for e in h["exts"]) else len(keep)
        keep.insert(at, [t, data])
    h["exts"] = keep


def _sni(*names):
    return _vec(2, b"".join(b"\x00" + _vec(2, n) for n in names))


def _shares(*entries):
    return _vec(2, b"".join(g + _vec(2, k) for g, k in entries))


def _dup_key_share(h):
    h["exts"].append([t for t in h["exts"] if t[0] == EXT_KEY_SHARE][0])


def _unknown_exts(h):
    h["exts"].insert(0, [0x0a0a, b""])                # GREASE values
    h["exts"].insert(3, [0xfafa, b"\x00"])


def _mutate(change):
    def make(hello):
        h = _parse_hello(hello)
        change(h)
        return _build_hello(h)
    return make


LONG_NAME = b".".join([b"a" * 63] * 4)            # 255 bytes
HELLOS = {
    "unchanged": lambda hello: hello,
    "sni-255": _mutate(lambda h: _set_ext(h, EXT_SNI, _sni(LONG_NAME))),
    "sni-300": _mutate(lambda h: _set_ext(
        h, EXT_SNI, _sni(LONG_NAME + b"." + b"b" * 44))),
    "sni-5000": _mutate(lambda h: _set_ext(
        h, EXT_SNI, _sni(b".".join([b"c" * 63] * 79)))),
    "sni-empty": _mutate(lambda h: _set_ext(h, EXT_SNI, _sni(b""))),
    "sni-nul": _mutate(lambda h: _set_ext(h, EXT_SNI, _sni(b"local\0host"))),
    "sni-two-names": _mutate(lambda h: _set_ext(
        h, EXT_SNI, _sni(b"localhost", b"other.test"))),
    "sni-overrun": _mutate(lambda h: _set_ext(
        h, EXT_SNI, b"\x00\x0c\x00\x00\x20localhost")),
    "key-share-31": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, _shares((X25519, os.urandom(31))))),
    "key-share-33": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, _shares((X25519, os.urandom(33))))),
    "key-share-zero": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, _shares((X25519, bytes(32))))),
    "key-share-x25519-twice": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, _shares((X25519, os.urandom(32)),
                                  (X25519, os.urandom(32))))),
    "key-share-then-p256": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, _shares((X25519, os.urandom(32)),
                                  (b"\x00\x17", b"\x04" + os.urandom(64))))),
    "key-share-overrun": _mutate(lambda h: _set_ext(
        h, EXT_KEY_SHARE, b"\x00\x40\x00\x1d\x00\x20" + os.urandom(32))),
    "key-share-empty": _mutate(lambda h: _set_ext(h, EXT_KEY_SHARE,
                                                  b"\x00\x00")),
    "key-share-missing": _mutate(lambda h: _set_ext(h, EXT_KEY_SHARE, None)),
    "groups-without-x25519": _mutate(lambda h: _set_ext(
        h, EXT_GROUPS, _vec(2, b"\x00\x17\x00\x18"))),
    "groups-missing": _mutate(lambda h: _set_ext(h, EXT_GROUPS, None)),
    "sigalgs-missing": _mutate(lambda h: _set_ext(h, EXT_SIGALGS, None)),
    "sigalgs-empty": _mutate(lambda h: _set_ext(h, EXT_SIGALGS, b"\x00\x00")),
    "sigalgs-odd": _mutate(lambda h: _set_ext(h, EXT_SIGALGS,
                                              b"\x00\x03\x08\x04\x08")),
    "sigalgs-pkcs1-only": _mutate(lambda h: _set_ext(
        h, EXT_SIGALGS, _vec(2, b"\x04\x01\x05\x01"))),
    "sigalgs-cert-pss-pss": _mutate(lambda h: _set_ext(
        h, EXT_SIGALGS_CERT, _vec(2, b"\x08\x09"))),
    "versions-only-1.2": _mutate(lambda h: _set_ext(
        h, EXT_VERSIONS, _vec(1, b"\x03\x03"))),
    "versions-missing": _mutate(lambda h: _set_ext(h, EXT_VERSIONS, None)),
    "versions-odd": _mutate(lambda h: _set_ext(h, EXT_VERSIONS,
                                               b"\x03\x03\x04\x03")),
    "psk-modes-missing": _mutate(lambda h: _set_ext(h, EXT_PSK_MODES, None)),
    "early-data-without-psk": _mutate(lambda h: _set_ext(h, 42, b"")),
    "duplicate-key-share": _mutate(_dup_key_share),
    "unknown-extensions": _mutate(_unknown_exts),
    "padding-to-15k": _mutate(lambda h: _set_ext(h, EXT_PADDING,
                                                 bytes(15000))),
    "compression-deflate": _mutate(lambda h: h.update(comp=b"\x01\x00")),
    "compression-none": _mutate(lambda h: h.update(comp=b"")),
    "no-tls13-suite": _mutate(lambda h: h.update(suites=b"\xc0\x2f")),
    "suites-odd": _mutate(lambda h: h.update(suites=b"\x13\x01\x13")),
    "chacha-only": _mutate(lambda h: h.update(suites=b"\x13\x03")),
    "session-id-33": _mutate(lambda h: h.update(sid=bytes(33))),
    "legacy-version-tls1.3": _mutate(lambda h: h.update(
        version=b"\x03\x04")),
    "trailing-bytes": _mutate(lambda h: h.update(tail=b"\x00\x00\x00")),
    "hello-then-app-data": lambda hello: (hello + b"\x17\x03\x03\x00\x20"
                                          + os.urandom(32)),
    "record-version-0300": lambda hello: hello[:1] + b"\x03\x00" + hello[3:],
}


def _first_reply(port, data, timeout=3.0):
    """What the server first answers to data: ("ServerHello", suite),
    ("HelloRetryRequest", suite), ("alert", description), ("closed",),
    ("silent",) or ("other", bytes)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=timeout) as sock:
        try:
            sock.sendall(data)
            while len(got) < 5 or len(got) < 5 + struct.unpack(
                    ">H", got[3:5])[0]:
                b = sock.recv(65536)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
        except socket.timeout:
            return ("silent",)
    if len(got) < 7:
        return ("closed",)
    if got[0] == 0x15:
        return ("alert", got[6])
    if got[0] == 0x16 and got[5] == 2:
        p = 43 + 1 + got[43]
        kind = ("HelloRetryRequest" if got[11:43] == HRR_RANDOM
                else "ServerHello")
        return (kind, got[p:p + 2].hex())
    return ("other", got[:12])


@LOGIC_ONLY
@pytest.mark.parametrize("case", list(HELLOS))
def test_odd_hello_answered_like_openssl(start_stud, backend, case):
    """A ClientHello altered in one way (Python's, X25519 first): stud's
    default answers as --tls13-handshake=openssl does (the same first
    record: ServerHello with the same suite, HelloRetryRequest, or the
    same alert), and its worker lives on."""
    be = backend("echo")
    ours = _stud(start_stud, be)
    theirs = _stud(start_stud, be, "--tls13-handshake=openssl")
    workers = ours.wait_workers(1)
    hello = HELLOS[case](client_hello())
    got = [_first_reply(s.port, hello) for s in (ours, theirs)]
    assert got[0] == got[1], ("stud, openssl", got)
    _workers_unchanged(ours, workers)
    with tls_connect(ours.port, ctx=_tls13()) as c:
        c.sendall(b"next\n")
        assert recv_exact(c, 5) == b"next\n"


# -- the client's Finished, re-encrypted with keys from its key log ----------
_crypto = ctypes.CDLL("libcrypto.so.3")
for _f in ("EVP_CIPHER_CTX_new", "EVP_aes_128_gcm", "EVP_aes_256_gcm",
           "EVP_chacha20_poly1305"):
    getattr(_crypto, _f).restype = ctypes.c_void_p
_crypto.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
_crypto.EVP_EncryptInit_ex.argtypes = [ctypes.c_void_p] * 5
_crypto.EVP_EncryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_int),
                                      ctypes.c_char_p, ctypes.c_int]
_crypto.EVP_EncryptFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.POINTER(ctypes.c_int)]
_crypto.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                        ctypes.c_int, ctypes.c_char_p]
AEADS = {  # suite: (EVP cipher, key length, hash)
    "TLS_AES_128_GCM_SHA256": ("EVP_aes_128_gcm", 16, hashlib.sha256),
    "TLS_AES_256_GCM_SHA384": ("EVP_aes_256_gcm", 32, hashlib.sha384),
    "TLS_CHACHA20_POLY1305_SHA256": ("EVP_chacha20_poly1305", 32,
                                     hashlib.sha256),
}


def _seal(suite, key, nonce, aad, plain):
    """AEAD encryption with libcrypto (ciphertext + 16-byte tag)."""
    ctx = _crypto.EVP_CIPHER_CTX_new()
    try:
        cipher = getattr(_crypto, AEADS[suite][0])()
        n = ctypes.c_int()
        out = ctypes.create_string_buffer(len(plain) + 16)
        assert _crypto.EVP_EncryptInit_ex(ctx, cipher, None, key, nonce) == 1
        assert _crypto.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), aad,
                                         len(aad)) == 1
        assert _crypto.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), plain,
                                         len(plain)) == 1
        assert _crypto.EVP_EncryptFinal_ex(ctx, None, ctypes.byref(n)) == 1
        tag = ctypes.create_string_buffer(16)
        assert _crypto.EVP_CIPHER_CTX_ctrl(ctx, 0x10, 16, tag) == 1
        return out.raw[:len(plain)] + tag.raw
    finally:
        _crypto.EVP_CIPHER_CTX_free(ctx)


def _expand_label(hash_, secret, label, length):
    """HKDF-Expand-Label (RFC 8446, 7.1) with an empty context."""
    info = (struct.pack(">H", length) + bytes([6 + len(label)]) + b"tls13 "
            + label + b"\x00")
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_).digest()
        out += block
        i += 1
    return out[:length]


class _Keys:
    """Record protection from one traffic secret."""

    def __init__(self, suite, secret):
        _, keylen, self.hash = AEADS[suite]
        self.suite = suite
        self.key = _expand_label(self.hash, secret, b"key", keylen)
        self.iv = _expand_label(self.hash, secret, b"iv", 12)

    def _nonce(self, seq):
        return bytes(a ^ b for a, b in zip(self.iv, seq.to_bytes(12, "big")))

    def seal(self, seq, ctype, content, pad=0):
        inner = content + bytes([ctype]) + bytes(pad)
        aad = b"\x17\x03\x03" + struct.pack(">H", len(inner) + 16)
        return aad + _seal(self.suite, self.key, self._nonce(seq), aad, inner)

    def open(self, seq, record):
        """(content type, content) of a record sealed at seq, or None. The
        AEADs are stream ciphers: the plaintext is the ciphertext XOR the
        sealing of zeros, and it must seal back to the same record."""
        body = record[5:-16]
        zeros = _seal(self.suite, self.key, self._nonce(seq), record[:5],
                      bytes(len(body)))
        inner = bytes(a ^ b for a, b in zip(body, zeros)).rstrip(b"\x00")
        if not inner or self.seal(seq, inner[-1], inner[:-1]) != record:
            return None
        return inner[-1], inner[:-1]


def _secrets(keylog):
    """{label: secret} from an NSS key log of one connection."""
    out = {}
    for line in keylog.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = bytes.fromhex(parts[2])
    return out


def _server_alert(keys, received):
    """The alert among the records the server sent under its application
    keys (its tickets first), or None."""
    seq = 0
    for ctype, rec in _records(received):
        if ctype != 0x17:
            continue
        opened = keys.open(seq, rec)
        if opened is None:
            continue            # a record of the handshake keys
        seq += 1
        if opened[0] == 0x15:
            return opened[1]
    return None


def _wrong(msg):
    return msg[:4] + bytes([msg[4] ^ 1]) + msg[5:]


# how the client's last flight is made from its Finished message, with hs
# its handshake keys: the records sent, and whether the server takes it
FINISHED_FLIGHTS = {
    "right": (lambda hs, msg: CCS + hs.seal(0, 0x16, msg), True),
    "wrong-verify-data": (lambda hs, msg: CCS + hs.seal(0, 0x16, _wrong(msg)),
                          False),
    # RFC 8446, 5.1: a handshake message may span records; 5.4: padding
    "split-in-two-records": (lambda hs, msg: CCS + hs.seal(0, 0x16, msg[:9])
                             + hs.seal(1, 0x16, msg[9:]), True),
    "padded": (lambda hs, msg: CCS + hs.seal(0, 0x16, msg, pad=200), True),
    # the ChangeCipherSpec is optional; a second one is accepted by OpenSSL
    "no-ccs": (lambda hs, msg: hs.seal(0, 0x16, msg), True),
    "two-ccs": (lambda hs, msg: CCS + CCS + hs.seal(0, 0x16, msg), True),
    # the client's fatal alert instead (handshake_failure)
    "alert-type": (lambda hs, msg: CCS + hs.seal(0, 0x15, b"\x02\x28"),
                   False),
    "app-data-type": (lambda hs, msg: CCS + hs.seal(0, 0x17, msg), False),
    "finished-twice": (lambda hs, msg: CCS + hs.seal(0, 0x16, msg + msg),
                       False),
    "short-verify-data": (lambda hs, msg: CCS + hs.seal(
        0, 0x16, b"\x14\x00\x00\x10" + msg[4:20]), False),
}


@pytest.mark.parametrize("flight", list(FINISHED_FLIGHTS))
@pytest.mark.parametrize("who", ["stud", "openssl"])
def test_client_finished(start_stud, backend, tmp_path, who, flight):
    """The client's Finished re-encrypted under its own handshake keys
    (from Python's key log), altered or framed in various ways, then a
    record of application data: taken, the data reaches the backend;
    refused, stud sends a fatal alert (decrypt_error for a Finished that
    does not verify) and closes, and the backend never sees the data.
    OpenSSL's own handshake (--tls13-handshake=openssl) does the same."""
    make, taken = FINISHED_FLIGHTS[flight]
    be = backend("record")
    s = _stud(start_stud, be, "--tls13-handshake=" + who)
    workers = s.wait_workers(1)
    keylog = tmp_path / "keys.log"
    ctx = _tls13()
    ctx.keylog_filename = str(keylog)
    payload = b"must reach the backend only after a good Finished"
    with _Client13(s.port, ctx) as c:
        suite = c.tls.cipher()[0]
        secrets = _secrets(keylog)
        hs = _Keys(suite, secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"])
        app = _Keys(suite, secrets["CLIENT_TRAFFIC_SECRET_0"])
        fin = [r for t, r in _records(c.flight) if t == 0x17]
        assert len(fin) == 1, _records(c.flight)
        opened = hs.open(0, fin[0])
        assert opened is not None and opened[0] == 0x16, "key log misread"
        msg = opened[1]
        assert msg[0] == 20 and len(msg) == 4 + hs.hash().digest_size, msg
        c.raw.sendall(make(hs, msg) + app.seal(0, 0x17, payload))
        if taken:
            time.sleep(0.2)
            c.raw.shutdown(socket.SHUT_WR)
            assert be.wait_records(1) == [payload], s.stderr()[-2000:]
            wait_closed(c.raw, timeout=5.0)
            assert _kinds(s, 1) == [
                "full-stud" if who == "stud" else "full"], s.stderr()
            return
        how, more = wait_closed(c.raw, timeout=5.0)
        received = c.received + more
    alert = _server_alert(_Keys(suite, secrets["SERVER_TRAFFIC_SECRET_0"]),
                          received)
    if flight != "alert-type":      # no answer is due to a fatal alert
        assert alert is not None and alert[0] == 2, (alert, how)
    if flight == "wrong-verify-data":
        assert alert == b"\x02\x33", "not decrypt_error: %r" % alert
    # stud has closed: whatever reached the backend is there by now
    assert all(payload not in r for r in be.wait_records(1, timeout=0.3))
    _workers_unchanged(s, workers)
    with tls_connect(s.port, ctx=_tls13()) as c:   # and the next is served
        c.sendall(b"x")
        tcp_shut_wr(c)
    assert wait_until(lambda: b"x" in be.records, 5.0), be.records
