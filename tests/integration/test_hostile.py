"""Hostile input: stud in its default configuration (one worker) facing
garbage, broken and oversized handshakes, alerts mid-handshake, a flood of
10,000 garbage connections, client renegotiation, and malformed PROXY
headers (--proxy-proxy).

Every test runs its attack through Guard, which checks that
  - stud never crashes: the parent and the worker keep their pids, and
    stderr has no worker-replacement message nor sanitizer report;
  - a legitimate client, running in a thread throughout the attack, is
    served every time;
  - every attack connection is closed by stud (EOF or reset), in bounded
    time;
  - afterwards the worker's descriptors (/proc/PID/fd) go back to their idle
    count and its VmRSS stays within RSS_MARGIN_KIB of what it was after a
    warm-up round of the same attack (not checked on an AddressSanitizer
    build, whose quarantine holds freed memory).

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_hostile.py
"""

import errno
import os
import pwd
import random
import select
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from backend import HTTP_BODY
from harness import (STUD_BIN, BioClient, client_context, fd_count, http_get,
                     proc_status, vmrss_kib, wait_until, which,
                     SANITIZED)

RSS_MARGIN_KIB = 4096
CLOSE_TIMEOUT = 10.0         # s for stud to close one attack connection
SETTLE_TIMEOUT = 15.0        # s for the worker's descriptors to settle
MIN_LEGIT = 5                # legitimate requests served during an attack
MIN_LEGIT_DEADLINE = 120.0   # s for that
# stderr lines that mean a worker died or a sanitizer fired
BAD_STDERR = ("killed by signal", "exited with status", "replacing",
              "AddressSanitizer", "LeakSanitizer", "UndefinedBehavior",
              "runtime error:", "out of memory")


ASAN = SANITIZED


def _body(raw):
    return raw.partition(b"\r\n\r\n")[2]


# ---------------------------------------------------------------------------
# raw TLS bytes
# ---------------------------------------------------------------------------
def client_hello(maximum_version=None):
    """The bytes of a real ClientHello record (Python's ssl, no network)."""
    ctx = client_context(maximum_version=maximum_version)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[:1] == b"\x16" and data[5:6] == b"\x01", data[:10].hex()
    return data


def records(msg, ctype=0x16, version=b"\x03\x01", size=16384):
    """msg cut into TLS records of at most size bytes."""
    out = []
    for i in range(0, len(msg), size):
        frag = msg[i:i + size]
        out.append(bytes([ctype]) + version + struct.pack(">H", len(frag))
                   + frag)
    return b"".join(out)


def big_client_hello(ch, total_ext=65535):
    """The handshake message of ClientHello record ch with an unknown
    extension added in front so that its extensions take total_ext bytes
    (at most 65535, the 16-bit limit): a ~64 KiB ClientHello, which OpenSSL
    accepts (its limit is 131,396 bytes) and which spans 5 records."""
    hs = ch[5:5 + struct.unpack(">H", ch[3:5])[0]]
    body = hs[4:]
    p = 2 + 32                                        # version, random
    p += 1 + body[p]                                  # session id
    p += 2 + struct.unpack(">H", body[p:p + 2])[0]    # cipher suites
    p += 1 + body[p]                                  # compression
    elen = struct.unpack(">H", body[p:p + 2])[0]
    exts = body[p + 2:p + 2 + elen]
    assert p + 2 + elen == len(body), "unexpected ClientHello layout"
    extra = total_ext - len(exts) - 4
    assert extra > 60000, extra
    exts = struct.pack(">HH", 0xff5a, extra) + b"\xab" * extra + exts
    body = body[:p] + struct.pack(">H", len(exts)) + exts
    return b"\x01" + struct.pack(">I", len(body))[1:] + body


# ---------------------------------------------------------------------------
# attack connections
# ---------------------------------------------------------------------------
def _closed_error(e):
    """True for the errors a send or shutdown gets once stud has closed
    (reset) the connection."""
    return isinstance(e, (BrokenPipeError, ConnectionResetError)) or \
        e.errno == errno.ENOTCONN


def wait_closed(sock, timeout=CLOSE_TIMEOUT):
    """Read until stud closes sock. Returns (how, bytes received) with how
    "eof" or "reset"; raises AssertionError on timeout."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    got = bytearray()
    while True:
        try:
            b = sock.recv(65536)
        except ConnectionResetError:
            return "reset", bytes(got)
        except socket.timeout:
            raise AssertionError("stud kept the connection open %.0fs after "
                                 "the input (got %d bytes: %r)"
                                 % (timeout, len(got), bytes(got[:40])))
        if not b:
            return "eof", bytes(got)
        got += b
        if time.monotonic() > deadline:
            raise AssertionError("stud still sending after %.0fs" % timeout)


def send_and_expect_close(port, data, shut_wr=True, pause=0.0,
                          timeout=CLOSE_TIMEOUT):
    """Connect, send data (a list of chunks, sent `pause` s apart), half-
    close if shut_wr, and wait for stud to close. A reset while sending
    counts as closed. Returns (how, reply bytes)."""
    chunks = data if isinstance(data, list) else [data]
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i, c in enumerate(chunks):
                if i and pause:
                    time.sleep(pause)
                s.sendall(c)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            if not _closed_error(e):
                raise
            return "reset", b""
        return wait_closed(s, timeout)
    finally:
        s.close()


def flood(port, payloads, concurrency=100, deadline=None, shut_wr=True):
    """Open connections in batches of `concurrency` held open together, send
    each its payload (payloads: an iterable of bytes), half-close, and wait
    for stud to close every one. Returns the number of connections."""
    n = 0
    it = iter(payloads)
    done = False
    while not done:
        batch = []
        try:
            for _ in range(concurrency):
                try:
                    p = next(it)
                except StopIteration:
                    done = True
                    break
                s = socket.create_connection(("127.0.0.1", port),
                                             timeout=CLOSE_TIMEOUT)
                batch.append(s)
                try:
                    s.sendall(p)
                    if shut_wr:
                        s.shutdown(socket.SHUT_WR)
                except OSError as e:
                    if not _closed_error(e):
                        raise
            for s in batch:
                wait_closed(s)
                n += 1
        finally:
            for s in batch:
                s.close()
        if deadline is not None and time.monotonic() > deadline:
            raise AssertionError("flood not done in time: %d connections "
                                 "closed" % n)
    return n


# ---------------------------------------------------------------------------
# the guard
# ---------------------------------------------------------------------------
def http_legit(port):
    raw, _ = http_get(port)
    assert _body(raw) == HTTP_BODY, raw[:200]


class Guard:
    """Runs attacks against one stud with one worker; see the module doc."""

    def __init__(self, stud, legit=http_legit):
        self.s = stud
        self.legit = legit
        (self.worker,) = stud.wait_workers(1)
        self.parent = stud.pid
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        # idle descriptors: the worker before any client connected (raised
        # in run() if the first clients make it open something for good)
        self.fd_idle = fd_count(self.worker)

    def _legit_loop(self):
        while not self._stop.is_set():
            try:
                self.legit(self.s.port)
                self.ok += 1
            except Exception as e:              # recorded, asserted later
                self.failures.append(repr(e))
            self._stop.wait(0.05)

    def check_alive(self):
        assert self.s.proc.poll() is None, (
            "stud's parent exited (rc %r); stderr:\n%s"
            % (self.s.proc.returncode, self.s.stderr()[-3000:]))
        assert self.s.workers() == [self.worker], (
            "worker %d replaced: workers now %r; stderr:\n%s"
            % (self.worker, self.s.workers(), self.s.stderr()[-3000:]))
        err = self.s.stderr()
        for bad in BAD_STDERR:
            assert bad not in err, "%r in stud's stderr:\n%s" % (
                bad, err[-3000:])

    def settle(self):
        """Wait (bounded) until the worker holds no more descriptors than
        when idle; returns the count."""
        n = wait_until(lambda: fd_count(self.worker) <= self.fd_idle,
                       SETTLE_TIMEOUT, interval=0.1)
        got = fd_count(self.worker)
        assert n, ("worker %d holds %d descriptors %.0fs after the attack, "
                   "%d when idle: %r" % (
                       self.worker, got, SETTLE_TIMEOUT, self.fd_idle,
                       sorted(os.listdir("/proc/%d/fd" % self.worker))))
        return got

    def run(self, attack, rounds=2, warmup=None):
        """warmup() (default: attack()) once, then measure; then `rounds`
        times attack() with the legitimate client running; then check."""
        for _ in range(3):
            self.legit(self.s.port)
        if not wait_until(lambda: fd_count(self.worker) <= self.fd_idle,
                          3.0):
            self.fd_idle = fd_count(self.worker)
        (warmup or attack)()
        self.check_alive()
        self.settle()
        rss0 = vmrss_kib(self.worker)
        t = threading.Thread(target=self._legit_loop, name="legit",
                             daemon=True)
        t.start()
        deadline = time.monotonic() + MIN_LEGIT_DEADLINE
        try:
            done = 0
            # at least `rounds` rounds, and until the legitimate client has
            # been served MIN_LEGIT times while the attack went on
            while done < rounds or self.ok < MIN_LEGIT:
                attack()
                done += 1
                self.check_alive()
                assert time.monotonic() < deadline, (
                    "legitimate client served only %d times in %d rounds "
                    "of attack (%.0fs); failures: %s" % (
                        self.ok, done, MIN_LEGIT_DEADLINE,
                        self.failures[:3]))
        finally:
            self._stop.set()
            t.join(60)
        assert not t.is_alive(), "legitimate client stuck"
        assert not self.failures, ("legitimate client failed %d times "
                                   "(%d ok): %s" % (len(self.failures),
                                                    self.ok,
                                                    self.failures[:3]))
        assert self.ok >= 1, "legitimate client never got through"
        self.legit(self.s.port)
        self.check_alive()
        self.settle()
        rss1 = vmrss_kib(self.worker)
        print("worker %d: %d legitimate requests served during the attack; "
              "fds idle %d; VmRSS %d KiB after warm-up, %d KiB after"
              % (self.worker, self.ok, self.fd_idle, rss0, rss1))
        if not ASAN:
            assert rss1 <= rss0 + RSS_MARGIN_KIB, (
                "worker VmRSS grew from %d KiB (after warm-up) to %d KiB"
                % (rss0, rss1))
        return rss0, rss1


@pytest.fixture
def guarded(start_stud, backend):
    """guarded(*extra_args, legit=http_legit, mode="http") -> Guard around
    a stud started with its defaults (one worker) plus extra_args, in front
    of a backend of that mode."""
    def make(*extra, legit=http_legit, mode="http"):
        be = backend(mode)
        s = start_stud(be.port, *extra)
        g = Guard(s, legit=legit)
        g.backend = be
        return g
    return make


# ---------------------------------------------------------------------------
# the attacks
# ---------------------------------------------------------------------------
def test_random_bytes_instead_of_client_hello(guarded):
    g = guarded()
    rng = random.Random(1)

    def attack():
        for i in range(60):
            n = rng.choice([1, 5, 100, 1000, 16000, 70000])
            data = rng.randbytes(n)
            if i % 2 and n >= 5:
                # without our EOF: stud must give up on its own. Bytes that
                # cannot start a TLS record (not 3 as the version's major)
                # are refused as soon as a record header is in.
                first = rng.choice([b for b in range(0x80)
                                    if b not in range(0x14, 0x19)])
                second = rng.choice([b for b in range(256) if b != 3])
                data = bytes([first, second]) + data[2:]
                send_and_expect_close(g.s.port, data, shut_wr=False)
            else:
                send_and_expect_close(g.s.port, data)
        # TLS-looking headers with garbage bodies
        for ctype in (0x14, 0x15, 0x16, 0x17, 0x18, 0xff):
            for ver in (b"\x03\x01", b"\x03\x03", b"\x03\x04", b"\x02\x00",
                        b"\xfe\xfd", b"\x00\x00"):
                hdr = bytes([ctype]) + ver + struct.pack(">H", 300)
                send_and_expect_close(g.s.port, hdr + rng.randbytes(300))
        # SSLv2-style record header, then garbage
        send_and_expect_close(g.s.port, b"\x80\x2e\x01\x00\x02"
                              + rng.randbytes(45))

    g.run(attack)


def test_truncated_client_hello(guarded):
    g = guarded()
    ch = client_hello()
    ch12 = client_hello(ssl.TLSVersion.TLSv1_2)
    cuts = [1, 2, 4, 5, 6, 9, 10, 40, 43, 44, 100, 200, len(ch) // 2,
            len(ch) - 1]

    def attack():
        for hello in (ch, ch12):
            for k in cuts:
                send_and_expect_close(g.s.port, hello[:k])
                # the same, dribbled in pieces
                send_and_expect_close(
                    g.s.port, [hello[i:i + 7] for i in range(0, k, 7)][:20],
                    pause=0.002)
        # a complete record whose handshake message claims more bytes than
        # the record holds, with no more records to come
        body = ch[9:]
        msg = b"\x01" + struct.pack(">I", len(body) + 500)[1:] + body
        send_and_expect_close(g.s.port, records(msg))
        # a record whose length is larger than what follows
        send_and_expect_close(g.s.port, b"\x16\x03\x01\x40\x00" + ch[5:])

    g.run(attack)


def test_oversized_client_hello(guarded):
    g = guarded()
    ch = client_hello()
    big = big_client_hello(ch)

    def big_hello():
        """~64 KiB of extensions in 5 records: OpenSSL parses it and
        answers with a ServerHello; we then hang up."""
        s = socket.create_connection(("127.0.0.1", g.s.port), timeout=10)
        try:
            s.sendall(records(big))
            first = s.recv(5)
            assert first[:1] == b"\x16", "reply %r" % first
            s.shutdown(socket.SHUT_WR)
            wait_closed(s)
        finally:
            s.close()

    def attack():
        for _ in range(5):
            big_hello()
        # a single record claiming 65535 bytes (more than 16 KiB + 2 KiB)
        for n in (16384 + 2049, 65535):
            how, reply = send_and_expect_close(
                g.s.port, b"\x16\x03\x01" + struct.pack(">H", n)
                + os.urandom(2000), shut_wr=False)
        # one handshake message claiming more than OpenSSL's limit for a
        # ClientHello (131,396 bytes), sent in full in 16 KiB records, and
        # one claiming 16 MiB of which we send 1 MiB: stud must stop
        # reading and close, not buffer it
        for claim, send in ((196608, 196608), (0xffffff, 1 << 20)):
            msg = b"\x01" + claim.to_bytes(3, "big") + os.urandom(send)
            how, reply = send_and_expect_close(
                g.s.port, [records(msg[i:i + 65536])
                           for i in range(0, len(msg), 65536)],
                shut_wr=False)
            assert how == "reset" or reply[:1] == b"\x15", (how, reply[:20])

    g.run(attack, warmup=lambda: (big_hello(), attack()))


def test_alert_mid_handshake(guarded):
    g = guarded()
    alerts = [
        b"\x15\x03\x03\x00\x02\x02\x28",    # fatal handshake_failure
        b"\x15\x03\x03\x00\x02\x01\x00",    # warning close_notify
        b"\x15\x03\x03\x00\x02\x01\x5a",    # warning user_canceled
        b"\x15\x03\x03\x00\x02\x07\x63",    # bad level, unknown alert
        b"\x15\x03\x03\x00\x01\x02",        # alert record too short
        b"\x15\x03\x03\x00\x05\x02\x28\x02\x28\x00",  # too long
        b"\x15\x03\x03\x00\x00",            # empty alert record
    ]

    warning = b"\x15\x03\x03\x00\x02\x01\x5a"  # user_canceled

    def one(hello, alert, before_hello):
        s = socket.create_connection(("127.0.0.1", g.s.port), timeout=10)
        try:
            if before_hello:
                s.sendall(alert)
            else:
                s.sendall(hello)
                first = s.recv(5)          # the ServerHello has come
                assert first[:1] == b"\x16", first
                s.sendall(alert)
            if alert == warning and not before_hello:
                # a warning alert does not end a handshake (OpenSSL
                # ignores it and waits, up to --ssl-handshake-timeout)
                s.shutdown(socket.SHUT_WR)
            # otherwise stud must close without our EOF
            wait_closed(s)
        except OSError as e:
            if not _closed_error(e):
                raise
        finally:
            s.close()

    def attack():
        for maxv in (ssl.TLSVersion.TLSv1_2, None):
            hello = client_hello(maxv)
            for a in alerts:
                one(hello, a, before_hello=False)
                one(hello, a, before_hello=True)
                # in the middle of the ClientHello's record stream
                send_and_expect_close(g.s.port,
                                      [hello[:100], a, hello[100:]],
                                      shut_wr=False)
            # warnings repeated: OpenSSL gives up after a few; stud must
            # then close
            one(hello, warning * 10, before_hello=False)
            one(hello, warning * 10, before_hello=True)

    g.run(attack)


def _garbage_payloads(n, seed):
    """n connection payloads of assorted garbage."""
    rng = random.Random(seed)
    ch = client_hello()
    kinds = [
        lambda: rng.randbytes(rng.randint(1, 600)),
        lambda: b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        lambda: b"\x16\x03\x01\x00\x30" + rng.randbytes(48),
        lambda: ch[:rng.randint(1, len(ch) - 1)],
        lambda: b"\x80\x2e\x01" + rng.randbytes(rng.randint(0, 60)),
        lambda: ch[:50] + rng.randbytes(len(ch) - 50),
    ]
    for i in range(n):
        yield kinds[i % len(kinds)]()


def test_10000_garbage_connections(guarded):
    g = guarded("-B", "1024")
    t0 = time.monotonic()
    budget = 240.0
    counts = []

    def attack():
        counts.append(flood(g.s.port, _garbage_payloads(5000, len(counts)),
                            concurrency=200, deadline=t0 + budget))

    g.run(attack, rounds=2,
          warmup=lambda: flood(g.s.port, _garbage_payloads(500, 99),
                               concurrency=200, deadline=t0 + budget))
    assert sum(counts) >= 10000
    assert time.monotonic() - t0 < budget


def test_client_renegotiation_refused(guarded):
    """TLS 1.2 client-initiated renegotiation, with openssl s_client's R
    command (s_client gives up at the first refusal, so several runs) and
    with gnutls-cli --rehandshake (which insists: about 16 attempts on one
    connection)."""
    g = guarded()
    gnutls = which("gnutls-cli")

    def s_client():
        p = subprocess.Popen(
            ["openssl", "s_client", "-tls1_2", "-connect",
             "127.0.0.1:%d" % g.s.port], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            # wait (bounded) for the end of the handshake report, then ask
            # for a renegotiation
            out = b""
            deadline = time.monotonic() + 30
            asked = False
            while True:
                if not asked and b"Verify return code" in \
                        out.split(b"SSL-Session")[-1]:
                    p.stdin.write(b"R\n")
                    p.stdin.flush()
                    asked = True
                left = deadline - time.monotonic()
                assert left > 0, "s_client still running:\n%s" % (
                    out[-2000:].decode(errors="replace"))
                r, _, _ = select.select([p.stdout], [], [], left)
                if not r:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            # s_client quits at the refusal; its stdin stays open till then
            p.wait(10)
        finally:
            p.stdin.close()
            if p.poll() is None:
                p.kill()
                p.wait(5)
            p.stdout.close()
        text = out.decode(errors="replace")
        assert "RENEGOTIATING" in text, text[-2000:]
        assert "no renegotiation" in text, text[-2000:]

    def gnutls_cli():
        r = subprocess.run(
            [gnutls, "--insecure", "--rehandshake", "--priority",
             "NORMAL:-VERS-ALL:+VERS-TLS1.2", "-p", str(g.s.port),
             "127.0.0.1"], stdin=subprocess.DEVNULL, capture_output=True,
            timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace")
        assert "Handshake was completed" in out, out[-2000:]
        assert "ReHandshake was completed" not in out, out[-2000:]
        assert "No renegotiation is allowed" in out, out[-2000:]

    def attack():
        for _ in range(3):
            s_client()
        if gnutls:
            gnutls_cli()

    g.run(attack, rounds=1)
    if not gnutls:
        pytest.skip("gnutls-cli not installed (Debian: gnutls-bin); "
                    "s_client part passed")


# ---------------------------------------------------------------------------
# --proxy-proxy
# ---------------------------------------------------------------------------
LEGIT_PROXY = b"PROXY TCP4 203.0.113.77 198.51.100.1 51000 443\r\n"
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxied_legit(port):
    c = BioClient(port, prefix=LEGIT_PROXY, timeout=20)
    try:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        raw, _ = c.recv_all()
    finally:
        c.close()
    assert _body(raw) == HTTP_BODY, raw[:200]


def _bad_proxy_headers():
    good = ["PROXY", "TCP4", "192.0.2.7", "198.51.100.9", "40000", "443"]
    bad = [
        ["proxy", "PROXY\t", "PROX", "PROXYY", "PROXY\x00", "\xff"],
        ["TCP5", "tcp4", "TCP", "UDP4", "TCP46", "UNKNOWN\x01", ""],
        ["256.0.0.1", "192.0.2", "192.0.2.7.1", "::1", "0x7f.1.1.1",
         "192.0.2.07", "-1.2.3.4", "1" * 60],
        ["198.51.100.256", "198.51.100", "fe80::1%eth0", "a.b.c.d", ""],
        ["65536", "-1", "040000", "4e4", "0x10", "99999999999999999999",
         " 1", "+1", ""],
        ["65536", "-443", "0443", "https", "44 3", "443 ", "\x80"],
    ]
    out = []
    for i, choices in enumerate(bad):
        for v in choices:
            f = list(good)
            f[i] = v
            out.append(" ".join(f).encode("latin-1") + b"\r\n")
    out += [
        b"PROXY TCPX 999.1.1.1 abc -5 99999999\r\n",      # every field bad
        b"PROXY \r\n", b"PROXY\r\n", b"\r\n", b"PROXY  TCP4\r\n",
        " ".join(good).encode() + b" extra\r\n",
        " ".join(good).encode() + b"\n",                   # LF only
        " ".join(good).encode() + b"\r\r\n",
        " ".join(good).replace(" ", "  ", 1).encode() + b"\r\n",
        " ".join(good).replace(" ", "\t").encode() + b"\r\n",
        b"PROXY TCP4 " + b"1" * 200 + b"\r\n",            # over 107 bytes
        b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n",           # 108 bytes
        b"PROXY  UNKNOWN\r\n",                             # two spaces
        b"PROXY TCP4 " + b"\x00" * 20 + b"\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\x00",
        # v2: bad version, command, family; address block too short; a
        # length over the 16 KiB slot
        V2SIG + b"\x11\x11\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x31\x11\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x22\x11\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x2f\x11\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x21\x41\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x21\x13\x00\x0c" + b"\0" * 12,
        V2SIG + b"\x21\x11\x00\x0b" + b"\0" * 11,
        V2SIG + b"\x21\x21\x00\x10" + b"\0" * 16,
        V2SIG + b"\x21\x31\x00\x20" + b"\0" * 32,
        V2SIG + b"\x21\x11\xff\xff" + b"\0" * 100,
        V2SIG[:11] + b"X" + b"\x21\x11\x00\x0c" + b"\0" * 12,
        # a TLS ClientHello where the header should be
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40,
    ]
    return out


def _refused_header(port, data):
    """Send data (a PROXY header and a ClientHello) in one go; stud must
    close without answering. Returns None, or the first bytes stud
    answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=CLOSE_TIMEOUT)
    try:
        try:
            s.sendall(data)
            got = s.recv(5)
        except OSError as e:
            if not _closed_error(e):
                raise
            return None
        return got or None
    finally:
        s.close()


def test_proxy_header_every_field_malformed(guarded):
    g = guarded("--proxy-proxy", legit=proxied_legit)
    headers = _bad_proxy_headers()
    ch = client_hello()
    accepted = {}

    def attack():
        for h in headers:
            # a complete malformed header is refused at once, without our
            # EOF, and without a word (an answer would be a ServerHello:
            # the header was taken as valid)
            got = _refused_header(g.s.port, h + ch)
            if got is not None:
                accepted[h] = got[:5]
            # the same in two pieces, then our EOF
            send_and_expect_close(g.s.port, [h[:3], h[3:]], pause=0.01)
        # many at once (those refused one by one)
        flood(g.s.port, (h + ch for h in headers * 4 if h not in accepted),
              concurrency=50)

    g.run(attack)
    assert not accepted, ("stud took malformed PROXY headers as valid "
                          "(and answered the ClientHello behind them): %r"
                          % sorted(accepted))
    # nothing from a malformed header reached the backend: every backend
    # connection was a legitimate client's (3 before the attack, 1 after,
    # and those of the legitimate client's loop)
    legit_requests = g.ok + 3 + 1
    assert g.backend.accepted == legit_requests, (
        "backend accepted %d connections for %d legitimate requests"
        % (g.backend.accepted, legit_requests))


# ---------------------------------------------------------------------------
# privileges: a worker cannot get at the private key file again
# ---------------------------------------------------------------------------
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (setuid/chroot)")


def _ids(status, key):
    return [int(x) for x in status[key].split()]


def _as_user(pw, *cmd):
    """Run cmd with nobody's uid/gid and no supplementary groups, no
    capabilities (setpriv from util-linux)."""
    return subprocess.run(
        ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
         "--clear-groups", "--inh-caps=-all"] + list(cmd),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)


@needs_root
@pytest.mark.parametrize("jail", [False, True], ids=["user", "user+chroot"])
def test_worker_cannot_reopen_private_key(start_stud, backend, certs, jail):
    if which("setpriv") is None:
        pytest.skip("setpriv not installed (Debian: util-linux)")
    pw = pwd.getpwnam("nobody")
    # the key file: root's, mode 0600, in a directory anyone may search
    # (so that only the file's own mode keeps others out)
    keydir = Path(tempfile.mkdtemp(prefix="stud-key-"))
    jaildir = Path(tempfile.mkdtemp(prefix="stud-jail-"))
    try:
        os.chmod(keydir, 0o755)
        os.chmod(jaildir, 0o755)
        pem = keydir / "site.pem"
        shutil.copyfile(certs.rsa_pem, pem)
        os.chmod(pem, 0o600)
        assert os.stat(pem).st_uid == 0

        be = backend("http")
        extra = ["-u", "nobody"] + (["-r", str(jaildir)] if jail else [])
        s = start_stud(be.port, *extra, pem=pem)
        (w,) = s.wait_workers(1)
        http_legit(s.port)

        # credentials: nobody, no groups, no capabilities at all
        st = proc_status(w)
        assert _ids(st, "Uid") == [pw.pw_uid] * 4, st["Uid"]
        assert _ids(st, "Gid") == [pw.pw_gid] * 4, st["Gid"]
        assert st["Groups"] == "", st["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(st[cap], 16) == 0, "%s: %s" % (cap, st[cap])

        # no descriptor left open on the key file (or any PEM)
        for fd in os.listdir("/proc/%d/fd" % w):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (w, fd))
            except OSError:
                continue
            assert target != str(pem) and not target.endswith(".pem"), (
                "worker fd %s -> %s" % (fd, target))

        # the worker's root, and whether the key is in sight there
        root = os.readlink("/proc/%d/root" % w)
        if jail:
            assert root == str(jaildir), root
            assert not os.path.lexists("/proc/%d/root%s" % (w, pem)), (
                "the key path exists inside the worker's chroot")
        else:
            assert root == "/", root

        # the effect: a process with the worker's credentials cannot open
        # the key ...
        r = _as_user(pw, "cat", str(pem))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (
            r.returncode, r.stderr, r.stdout[:100])
        # ... nor, in the worker's chroot, even find it
        if jail:
            code = ("import os, sys\n"
                    "os.chroot(sys.argv[1]); os.chdir('/')\n"
                    "os.setgroups([]); os.setgid(%d); os.setuid(%d)\n"
                    "try:\n"
                    "    open(sys.argv[2], 'rb')\n"
                    "except FileNotFoundError:\n"
                    "    sys.exit(3)\n"
                    "except PermissionError:\n"
                    "    sys.exit(4)\n"
                    "sys.exit(0)\n" % (pw.pw_gid, pw.pw_uid))
            r = subprocess.run(["/usr/bin/python3", "-c", code, str(jaildir),
                                str(pem)], capture_output=True, text=True,
                               timeout=20)
            assert r.returncode == 3, (r.returncode, r.stderr)
        # ... nor read the worker's memory (where the key is): the worker
        # is not dumpable after its change of uid, so another process of
        # the same user cannot ptrace it or read /proc/PID/mem or maps
        r = _as_user(pw, "cat", "/proc/%d/maps" % w)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (
            "a process of user nobody can read worker %d's maps (rc %d)"
            % (w, r.returncode))
        http_legit(s.port)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
        shutil.rmtree(jaildir, ignore_errors=True)
