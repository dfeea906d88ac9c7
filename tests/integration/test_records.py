"""stud's own record layer (--record-layer=stud, the default) against real
clients: every AEAD suite of TLS 1.2 and 1.3 carries data both ways intact
(and so does --record-layer=openssl), with Python's ssl and with GnuTLS;
TLS 1.3 KeyUpdate both ways with openssl s_client and gnutls-cli; a tampered, oversized or unknown record gets its alert
and the close of that connection only; an idle connection keeps no OpenSSL
state, which its memory shows.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_records.py
"""

import hashlib
import os
import select
import socket
import ssl
import subprocess
import time

import pytest

from backend import HTTP_BODY, source_data
from harness import (IO_TIMEOUT, SANITIZED, BioClient, client_context,
                     http_get, pss_kib, recv_exact, recv_hash, tcp_shut_wr,
                     tls_connect)

# (version, stud options restricting it to one suite, the suite's name)
SUITES = [
    ("1.3", ["--ciphersuites=TLS_AES_128_GCM_SHA256"],
     "TLS_AES_128_GCM_SHA256"),
    ("1.3", ["--ciphersuites=TLS_AES_256_GCM_SHA384"],
     "TLS_AES_256_GCM_SHA384"),
    ("1.3", ["--ciphersuites=TLS_CHACHA20_POLY1305_SHA256"],
     "TLS_CHACHA20_POLY1305_SHA256"),
    ("1.2", ["-c", "ECDHE-RSA-AES128-GCM-SHA256"],
     "ECDHE-RSA-AES128-GCM-SHA256"),
    ("1.2", ["-c", "ECDHE-RSA-AES256-GCM-SHA384"],
     "ECDHE-RSA-AES256-GCM-SHA384"),
    ("1.2", ["-c", "ECDHE-RSA-CHACHA20-POLY1305"],
     "ECDHE-RSA-CHACHA20-POLY1305"),
]
LAYERS = ["stud", "openssl"]


def _ctx(version):
    ctx = client_context()
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("version,opts,suite", SUITES,
                         ids=[s[2] for s in SUITES])
def test_every_suite_both_ways(start_stud, backend, layer, version, opts,
                               suite):
    """4 MiB up (the backend hashes what it got) and 4 MiB down (we hash
    what came), on the suite asked for, through either record layer."""
    size = 4 << 20
    data, digest = source_data(size, seed=7)
    sink = backend("sink")
    s = start_stud(sink.port, "--record-layer=" + layer, *opts)
    with tls_connect(s.port, ctx=_ctx(version)) as c:
        assert c.cipher()[0] == suite
        c.sendall(data)
        tcp_shut_wr(c)
        assert recv_exact(c, 64).decode() == digest
    src = backend("source", size=size)
    s2 = start_stud(src.port, "--record-layer=" + layer, *opts)
    with tls_connect(s2.port, ctx=_ctx(version)) as c:
        assert c.cipher()[0] == suite
        got, n, clean = recv_hash(c)
        assert (got, n) == (src.digest, size)
        assert clean, "the backend's close did not end in close_notify"


def _s_client_session(port, steps, version="-tls1_3"):
    """Feed lines to openssl s_client -msg one at a time, each once the
    output holds the previous step's text (count times); returns the
    output."""
    p = subprocess.Popen(["openssl", "s_client", "-msg", "-brief", version,
                          "-connect", "127.0.0.1:%d" % port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    try:
        for line, expect, count in steps:
            p.stdin.write(line + b"\n")
            p.stdin.flush()
            deadline = time.monotonic() + IO_TIMEOUT
            while out.count(expect) < count:
                left = deadline - time.monotonic()
                assert left > 0, "no %r in time:\n%s" % (expect, out.decode(
                    errors="replace")[-3000:])
                r, _, _ = select.select([p.stdout], [], [], left)
                if r:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    assert chunk, "s_client ended:\n" + out.decode(
                        errors="replace")[-3000:]
                    out += chunk
        p.stdin.close()
        p.wait(IO_TIMEOUT)
        out += p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    return out.decode(errors="replace")


def test_key_update_both_ways(start_stud, backend):
    """s_client's K asks stud for a KeyUpdate of its own, k does not; data
    goes on both ways under the new keys after each."""
    be = backend("echo")
    s = start_stud(be.port)
    out = _s_client_session(s.port, [
        (b"before-any-update", b"before-any-update", 1),
        (b"K", b"KEYUPDATE", 1),
        (b"after-requested-update", b"after-requested-update", 1),
        (b"k", b"KEYUPDATE", 2),
        (b"after-plain-update", b"after-plain-update", 1),
    ])
    sent = out.count(">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
    got = out.count("<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
    assert sent == 2, out[-3000:]
    assert got == 1, "stud must answer K with one KeyUpdate, and k with " \
        "none:\n" + out[-3000:]
    assert "after-plain-update" in out


GNUTLS = [
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305",
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM",
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM",
]


def _gnutls(port, data, tmp_path, *extra):
    """gnutls-cli sending data (then close_notify) and printing what comes
    back until stud's close_notify; its messages go to a log file."""
    log = tmp_path / "gnutls.log"
    r = subprocess.run(["gnutls-cli", "--insecure", "--logfile=%s" % log]
                       + list(extra) + ["-p", str(port), "127.0.0.1"],
                       input=data, capture_output=True, timeout=60)
    return r, log.read_text(errors="replace")


@pytest.mark.parametrize("prio", GNUTLS, ids=["1.3-chacha", "1.3-aes128",
                                              "1.2-aes256"])
def test_gnutls_client_both_ways(start_stud, backend, tmp_path, prio):
    """Another TLS implementation, GnuTLS, against stud's record layer:
    3 MiB up (hashed by the backend), 3 MiB down."""
    data, digest = source_data(3 << 20, seed=11)
    s = start_stud(backend("sink").port)
    r, log = _gnutls(s.port, data, tmp_path, "--priority", prio)
    assert r.stdout.strip() == digest.encode(), log[-2000:]
    assert "Peer has closed the GnuTLS connection" in log
    src = backend("source", size=3 << 20)
    s2 = start_stud(src.port)
    r, log = _gnutls(s2.port, b"", tmp_path, "--priority", prio)
    assert hashlib.sha256(r.stdout).hexdigest() == src.digest, log[-2000:]


def test_gnutls_key_update(start_stud, backend, tmp_path):
    """GnuTLS's ^rekey^ (asks for ours) and ^rekey1^ (its own only) between
    lines echoed back."""
    s = start_stud(backend("echo").port)
    steps = b"line-a\n^rekey^\nline-b\n^rekey1^\nline-c\n"
    r, log = _gnutls(s.port, steps, tmp_path, "--inline-commands",
                     "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3")
    assert r.stdout == b"line-a\nline-b\nline-c\n", log[-2000:]
    assert log.count("Rekey was completed") == 2, log[-2000:]


class _Raw(BioClient):
    """A handshaken TLS client whose raw bytes the test can forge."""

    def record(self, data):
        """The record(s) obj.write(data) makes, not sent."""
        self.obj.write(data)
        return self.out.read()

    def reply_alert(self):
        """What stud answers: the SSLError its alert raises here, and
        whether the connection then ended (TCP EOF) within IO_TIMEOUT."""
        self.sock.settimeout(IO_TIMEOUT)
        err = None
        while True:
            data = self.sock.recv(65536)
            if not data:
                return err, True
            self.inc.write(data)
            while err is None:
                try:
                    if not self.obj.read(65536):
                        break
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLError as e:
                    err = e


@pytest.mark.parametrize("version", ["1.3", "1.2"])
@pytest.mark.parametrize("forge,alert", [
    ("flip", "BAD_RECORD_MAC"),
    ("overflow", "RECORD_OVERFLOW"),
    ("type", "UNEXPECTED_MESSAGE"),
])
def test_bad_record_alert_and_close(start_stud, backend, version, forge,
                                    alert):
    """After the hand-over, a record whose tag fails, one longer than TLS
    allows, or one of no TLS type gets the matching fatal alert and a
    close; stud serves the next client."""
    be = backend("echo")
    s = start_stud(be.port)
    c = _Raw(s.port, ctx=_ctx(version))
    try:
        c.send(b"ping")
        assert c.obj.pending() == 0
        rec = bytearray(c.record(b"payload"))
        if forge == "flip":
            rec[-3] ^= 0x20
        elif forge == "overflow":
            rec[3:5] = (16384 + 256 + 1).to_bytes(2, "big")
        else:
            rec[0] = 0x30
        c.sock.sendall(bytes(rec))
        err, closed = c.reply_alert()
    finally:
        c.close()
    assert err is not None and alert in err.reason, err
    assert closed
    raw, _ = http_get(start_stud(backend("http").port).port)
    assert raw.endswith(HTTP_BODY)


def _idle_cost(start_stud, backend, layer, n=400):
    """KiB of worker PSS per idle connection (TLS 1.3, after one echo)."""
    be = backend("echo")
    s = start_stud(be.port, "--record-layer=" + layer)
    worker = s.wait_workers(1)[0]
    for _ in range(20):
        with tls_connect(s.port) as c:
            c.sendall(b"w")
            recv_exact(c, 1)
    time.sleep(0.2)
    before = pss_kib(worker)
    held = []
    try:
        for _ in range(n):
            c = tls_connect(s.port)
            held.append(c)
            # no Nagle wait behind the unacknowledged Finished
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(b"x")
            assert recv_exact(c, 1) == b"x"
        time.sleep(0.2)
        after = pss_kib(worker)
        # every connection is still alive
        for c in held[::50]:
            c.sendall(b"y")
            assert recv_exact(c, 1) == b"y"
    finally:
        for c in held:
            c.close()
    return (after - before) / n


@pytest.mark.skipif(SANITIZED, reason="AddressSanitizer's own memory use "
                    "hides the connections'")
def test_idle_connection_keeps_no_openssl_state(start_stud, backend):
    """With stud's record layer an idle connection costs about 1 KiB of the
    worker's memory; with OpenSSL's, more than 8 (its SSL object, cipher
    contexts, session)."""
    own = _idle_cost(start_stud, backend, "stud")
    theirs = _idle_cost(start_stud, backend, "openssl")
    print("KiB per idle connection: stud %.1f, openssl %.1f" % (own, theirs))
    assert own < 3.0, "%.1f KiB per idle connection" % own
    assert theirs > 8.0, "%.1f KiB per idle connection with OpenSSL's " \
        "record layer" % theirs


def test_bad_record_layer_value_is_one_line_error(stud_bin, certs):
    r = subprocess.run([stud_bin, "-t", "--record-layer=kernel",
                        certs.rsa_pem], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--record-layer" in lines[0] and \
        "stud or openssl" in lines[0], r.stderr


def _tail_delay(port, then_close=False):
    """A round trip (the backend is connected and stud's record layer has
    the connection), then one whole 16 KiB record, which stud reads at once
    and starts coalescing on; once it is back through the echo backend,
    100 bytes (and our EOF if asked): seconds until they are back."""
    record = os.urandom(16384)
    with tls_connect(port) as c:
        c.sendall(b"hi")
        assert recv_exact(c, 2) == b"hi"
        c.sendall(record)
        assert recv_exact(c, len(record)) == record
        t0 = time.monotonic()
        c.sendall(b"tail" * 25)
        if then_close:
            tcp_shut_wr(c)
        assert recv_exact(c, 100) == b"tail" * 25
        return time.monotonic() - t0


def test_upload_coalescing_holds_the_tail_then_delivers(start_stud, backend):
    """--upload-coalesce: after a read that brought a whole record, stud
    wakes for that client only once 128 KiB are waiting or USEC after its
    last read. 100 bytes after the record are held (for most of 0.3 s) and
    then delivered, not stalled; with --upload-coalesce=0 they go at once."""
    echo = backend("echo")
    held = start_stud(echo.port, "--upload-coalesce=300000")
    waited = _tail_delay(held.port)
    assert 0.15 <= waited < 5, waited
    prompt = start_stud(echo.port, "--upload-coalesce=0")
    assert _tail_delay(prompt.port) < 0.15


def test_upload_coalescing_never_holds_an_eof(start_stud, backend):
    """The client's EOF wakes stud at once even under the mark: the tail
    and the EOF reach the backend without waiting for the timer."""
    echo = backend("echo")
    s = start_stud(echo.port, "--upload-coalesce=300000")
    assert _tail_delay(s.port, then_close=True) < 0.15
