"""Integration tests for the core stud daemon (TLS termination, proxying,
half-close, process supervision, startup errors).

Run:  /usr/bin/python3 -m pytest -q tests/integration
"""

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from backend import HTTP_BODY, free_port
from harness import (BioClient, alive, client_context,
                     echo_roundtrip, fd_count, http_get, listening_ports,
                     recv_all, recv_exact, recv_hash, tcp_segments_in,
                     run_stud_expect_failure, tcp_shut_wr, tls_connect,
                     vmrss_kib, wait_until, SANITIZED)

MiB = 1 << 20


def _body(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no header/body separator in response %r" % raw[:200]
    return head, body


# ---------------------------------------------------------------------------
# basic serving
# ---------------------------------------------------------------------------
def test_listening_line_and_single_worker(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port)
    assert s.host == "127.0.0.1"
    assert 0 < s.port < 65536
    # default -n 1: exactly one worker, a direct child of the parent
    assert len(s.wait_workers(1)) == 1


def test_curl_request(start_stud, backend, certs):
    be = backend("http")
    s = start_stud(be.port)
    # verified against the self-signed cert (name localhost)
    r = subprocess.run(
        ["curl", "-sS", "--max-time", "15", "--cacert", str(certs.rsa_crt),
         "--resolve", "localhost:%d:127.0.0.1" % s.port,
         "https://localhost:%d/" % s.port],
        capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == HTTP_BODY
    # and unverified by IP address
    r = subprocess.run(["curl", "-sSk", "--max-time", "15",
                        "https://127.0.0.1:%d/" % s.port],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == HTTP_BODY
    assert be.accepted == 2


def test_python_ssl_request(start_stud, backend, certs):
    be = backend("http")
    s = start_stud(be.port)
    ctx = client_context(cafile=certs.rsa_crt)   # verifies chain + hostname
    with tls_connect(s.port, ctx=ctx) as c:
        der = c.getpeercert(binary_form=True)
        c.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        raw, clean = recv_all(c, limit=MiB)
    head, body = _body(raw)
    assert head.startswith(b"HTTP/1.0 200 OK")
    assert body == HTTP_BODY
    assert clean, "backend EOF must reach the client as a TLS close_notify"
    assert der == ssl.PEM_cert_to_DER_cert(certs.rsa_crt.read_text())


def test_ecdsa_certificate(start_stud, backend, certs):
    be = backend("http")
    s = start_stud(be.port, pem=certs.ec_pem)
    ctx = client_context(cafile=certs.ec_crt)
    with tls_connect(s.port, ctx=ctx) as c:
        der = c.getpeercert(binary_form=True)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw, _ = recv_all(c, limit=MiB)
    assert _body(raw)[1] == HTTP_BODY
    assert der == ssl.PEM_cert_to_DER_cert(certs.ec_crt.read_text())


def test_cipher_option(start_stud, backend):
    be = backend("http")
    cipher = "ECDHE-RSA-AES128-GCM-SHA256"
    s = start_stud(be.port, "-c", cipher)
    # the TLS 1.2 cipher list only matters for TLS <= 1.2
    ctx = client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:" + cipher)
    with tls_connect(s.port, ctx=ctx) as c:
        assert c.cipher()[0] == cipher
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw, _ = recv_all(c, limit=MiB)
    assert _body(raw)[1] == HTTP_BODY


def test_prefer_server_ciphers(start_stud, backend):
    """-c sets the server's order; the server's order wins only with -O."""
    be = backend("http")
    server_order = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
    client_order = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
    got = {}
    for flag in ("", "-O"):
        extra = ["-c", server_order] + ([flag] if flag else [])
        s = start_stud(be.port, *extra)
        ctx = client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(client_order)
        with tls_connect(s.port, ctx=ctx) as c:
            got[flag] = c.cipher()[0]
        s.stop()
    assert got == {"": "ECDHE-RSA-AES256-GCM-SHA384",
                   "-O": "ECDHE-RSA-AES128-GCM-SHA256"}


def test_pem_with_dh_params(start_stud, backend, certs):
    """DH parameters in the PEM file are used for DHE key exchange."""
    be = backend("http")
    s = start_stud(be.port, pem=certs.rsa_dh_pem)
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % s.port,
         "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    assert "DHE-RSA-AES128-GCM-SHA256" in out, out + r.stderr.decode()
    assert "Server Temp Key: DH, 3072 bits" in out, out
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY


def test_version_option(stud_bin):
    r = subprocess.run([stud_bin, "-V"], capture_output=True, timeout=5)
    assert r.returncode == 0
    assert b"stud" in (r.stdout + r.stderr)


def test_quiet_option(start_stud, backend):
    """-q: no 'listening on' line (nothing on stderr), still serves; the
    port is found through /proc."""
    be = backend("http")
    s = start_stud(be.port, "-q", wait=False)
    ports = wait_until(lambda: s.proc.poll() is None and s.workers()
                       and listening_ports(s.pid), 5.0)
    assert ports and len(ports) == 1, ("no single listening port found: %r; "
                                       "stderr: %r" % (ports, s.stderr()))
    raw, _ = http_get(ports.pop())
    assert _body(raw)[1] == HTTP_BODY
    assert s.stderr() == ""


def test_bracket_address_syntax(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port, frontend="[127.0.0.1]:0",
                   backend_spec="[127.0.0.1]:%d" % be.port)
    assert s.host == "127.0.0.1"
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY


def test_ipv6_frontend(start_stud, backend, certs):
    try:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.bind(("::1", 0))
        t.close()
    except OSError as e:
        pytest.skip("::1 not available: %s" % e)
    be = backend("http")
    s = start_stud(be.port, frontend="[::1]:0")
    assert s.host == "::1"
    ctx = client_context(cafile=certs.rsa_crt)
    raw, _ = http_get(s.port, host="::1", ctx=ctx)
    assert _body(raw)[1] == HTTP_BODY


# ---------------------------------------------------------------------------
# concurrency and bulk data
# ---------------------------------------------------------------------------
def test_50_parallel_clients(start_stud, backend):
    be = backend("echo")
    s = start_stud(be.port)
    n = 50
    results = [None] * n
    barrier = threading.Barrier(n, timeout=30)

    def client(i):
        payload = (b"client-%03d:" % i) + os.urandom(16 * 1024) + \
            (b":end-%03d" % i)
        try:
            barrier.wait()
            got = echo_roundtrip(s.port, payload)
            results[i] = (got == payload) or ("mismatch: %d bytes back of %d"
                                               % (len(got), len(payload)))
        except Exception as e:  # reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    failed = {i: r for i, r in enumerate(results) if r is not True}
    assert not failed, "clients failed: %r" % failed
    assert be.accepted == n


def test_exchanges_of_every_size_on_one_connection(start_stud, backend):
    """On one connection kept open, messages of 1 byte to several records
    (around the 16 KiB record and slot sizes, and past a full ring) come
    back whole before the next is sent: nothing stays held back for a
    packet that is never completed (stud sends records that are followed
    at once with MSG_MORE), in either direction."""
    be = backend("echo")
    s = start_stud(be.port)
    sizes = [1, 100, 16383, 16384, 16385, 32768, 65536, 65537, 200000, 7]
    with tls_connect(s.port) as c:
        for n in sizes:
            payload = os.urandom(n)
            c.sendall(payload)
            assert recv_exact(c, n) == payload, n


def test_upload_64mib_tcp_eof(start_stud, backend):
    be = backend("sink")
    s = start_stud(be.port)
    data = os.urandom(64 * MiB)
    want = hashlib.sha256(data).hexdigest()
    with tls_connect(s.port, timeout=60) as c:
        c.sendall(data)
        tcp_shut_wr(c)          # client EOF (no close_notify)
        reply, _ = recv_all(c, limit=1000)
    assert be.bytes_in == len(data)
    assert reply.decode() == want


def test_upload_close_notify(start_stud, backend):
    """TLS-level half-close: the client sends close_notify (and keeps its
    TCP connection open for reading); the backend sees EOF and its reply
    still reaches the client."""
    be = backend("sink")
    s = start_stud(be.port)
    data = os.urandom(8 * MiB)
    c = BioClient(s.port)
    try:
        c.send(data)
        c.close_notify()
        reply, _ = c.recv_all()
    finally:
        c.close()
    assert reply.decode() == hashlib.sha256(data).hexdigest()


def test_download_64mib(start_stud, backend):
    be = backend("source", size=64 * MiB)
    s = start_stud(be.port)
    with tls_connect(s.port, timeout=60) as c:
        got, n, clean = recv_hash(c)
    assert n == 64 * MiB
    assert got == be.digest
    assert clean, "stud must send close_notify after all data"


def test_half_close_reply_after_client_eof(start_stud, backend):
    be = backend("sink")
    s = start_stud(be.port)
    payload = b"half-close test payload " * 1000
    with tls_connect(s.port) as c:
        c.sendall(payload)
        tcp_shut_wr(c)
        # the backend only answers after it saw EOF: stud must have passed
        # the client's EOF on (shutdown SHUT_WR) while keeping the
        # backend->client direction open
        assert be.eof_seen.wait(10), "backend never saw the client's EOF"
        time.sleep(0.3)
        reply, clean = recv_all(c, limit=1000)
    assert reply.decode() == hashlib.sha256(payload).hexdigest()
    assert clean, "no close_notify after the backend's EOF"


# ---------------------------------------------------------------------------
# failing backend, slow reader
# ---------------------------------------------------------------------------
def _expect_closed(port):
    """Connect, try to talk; the connection must be closed by stud (not time
    out).  A handshake failure also counts as closed."""
    try:
        c = tls_connect(port, timeout=10)
    except (ssl.SSLError, ConnectionError) as e:
        return "handshake: %r" % e
    with c:
        try:
            c.sendall(b"hello?")
        except (ssl.SSLError, ConnectionError, BrokenPipeError):
            pass
        try:
            data = c.recv(1024)
        except (ssl.SSLError, ConnectionError) as e:
            return "recv: %r" % e
        except socket.timeout:
            raise AssertionError("connection to stud not closed within 10 s "
                                 "although the backend refuses connections")
        assert data == b"", "unexpected data %r" % data
        return "eof"


def test_backend_refused_then_available(start_stud, backend):
    port = free_port()
    s = start_stud(port)
    worker = s.wait_workers(1)
    _expect_closed(s.port)                 # warm-up (lazy initialisation)
    time.sleep(0.3)
    before = fd_count(worker[0])
    for _ in range(20):
        _expect_closed(s.port)
    # stud may close its side a moment after the client saw it
    wait_until(lambda: fd_count(worker[0]) == before, 3.0)
    after = fd_count(worker[0])
    assert after == before, ("fd leak: worker %d had %d fds, now %d: %s"
                             % (worker[0], before, after,
                                sorted(os.listdir("/proc/%d/fd" % worker[0]))))
    assert s.proc.poll() is None
    # now the backend comes up on that same port: same stud, same worker
    be = backend("echo", port=port)
    payload = b"back in business " + os.urandom(1000)
    assert echo_roundtrip(s.port, payload) == payload
    assert s.workers() == worker
    assert be.accepted == 1


@pytest.mark.parametrize("waiting", ["header", "client bytes"])
def test_backend_handshake_ack_rides_with_the_first_bytes(start_stud, waiting):
    # with bytes already waiting for the backend (--write-ip's header, or
    # what the client sent with its Finished), stud's ACK of the SYN-ACK goes
    # out with them: the backend gets the SYN, then only segments with data
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    lst.settimeout(10)
    if waiting == "header":
        s = start_stud(lst.getsockname()[1], "--write-ip")
        expect = b"\x02\x7f\x00\x00\x01"
        c = BioClient(s.port)
    else:
        s = start_stud(lst.getsockname()[1])
        expect = b"ping"
        c = BioClient(s.port, ctx=client_context(
            maximum_version=ssl.TLSVersion.TLSv1_3), first=expect)
    try:
        b, _ = lst.accept()
        b.settimeout(10)
        assert recv_exact(b, len(expect)) == expect
        segs, data_segs = tcp_segments_in(b)
        assert (segs, data_segs) == (2, 1), \
            "backend received %d segments, %d with data" % (segs, data_segs)
        c.send(b"more")
        assert recv_exact(b, 4) == b"more"
        b.close()
    finally:
        c.close()
        lst.close()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_backend_that_speaks_first_is_reached_at_once(start_stud, backend,
                                                      version):
    # with nothing to send yet, stud must not hold the connection's last
    # ACK back (the kernel would send it only 200 ms later): a backend that
    # greets first (SMTP, IMAP...) is reached as soon as the handshake ends
    be = backend("source", size=16)
    s = start_stud(be.port)
    v = getattr(ssl.TLSVersion, version)
    ctx = client_context(maximum_version=v)
    ctx.minimum_version = v
    c = tls_connect(s.port, ctx=ctx)
    t0 = time.monotonic()
    first = c.recv(16)
    waited = time.monotonic() - t0
    assert first, "no greeting from the backend"
    assert waited < 0.15, "greeting came %.3f s after the handshake" % waited
    c.close()


def test_slow_reader_bounded_memory(start_stud, backend):
    size = 32 * MiB
    be = backend("source", size=size, sndbuf=64 * 1024)
    s = start_stud(be.port)
    worker = s.wait_workers(1)[0]
    time.sleep(0.2)
    base = vmrss_kib(worker)
    with tls_connect(s.port, timeout=30, rcvbuf=64 * 1024) as c:
        peak = base
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:       # client does not read
            peak = max(peak, vmrss_kib(worker))
            time.sleep(0.05)
        sent_while_stalled = be.bytes_out
        assert SANITIZED or (peak - base) < 8 * 1024, (
            "worker RSS grew by %d KiB (base %d KiB, peak %d KiB) while the "
            "client was not reading; backend had sent %d bytes"
            % (peak - base, base, peak, sent_while_stalled))
        assert sent_while_stalled < size, (
            "stud read all %d bytes from the backend although the client "
            "read nothing (no back-pressure)" % size)
        got, n, _ = recv_hash(c)
    assert n == size
    assert got == be.digest


# ---------------------------------------------------------------------------
# process supervision
# ---------------------------------------------------------------------------
def test_worker_respawn(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port, "-n", "4")
    old = s.wait_workers(4)
    victim = old[1]
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()

    def replaced():
        w = s.workers()
        return len(w) == 4 and victim not in w and w

    new = wait_until(replaced, 1.0, interval=0.01)
    elapsed = time.monotonic() - t0
    assert new, ("workers not back to 4 within 1 s of SIGKILL of %d: %r"
                 % (victim, s.workers(include_zombies=True)))
    assert set(old) - set(new) == {victim}
    assert len(set(new) - set(old)) == 1, (old, new)
    assert s.proc.poll() is None
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY, "served after respawn (%.2fs)" % elapsed


def test_worker_drains_when_parent_dies(start_stud, backend):
    """A worker whose parent died stops accepting, finishes its open
    connection, then exits."""
    be = backend("echo")
    s = start_stud(be.port)
    (worker,) = s.wait_workers(1)
    conn = tls_connect(s.port)
    try:
        conn.sendall(b"ping")
        assert recv_exact(conn, 4) == b"ping"
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(timeout=5)

        def refused():
            try:
                socket.create_connection(("127.0.0.1", s.port), 1).close()
            except ConnectionRefusedError:
                return True
            return False

        assert wait_until(refused, 3.0), "still accepting after parent died"
        assert alive(worker), "worker quit with a connection still open"
        conn.sendall(b"pong")
        assert recv_exact(conn, 4) == b"pong", "open connection not served"
    finally:
        conn.close()
    assert wait_until(lambda: not alive(worker), 5.0), \
        "worker did not exit after its last connection closed"


def test_client_renegotiation_refused(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port)
    # s_client's "R" command asks for a TLS 1.2 renegotiation
    script = "sleep 1; printf 'R\\n'; sleep 2"
    r = subprocess.run(
        ["sh", "-c", "(%s) | openssl s_client -tls1_2 -connect 127.0.0.1:%d"
         % (script, s.port)], capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert "RENEGOTIATING" in out, out[-2000:]
    assert "no renegotiation" in out, out[-2000:]
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY, "stud still serves after the attempt"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_stops_everything(start_stud, backend, sig):
    be = backend("http")
    s = start_stud(be.port, "-n", "2")
    workers = s.wait_workers(2)
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY
    s.send_signal(sig)
    try:
        rc = s.proc.wait(5)
    except subprocess.TimeoutExpired:
        pytest.fail("parent still running 5 s after %s" % sig.name)
    assert rc == 0, "exit code %r after %s; stderr:\n%s" % (rc, sig.name,
                                                          s.stderr())
    left = wait_until(lambda: not [p for p in workers if alive(p)], 2.0)
    assert left, "workers still alive after parent exit: %r" % [
        p for p in workers if alive(p)]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.port), timeout=5).close()


# ---------------------------------------------------------------------------
# bad input at startup
# ---------------------------------------------------------------------------
class _Listener:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]


def _nonlocal_bind_enabled():
    try:
        with open("/proc/sys/net/ipv4/ip_nonlocal_bind") as f:
            return f.read().strip() != "0"
    except OSError:
        return False


BAD_CASES = [
    # id, args builder(certs, backend_port, listener) -> (args, tokens)
    ("missing-pem", lambda c, bp, l: (
        ["-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % bp, c.missing_pem],
        [c.missing_pem.name])),
    ("malformed-pem", lambda c, bp, l: (
        ["-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % bp, c.malformed_pem],
        [c.malformed_pem.name])),
    ("key-mismatch", lambda c, bp, l: (
        ["-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % bp, c.mismatched_pem],
        [c.mismatched_pem.name])),
    ("port-in-use", lambda c, bp, l: (
        ["-f", "127.0.0.1,%d" % l.port, "-b", "127.0.0.1,%d" % bp, c.rsa_pem],
        [str(l.port)])),
    ("addr-not-local", lambda c, bp, l: (
        ["-f", "192.0.2.1,0", "-b", "127.0.0.1,%d" % bp, c.rsa_pem],
        ["192.0.2.1"])),
    ("unresolvable-frontend", lambda c, bp, l: (
        ["-f", "no-such-host.invalid,0", "-b", "127.0.0.1,%d" % bp, c.rsa_pem],
        ["no-such-host.invalid"])),
    ("unresolvable-backend", lambda c, bp, l: (
        ["-f", "127.0.0.1,0", "-b", "no-such-host.invalid,%d" % bp, c.rsa_pem],
        ["no-such-host.invalid"])),
    ("unknown-option", lambda c, bp, l: (
        ["--no-such-option", "-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % bp,
         c.rsa_pem],
        ["no-such-option"])),
    ("workers-not-a-number", lambda c, bp, l: (
        ["-n", "abc", "-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % bp,
         c.rsa_pem],
        ["abc", "-n", "workers"])),
    ("frontend-no-comma", lambda c, bp, l: (
        ["-f", "nocomma", "-b", "127.0.0.1,%d" % bp, c.rsa_pem],
        ["nocomma"])),
    ("backend-port-range", lambda c, bp, l: (
        ["-f", "127.0.0.1,0", "-b", "host,99999", c.rsa_pem],
        ["99999"])),
]


@pytest.mark.parametrize("case", [c[1] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input(stud_bin, certs, case, request):
    if request.node.callspec.id == "addr-not-local" and \
            _nonlocal_bind_enabled():
        pytest.skip("net.ipv4.ip_nonlocal_bind is on")
    listener = _Listener()
    try:
        args, tokens = case(certs, free_port(), listener)
        rc, err, secs = run_stud_expect_failure(args, timeout=5.0)
    finally:
        listener.sock.close()
    lines = err.splitlines()
    assert rc != 0, "exit code 0 for %r" % args
    assert secs < 3.0, "took %.1fs to fail" % secs
    assert len(lines) == 1, "expected exactly one stderr line, got %d:\n%s" % (
        len(lines), err)
    line = lines[0]
    assert line.startswith("stud: ") and len(line) > len("stud: "), line
    assert any(str(t) in line for t in tokens), (
        "stderr line %r names none of %r" % (line, tokens))


# ---------------------------------------------------------------------------
# resets, crash loops
# ---------------------------------------------------------------------------
def _raw_backend():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(10)
    return lsock


def _rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def _closed_or_reset(sock, timeout):
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("side", ["client", "backend"])
def test_reset_on_one_side_closes_both(start_stud, side):
    lsock = _raw_backend()
    try:
        s = start_stud(lsock.getsockname()[1])
        (worker,) = s.wait_workers(1)
        base = fd_count(worker)
        client = tls_connect(s.port)
        client.sendall(b"hi")
        bconn, _ = lsock.accept()
        assert recv_exact_raw(bconn, 2) == b"hi"
        if side == "client":
            _rst_close(socket.socket(fileno=client.detach()))
            assert _closed_or_reset(bconn, 5.0), "backend side left open"
            bconn.close()
        else:
            _rst_close(bconn)
            assert _closed_or_reset(client, 5.0), "client side left open"
            client.close()
        assert wait_until(lambda: fd_count(worker) == base, 5.0), \
            "descriptors not released"
        assert s.workers() == [worker]
    finally:
        lsock.close()


def recv_exact_raw(sock, n):
    sock.settimeout(10)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_signals_ignored_by_whoever_started_it(start_stud, backend):
    # a shell's background job starts with SIGINT ignored (and a careless
    # starter may leave SIGCHLD ignored): stud must still stop on SIGINT and
    # still see, and replace, a worker that dies
    be = backend("echo")
    old = {sig: signal.signal(sig, signal.SIG_IGN)
           for sig in (signal.SIGINT, signal.SIGCHLD)}
    try:
        s = start_stud(be.port, "-n", "2")
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    first = s.wait_workers(2)
    os.kill(first[0], signal.SIGKILL)
    assert wait_until(lambda: len(s.workers()) == 2 and
                      first[0] not in s.workers(), 5.0), \
        "the killed worker was not replaced: %r" % s.workers()
    assert echo_roundtrip(s.port, b"still serving") == b"still serving"
    os.kill(s.pid, signal.SIGINT)
    assert s.proc.wait(timeout=5) == 0


def test_crash_loop_backs_off(start_stud, backend):
    """A worker that keeps dying young is replaced after a growing delay, so
    a crash loop cannot spin the CPU; service comes back afterwards."""
    be = backend("http")
    s = start_stud(be.port)
    seen = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4.0:
        for pid in s.workers():
            if pid not in seen:
                seen[pid] = time.monotonic()
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    spawns = sorted(seen.values())
    gaps = [b - a for a, b in zip(spawns, spawns[1:])]
    assert 3 <= len(spawns) <= 10, (len(spawns), gaps)
    assert gaps[-1] >= 0.7, "respawn delay did not grow: %r" % gaps
    assert "replacing it" in s.stderr()
    # it comes back on its own once the deaths stop
    assert wait_until(lambda: s.workers(), 12.0, interval=0.05)
    raw, _ = http_get(s.port)
    assert _body(raw)[1] == HTTP_BODY


# ---------------------------------------------------------------------------
# the build and the demo
# ---------------------------------------------------------------------------
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_make_builds_and_cleans(tmp_path):
    """A copy of the tracked sources builds ./stud with -Werror; make clean
    removes everything the build made."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True,
                           text=True, check=True, timeout=30).stdout.split()
    src = tmp_path / "src"
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_bytes(open(os.path.join(REPO, f), "rb").read())
    r = subprocess.run(["make", "-s", "stud"], cwd=src, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert os.access(src / "stud", os.X_OK)
    v = subprocess.run([str(src / "stud"), "-V"], capture_output=True,
                       text=True, timeout=10)
    assert v.stdout.startswith("stud ")
    r = subprocess.run(["make", "-s", "clean"], cwd=src, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not (src / "stud").exists() and not (src / "build").exists()
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                  if p.is_file()) == sorted(files), "clean left files"


def test_demo_script_serves_the_printed_curl(tmp_path):
    """tests/demo.sh (what `make run` starts after building) makes a
    certificate, starts the demo backend and stud, and prints a curl command
    that works. Ports are free ones here, via its environment overrides."""
    port, bport = free_port(), free_port()
    env = dict(os.environ, STUD_DEMO_PORT=str(port),
               STUD_DEMO_BACKEND_PORT=str(bport))
    out = tmp_path / "demo.out"
    with open(out, "wb") as f:
        p = subprocess.Popen(["sh", os.path.join(REPO, "tests", "demo.sh")],
                             stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
    try:
        curl_line = "curl -k https://127.0.0.1:%d/" % port
        assert wait_until(lambda: curl_line in out.read_text()
                          and "listening on" in out.read_text(), 30.0), \
            out.read_text()

        def served():
            r = subprocess.run(curl_line.split() + ["-sS", "--max-time",
                               "5"], capture_output=True, timeout=10)
            return r.returncode == 0 and r.stdout
        body = wait_until(served, 10.0)
        assert body and b"Hello from the stud demo backend" in body
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
