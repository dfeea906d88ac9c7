"""stud's own TLS 1.2 full handshake (hs12.c; --tls12-handshake=stud, the
default): a ClientHello offering TLS 1.2 and not 1.3, no session, the
extended master secret and X25519 as its first group, to a context of one
RSA certificate, with an AEAD suite chosen, is answered by stud itself
(ServerHello to ServerHelloDone, then NewSessionTicket, ChangeCipherSpec
and Finished); everything else goes to OpenSSL. --log-level=2 names who
did it: handshake=full-stud, or full for OpenSSL.

Covered here (Python's ssl, openssl s_client, gnutls-cli and curl):
  1. an echo and 1 MiB both ways, a verifying client, 200 concurrent
     clients on two workers, the downgrade mark (RFC 8446, 4.1.3);
  2. each suite and signature scheme; the negotiation (suite, scheme,
     digest, group) compared with OpenSSL's own (--tls12-handshake=openssl)
     for many client lists under several server options;
  3. the sessions: tickets resumed by OpenSSL (two workers, two instances
     sharing --ticket-key-file), session IDs resumed by stud's resumption
     and by OpenSSL's cache, and with the shared cache (-C) on another
     worker;
  4. the cases left to OpenSSL (log full) still work; SNI picks the
     certificate, the chain is sent as OpenSSL sends it;
  5. hostile clients: every byte of the client's flight altered in turn
     (an alert in the clear, the backend sees nothing), the flight cut
     short, sent byte by byte, never sent. The worker survives it all.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
          tests/integration/test_hs12.py
"""

import re
import socket
import ssl
import subprocess
import time

import pytest

from backend import HTTP_BODY
from harness import (IO_TIMEOUT, SANITIZED, client_context, echo_roundtrip,
                     recv_all, tls_connect, which)
from test_hs13 import (_HandClient, _chain_like_openssl, _concurrent,
                       _conns, _echo_and_verified, _kinds, _outcome,
                       _records, _s_client, _sni_picks, _stud,
                       _ticket_key_file_shared, _ticket_resumes,
                       _tickets_on_either_worker, _workers_unchanged,
                       pems)  # noqa: F401
from test_session import _request

REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"
SUITES = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
          "ECDHE-RSA-CHACHA20-POLY1305"]
SSL_OP_NO_EXTENDED_MASTER_SECRET = 0x1


def _tls12(tickets=True):
    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def _s12(port, *args):
    rc, out = _s_client(port, "-tls1_2", *args)
    return _outcome(rc, out, "1.2"), out


# ---------------------------------------------------------------------------
# 1. data through it
# ---------------------------------------------------------------------------
def test_python_client_echo_and_1mib(start_stud, backend, pems):
    s = _stud(start_stud, backend("echo"), pem=pems["rsa"])
    workers = s.wait_workers(1)
    assert _echo_and_verified(s, _tls12(), pems["rsa"],
                              ssl.TLSVersion.TLSv1_2) == \
        ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
    _workers_unchanged(s, workers)


def test_concurrent_handshakes(start_stud, backend):
    """200 TLS 1.2 clients, 32 at a time, each with its own data, on two
    workers."""
    _concurrent(start_stud, backend, _tls12, 200)


class _Client12(_HandClient):
    """A TLS 1.2 client driven by hand: once made, it has read the server's
    first flight (.received) and written its own (.flight:
    ClientKeyExchange, ChangeCipherSpec, Finished), not sent."""

    def __init__(self, port, ctx=None):
        super().__init__(port, ctx or _tls12())
        self.flight = b""
        try:
            while not self.flight:
                try:
                    self.tls.do_handshake()
                    raise AssertionError("handshake done too early")
                except ssl.SSLWantReadError:
                    data = self.out.read()
                    if data and self.received:
                        self.flight = data
                        break
                    if data:
                        self.raw.sendall(data)
                    self._fill()
        except BaseException:
            self.raw.close()
            raise

    def finish(self, data):
        """Send the flight, complete the handshake, echo data."""
        self.raw.sendall(self.flight)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._fill()
        self.tls.write(data)
        self.raw.sendall(self.out.read())
        return self._read(len(data))


def _server_random(received):
    rec = _records(received)[0][1]
    assert rec[0] == 0x16 and rec[5] == 2, rec[:6].hex()
    return rec[11:43]


@pytest.mark.parametrize("protos,mark", [(None, True), ("TLSv1.2", False)])
def test_downgrade_mark(start_stud, backend, protos, mark):
    """RFC 8446, 4.1.3: a server that could do TLS 1.3 ends its TLS 1.2
    random with DOWNGRD 01; one that cannot, does not. The flight is one
    record: ServerHello, Certificate, ServerKeyExchange, ServerHelloDone."""
    extra = [] if protos is None else ["--tls-protos=" + protos]
    s = _stud(start_stud, backend("echo"), *extra)
    with _Client12(s.port) as c:
        assert (_server_random(c.received)[24:] == b"DOWNGRD\x01") == mark
        recs = _records(c.received)
        assert len(recs) == 1 and recs[0][0] == 0x16, recs
        assert c.finish(b"mark\n") == b"mark\n"
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


def test_curl_and_gnutls(start_stud, backend, pems):
    s = _stud(start_stud, backend("http"), pem=pems["rsa"])
    n = 0
    if which("curl"):
        r = subprocess.run(["curl", "-sS", "--tls-max", "1.2", "--cacert",
                            str(pems["rsa"]), "--resolve",
                            "localhost:%d:127.0.0.1" % s.port,
                            "https://localhost:%d/" % s.port],
                           capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stdout.endswith(HTTP_BODY), r
        n += 1
    if which("gnutls-cli"):
        r = subprocess.run(["gnutls-cli", "--insecure", "--port",
                            str(s.port), "--priority",
                            "NORMAL:-VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:"
                            "+GROUP-SECP256R1", "127.0.0.1"],
                           input=REQUEST, capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        assert "Handshake was completed" in out and "(TLS1.2" in out, out
        n += 1
    assert n > 0
    assert _kinds(s, n) == ["full-stud"] * n, s.stderr()


# ---------------------------------------------------------------------------
# 2. suites, schemes, OpenSSL's choices
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("suite", SUITES)
def test_each_suite(start_stud, backend, suite):
    s = _stud(start_stud, backend("http"))
    o, out = _s12(s.port, "-cipher", suite)
    assert o["ok"] and o["cipher"] == suite and o["ems"], out[-3000:]
    assert o["group"] == "X25519, 253 bits", o
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


@pytest.mark.parametrize("sigalgs,sigtype,digest", [
    ("RSA-PSS+SHA256", "RSA-PSS", "SHA256"),
    ("RSA-PSS+SHA384", "RSA-PSS", "SHA384"),
    ("RSA+SHA256", "RSA", "SHA256"),
    ("RSA+SHA384", "RSA", "SHA384"),
    ("RSA+SHA384:RSA-PSS+SHA256", "RSA", "SHA384"),
])
def test_signature_schemes(start_stud, backend, sigalgs, sigtype, digest):
    s = _stud(start_stud, backend("http"))
    o, out = _s12(s.port, "-sigalgs", sigalgs)
    assert o["ok"], out[-3000:]
    assert (o["sigtype"], o["digest"]) == (sigtype, digest), o
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


# s_client arguments: each must end the same with either handshake
CLIENTS = {
    "default": [],
    "ecdsa-suites-first": ["-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:"
                           "ECDHE-ECDSA-CHACHA20-POLY1305:"
                           "ECDHE-RSA-CHACHA20-POLY1305:"
                           "ECDHE-RSA-AES128-GCM-SHA256"],
    "dhe-first": ["-cipher", "DHE-RSA-AES128-GCM-SHA256:"
                  "ECDHE-RSA-AES128-GCM-SHA256"],
    "cbc-first": ["-cipher", "ECDHE-RSA-AES128-SHA256:"
                  "ECDHE-RSA-AES128-GCM-SHA256"],
    "aes128-then-256": ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256:"
                        "ECDHE-RSA-AES256-GCM-SHA384"],
    "chacha-first": ["-cipher", "ECDHE-RSA-CHACHA20-POLY1305:"
                     "ECDHE-RSA-AES256-GCM-SHA384"],
    "pkcs1-first": ["-sigalgs", "RSA+SHA256:RSA-PSS+SHA256"],
    "sha512-first": ["-sigalgs", "RSA-PSS+SHA512:RSA-PSS+SHA256"],
    "pkcs1-sha512-only": ["-sigalgs", "RSA+SHA512"],
    "sha1-first": ["-sigalgs", "RSA+SHA1:RSA+SHA256"],
    "ecdsa-sigalgs-first": ["-sigalgs", "ECDSA+SHA256:RSA+SHA384"],
    "p256-first": ["-groups", "P-256:X25519"],
    "x25519-then-p256": ["-groups", "X25519:P-256"],
    "x448-first": ["-groups", "X448:X25519"],
    "no-sni": ["-noservername"],
    "no-ticket": ["-no_ticket"],
    "alpn": ["-alpn", "h2,http/1.1"],
    "status-request": ["-status"],
}
SERVER_OPTS = {
    "default": [],
    "server-preference": ["-O"],
    "server-preference-p256-first": ["-O", "--ecdh-curve=P-256:X25519"],
    "x25519-only": ["--ecdh-curve=X25519"],
    "ciphers-chacha-first": ["-c", "ECDHE-RSA-CHACHA20-POLY1305:"
                             "ECDHE-RSA-AES128-GCM-SHA256:"
                             "DHE-RSA-AES128-GCM-SHA256"],
    "server-preference-dhe-first": ["-O", "-c", "DHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-RSA-AES128-GCM-SHA256"],
}


@pytest.mark.skipif(SANITIZED, reason="negotiation logic: checked in the "
                    "unsanitized runs")
@pytest.mark.parametrize("opts", list(SERVER_OPTS))
def test_same_choices_as_openssl(start_stud, backend, opts):
    """For every client of CLIENTS, what the client negotiates (or the
    alert it gets) is what it gets from OpenSSL's own handshake; and this
    path takes at least the default client."""
    be = backend("http")
    seen = {}
    for who in ("stud", "openssl"):
        s = _stud(start_stud, be, "--tls12-handshake=" + who,
                  *SERVER_OPTS[opts])
        seen[who] = {}
        for name, args in CLIENTS.items():
            o, out = _s12(s.port, *args)
            seen[who][name] = o
        kinds = _kinds(s, sum(o["ok"] for o in seen[who].values()))
        if who == "stud":
            stud_kinds = kinds
    for name in CLIENTS:
        assert seen["stud"][name] == seen["openssl"][name], \
            (name, seen["stud"][name], seen["openssl"][name])
    assert seen["stud"]["default"]["ok"]
    # the default client is this path's unless the server prefers what it
    # leaves to OpenSSL (P-256, DHE)
    assert (stud_kinds[0] == "full-stud") == (opts not in (
        "server-preference-p256-first", "server-preference-dhe-first")), \
        stud_kinds


# ---------------------------------------------------------------------------
# 3. sessions
# ---------------------------------------------------------------------------
def test_ticket_resumes(start_stud, backend):
    _ticket_resumes(start_stud, backend, _tls12())


@pytest.mark.parametrize("suite", SUITES)
def test_ticket_of_each_suite_resumes(start_stud, backend, tmp_path, suite):
    """openssl s_client -sess_out then -sess_in: the master secret (made
    with the extended master secret, SHA-384's PRF for AES-256) is the one
    OpenSSL resumes with."""
    s = _stud(start_stud, backend("http"))
    sess = tmp_path / "sess.pem"
    o, out = _s12(s.port, "-cipher", suite, "-sess_out", str(sess))
    assert o["ok"] and o["ems"], out[-3000:]
    assert re.search(r"TLS session ticket lifetime hint: \d+", out), out
    o, out = _s12(s.port, "-cipher", suite, "-sess_in", str(sess))
    assert o["ok"] and "Reused, TLSv1.2, Cipher is " + suite in out, \
        out[-3000:]
    assert _kinds(s, 2) == ["full-stud", "resumed"], s.stderr()


def test_session_like_openssls(start_stud, backend, tmp_path):
    """The session stud's path gives the client (lifetime hint, suite,
    extended master secret, ticket or ID) is the one OpenSSL's gives, and
    it resumes, or not, as OpenSSL's does when the client then asks for the
    same server name, another one or none."""
    be = backend("http")
    seen = {}
    names = (["-servername", "a.test"], ["-servername", "b.test"],
             ["-noservername"])
    for who in ("stud", "openssl"):
        s = _stud(start_stud, be, "--tls12-handshake=" + who)
        fields = []
        for extra in ([], ["-no_ticket"]):
            sess = tmp_path / (who + ".sess")
            o, out = _s12(s.port, "-sess_out", str(sess), "-servername",
                          "a.test", *extra)
            assert o["ok"], out[-3000:]
            fields.append([o["cipher"], o["ems"]] + [
                re.findall(rx, out, re.M) for rx in (
                    r"lifetime hint: (\d+)", r"Session-ID: ([0-9A-F]*)$",
                    r"(TLS session ticket):")])
            fields[-1][3] = [len(x) for x in fields[-1][3]]
            for name in names:
                o, out = _s12(s.port, "-sess_in", str(sess), *name, *extra)
                assert o["ok"], out[-3000:]
                fields[-1].append("Reused, TLSv1.2" in out)
        seen[who] = fields
        assert _kinds(s, 8)[0] == ("full-stud" if who == "stud" else "full")
    assert seen["stud"] == seen["openssl"], seen
    assert seen["stud"][0][5] and seen["stud"][1][5], seen


def test_tickets_resume_on_either_worker(start_stud, backend):
    _tickets_on_either_worker(start_stud, backend, _tls12())


def test_ticket_key_file_shared_by_two_instances(start_stud, backend,
                                                 tmp_path):
    _ticket_key_file_shared(start_stud, backend, tmp_path, _tls12())


def test_session_id_resumed_by_stud_then_openssl(start_stud, backend):
    """No ticket asked for: the session gets a 32-byte ID; a client offering
    it alone is resumed by stud's resumption (resumed-stud), one that also
    offers an empty ticket extension by OpenSSL, from its cache."""
    s = _stud(start_stud, backend("http"))
    ctx = _tls12(tickets=False)
    session, reused = _request(ctx, s.port)
    assert not reused and not session.has_ticket and len(session.id) == 32
    assert _request(ctx, s.port, session)[1]
    ctx.options &= ~ssl.OP_NO_TICKET
    assert _request(ctx, s.port, session)[1]
    assert _kinds(s, 3) == ["full-stud", "resumed-stud", "resumed"], \
        s.stderr()


def test_session_id_on_another_worker(start_stud, backend):
    """With the shared session cache (-C), a session ID this path made
    resumes on any worker."""
    try:
        s = _stud(start_stud, backend("http"), "-n", "2", "-C", "1000")
    except AssertionError as e:
        if "USE_SHARED_CACHE" not in str(e):
            raise
        pytest.skip("built without USE_SHARED_CACHE")
    s.wait_workers(2)
    ctx = _tls12(tickets=False)
    session, _ = _request(ctx, s.port)
    resumed = [_request(ctx, s.port, session)[1] for _ in range(20)]
    assert all(resumed), resumed
    kinds = _kinds(s, 21)
    assert kinds[0] == "full-stud" and set(kinds[1:]) == {"resumed-stud"}, \
        kinds


# ---------------------------------------------------------------------------
# 4. what goes to OpenSSL still works (and says full)
# ---------------------------------------------------------------------------
def _py_no_ems(port):
    ctx = _tls12()
    ctx.options |= SSL_OP_NO_EXTENDED_MASTER_SECRET
    with tls_connect(port, ctx=ctx) as c:
        c.sendall(REQUEST)
        assert recv_all(c, limit=1 << 16)[0].endswith(HTTP_BODY)


def _s12_ok(*args):
    def run(port):
        o, out = _s12(port, *args)
        assert o["ok"], out[-3000:]
    return run


FALLBACKS = {
    "no-ems": ([], _py_no_ems),
    "p256-first": ([], _s12_ok("-groups", "P-256:X25519")),
    "dhe-first": ([], _s12_ok("-cipher", "DHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-RSA-AES128-GCM-SHA256")),
    "sha512-first": ([], _s12_ok("-sigalgs", "RSA+SHA512:RSA+SHA256")),
    "tls12-handshake=openssl": (["--tls12-handshake=openssl"], _s12_ok()),
    "x25519=openssl": (["--x25519=openssl"], _s12_ok()),
    "record-layer=openssl": (["--record-layer=openssl"], _s12_ok()),
    "alpn-protos": (["--alpn-protos=http/1.1"], _s12_ok()),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_fallback_to_openssl(start_stud, backend, case):
    extra, run = FALLBACKS[case]
    s = _stud(start_stud, backend("http"), *extra)
    run(s.port)
    assert _kinds(s, 1) == ["full"], s.stderr()


def test_ecdsa_certificate_goes_to_openssl(start_stud, backend, pems):
    s = _stud(start_stud, backend("http"), pem=pems["ec"])
    o, out = _s12(s.port)
    assert o["ok"] and o["sigtype"] == "ECDSA", out[-3000:]
    assert _kinds(s, 1) == ["full"], s.stderr()


def test_sni_picks_the_certificate(stud_args, backend, pki):
    """stud's handshake for the RSA certificates, OpenSSL's for ECDSA."""
    _sni_picks(stud_args, backend, pki, ssl.TLSVersion.TLSv1_2, _tls12,
               ["full-stud", "full", "full-stud", "full-stud", "full-stud"])


def test_chain_sent_like_openssl(stud_args, backend, pki):
    def handshake(port, *args):
        o, out = _s12(port, *args)
        return o["ok"], out
    _chain_like_openssl(stud_args, backend, pki, "--tls12-handshake",
                        handshake)


# ---------------------------------------------------------------------------
# 5. hostile or odd clients
# ---------------------------------------------------------------------------
def _shut_wr(sock):
    """Half-close a raw socket, if it is still connected."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _alert_then_close(raw):
    """What stud sends after a bad flight: (alert description or None, the
    bytes), reading until it closes (bounded)."""
    raw.settimeout(IO_TIMEOUT)
    got = b""
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            d = raw.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        got += d
    if len(got) == 7 and got[:5] == b"\x15\x03\x03\x00\x02" and got[5] == 2:
        return got[6], got
    return None, got


def test_every_byte_of_the_flight_altered(start_stud, backend):
    """Each byte of the client's ClientKeyExchange, ChangeCipherSpec and
    Finished flipped in turn (every third byte, and each header byte):
    stud answers with a fatal alert in the clear and closes, the backend
    sees nothing; then an intact flight works."""
    s = _stud(start_stud, backend("echo"))
    workers = s.wait_workers(1)
    with _Client12(s.port) as c:
        size = len(c.flight)
    assert size == 5 + 37 + 6 + 5 + 8 + 16 + 16, size
    heads = {0, 1, 2, 3, 4, 5, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52}
    lengths = {3, 4, 45, 46, 51, 52}
    where = sorted(heads | set(range(0, size, 3)))
    alerts = set()
    for i in where:
        with _Client12(s.port) as c:
            bad = bytearray(c.flight)
            bad[i] ^= 0x41
            c.raw.sendall(bytes(bad))
            if i in lengths:
                _shut_wr(c.raw)
            alert, got = _alert_then_close(c.raw)
            if i in lengths and alert is None:
                assert got == b"", (i, got.hex())   # a length: EOF first
                continue
            assert alert is not None, (i, got.hex())
            alerts.add(alert)
    assert alerts <= {10, 20, 22, 47, 50, 51, 70}, alerts
    assert 20 in alerts and 10 in alerts, alerts   # bad MAC, bad type
    with _Client12(s.port) as c:
        assert c.finish(b"after\n") == b"after\n"
    conns = _conns(s, len(where) + 2)
    assert all(i == 0 and o == 0 for i, o, _ in conns[1:-1]), conns
    assert conns[-1] == (6, 6, "full-stud"), conns
    _workers_unchanged(s, workers)


def test_flight_byte_by_byte(start_stud, backend):
    s = _stud(start_stud, backend("echo"))
    with _Client12(s.port) as c:
        flight, c.flight = c.flight, b""
        for i in range(len(flight)):
            c.raw.sendall(flight[i:i + 1])
            time.sleep(0.002)
        assert c.finish(b"slow\n") == b"slow\n"
    assert _kinds(s, 1) == ["full-stud"], s.stderr()


def test_flight_cut_short_then_eof(start_stud, backend):
    s = _stud(start_stud, backend("echo"))
    workers = s.wait_workers(1)
    for cut in (0, 10, 47, 60):
        with _Client12(s.port) as c:
            c.raw.sendall(c.flight[:cut])
            _shut_wr(c.raw)
            alert, got = _alert_then_close(c.raw)
            assert got == b"", (cut, got.hex())
    assert [k for _, _, k in _conns(s, 4)] == ["none"] * 4, s.stderr()
    _workers_unchanged(s, workers)


def test_flight_never_sent(start_stud, backend):
    """A client that stops after the server's first flight is dropped at
    --ssl-handshake-timeout; the worker goes on."""
    s = _stud(start_stud, backend("echo"), "--ssl-handshake-timeout=1")
    with _Client12(s.port) as c:
        c.raw.settimeout(5)
        t0 = time.monotonic()
        assert c.raw.recv(100) == b""
        assert time.monotonic() - t0 < 4
    assert echo_roundtrip(s.port, b"next\n", ctx=_tls12()) == b"next\n"
