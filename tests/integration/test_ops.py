"""Operations: timeouts, connection limits, descriptor pressure, graceful
shutdown and reload."""

import os
import resource
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from backend import HTTP_BODY, free_port
from harness import (alive, fd_count, http_get, recv_exact, tls_connect,
                     wait_until)


def _body(raw):
    return raw.partition(b"\r\n\r\n")[2]


def _closed_within(sock, seconds):
    """True if the peer closes sock (EOF or reset) within seconds."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        return not isinstance(e, socket.timeout)


def test_handshake_timeout_closes_silent_client(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port, "--ssl-handshake-timeout=1")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", s.port), 5) as c:
        assert _closed_within(c, 5.0), "silent client not closed"
    took = time.monotonic() - t0
    assert 0.8 <= took < 4.0, took


def test_many_silent_clients_do_not_block_service(start_stud, backend):
    """2,000 clients that never send a ClientHello are held open together;
    a legitimate client is still served, and all of them are closed after
    the handshake timeout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2000 + 500)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n = min(2000, want - 300)
    be = backend("http")
    s = start_stud(be.port, "--ssl-handshake-timeout=3", "-B", "4096")
    (worker,) = s.wait_workers(1)
    silent = []
    try:
        for _ in range(n):
            silent.append(socket.create_connection(("127.0.0.1", s.port), 5))
        assert wait_until(lambda: fd_count(worker) >= n, 5.0), \
            "stud did not accept the silent clients"
        raw, _ = http_get(s.port)
        assert _body(raw) == HTTP_BODY
        for c in silent[:50]:
            assert _closed_within(c, 6.0)
        assert wait_until(lambda: fd_count(worker) < 100, 6.0), \
            "silent clients were not all closed"
    finally:
        for c in silent:
            c.close()


def _unaccepting_backend():
    """A listener that never accepts, its one-slot queue already full, so a
    further connect stays pending."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(lsock.getsockname())
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.2)
    return lsock, fillers


def test_backend_connect_timeout(start_stud):
    lsock, fillers = _unaccepting_backend()
    try:
        port = lsock.getsockname()[1]
        s = start_stud(port, "--backend-connect-timeout=1")
        t0 = time.monotonic()
        c = tls_connect(s.port)
        c.sendall(b"hello")
        assert _closed_within(c, 6.0), "client not closed"
        took = time.monotonic() - t0
        assert 0.8 <= took < 4.0, took
        c.close()
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def test_idle_timeout_closes_idle_not_busy(start_stud, backend):
    be = backend("echo")
    s = start_stud(be.port, "--idle-timeout=1")
    idle = tls_connect(s.port)
    busy = tls_connect(s.port)
    try:
        t0 = time.monotonic()
        for i in range(12):          # 3 s of traffic, a message every 0.25 s
            busy.sendall(b"x%02d" % i)
            assert recv_exact(busy, 3) == b"x%02d" % i
            time.sleep(0.25)
        assert time.monotonic() - t0 > 2.5
        assert _closed_within(idle, 0.5), "idle connection still open"
        busy.sendall(b"end")
        assert recv_exact(busy, 3) == b"end", "busy connection was closed"
    finally:
        idle.close()
        busy.close()


def test_idle_timeout_while_coalescing_an_upload(start_stud):
    """A client streams records (stud coalesces its reads) into a backend
    that never reads, then both sides go quiet: --idle-timeout still
    closes the connection (the coalescing timer hands back to it)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)              # never accepted: nothing is ever read
    try:
        s = start_stud(lsock.getsockname()[1], "--idle-timeout=1",
                       "--upload-coalesce=1000")
        c = tls_connect(s.port)
        c.settimeout(0.2)
        chunk = os.urandom(64 << 10)
        sent, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 5:   # until every buffer is full
            try:
                sent += c.send(chunk)
            except (socket.timeout, ssl.SSLWantWriteError):
                break
        assert sent >= 256 << 10, sent
        t0 = time.monotonic()
        assert _closed_within(c, 6.0), "stuck upload never timed out"
        # 1 s after stud's last progress, a little before our last send
        assert 0.3 <= time.monotonic() - t0 < 4.0
        c.close()
    finally:
        lsock.close()


def test_max_connections_per_worker(start_stud, backend):
    be = backend("echo")
    s = start_stud(be.port, "--max-connections=2")
    a, b = tls_connect(s.port), tls_connect(s.port)
    try:
        for c in (a, b):
            c.sendall(b"hi")
            assert recv_exact(c, 2) == b"hi"
        # the third is not accepted (it waits in the backlog) ...
        third = socket.create_connection(("127.0.0.1", s.port), 5)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        third.settimeout(1.0)
        t = ctx.wrap_socket(third, server_hostname="localhost",
                            do_handshake_on_connect=False)
        with pytest.raises((socket.timeout, TimeoutError)):
            t.do_handshake()
        # ... until one of the two closes
        a.close()
        t.settimeout(5.0)
        t.do_handshake()
        t.sendall(b"ok")
        assert recv_exact(t, 2) == b"ok"
        t.close()
    finally:
        a.close()
        b.close()


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def test_descriptor_exhaustion_no_busy_loop_and_recovery(start_stud, backend):
    """With a 64-descriptor limit (set on the running worker) it runs out while accepting: it
    keeps serving its open connection, pauses accepting instead of
    spinning, and serves new clients once descriptors free up."""
    be = backend("echo")
    s = start_stud(be.port)
    (worker,) = s.wait_workers(1)
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (64, 64))
    established = tls_connect(s.port)
    flood = []
    try:
        established.sendall(b"one")
        assert recv_exact(established, 3) == b"one"
        for _ in range(80):
            flood.append(socket.create_connection(("127.0.0.1", s.port), 5))
        assert wait_until(lambda: "pausing" in s.stderr(), 5.0), \
            "worker never hit the descriptor limit"
        cpu0 = _cpu_seconds(worker)
        time.sleep(2.0)
        used = _cpu_seconds(worker) - cpu0
        assert used < 0.3, "worker burnt %.2fs CPU in 2s at the limit" % used
        established.sendall(b"two")
        assert recv_exact(established, 3) == b"two"
    finally:
        for c in flood:
            c.close()
        established.close()
    raw = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with tls_connect(s.port, timeout=3) as c:
                c.sendall(b"back")
                raw = recv_exact(c, 4)
            break
        except (OSError, ssl.SSLError):
            time.sleep(0.2)
    assert raw == b"back", "not serving again after descriptors freed"
    assert alive(worker)


# ---------------------------------------------------------------------------
# log file, levels, SIGUSR1
# ---------------------------------------------------------------------------
import re

CONN_RE = re.compile(r"^\S+Z stud\[(\d+)\]: client=([\d.]+):(\d+) "
                     r"backend=([\d.]+):(\d+) in=(\d+) out=(\d+) "
                     r"duration=(\d+\.\d{3}) "
                     r"handshake=(none|full|full-stud|resumed|resumed-stud) "
                     r"close=(.+)$")


def _start_logging(start_stud, be_port, log, *extra):
    s = start_stud(be_port, "--log-file=%s" % log, *extra, wait=False)
    m = []

    def listening():
        text = log.read_text() if log.exists() else ""
        m[:] = re.findall(r"listening on \[[^\]]*\]:(\d+)", text)
        return m

    assert wait_until(listening, 10.0), s.stderr()
    s.port = int(m[0])
    return s


def _conn_lines(log):
    return [CONN_RE.match(line) for line in log.read_text().splitlines()
            if " client=" in line]


def test_log_level_2_line_per_connection(start_stud, backend, tmp_path):
    be = backend("echo")
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, be.port, log, "--log-level=2")
    (worker,) = s.wait_workers(1)
    c = tls_connect(s.port)
    client_port = c.getsockname()[1]
    c.sendall(b"x" * 1000)
    assert recv_exact(c, 1000) == b"x" * 1000
    socket.socket.shutdown(c, socket.SHUT_WR)
    while c.recv(4096):
        pass
    c.close()
    assert wait_until(lambda: _conn_lines(log), 5.0), log.read_text()
    (m,) = _conn_lines(log)
    assert m, "line does not match the documented format"
    assert int(m.group(1)) == worker
    assert (m.group(2), int(m.group(3))) == ("127.0.0.1", client_port)
    assert (m.group(4), int(m.group(5))) == ("127.0.0.1", be.port)
    assert (int(m.group(6)), int(m.group(7))) == (1000, 1000)
    # a TLS 1.3 client offering X25519 first: stud's own handshake
    assert m.group(9) == "full-stud"
    assert m.group(10) == "done"
    assert s.stderr() == "", "with --log-file nothing goes to stderr"


def test_log_level_2_reports_why(start_stud, tmp_path):
    dead = free_port()
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, dead, log, "--log-level=2",
                       "--ssl-handshake-timeout=1")
    c = tls_connect(s.port)
    _closed_within(c, 5.0)
    c.close()
    silent = socket.create_connection(("127.0.0.1", s.port), 5)
    _closed_within(silent, 5.0)
    silent.close()
    assert wait_until(lambda: len(_conn_lines(log)) == 2, 5.0), \
        log.read_text()
    whys = sorted(m.group(10) for m in _conn_lines(log))
    assert whys == ["backend connect failed", "handshake timeout"], whys


def test_log_levels_0_and_1(start_stud, backend, tmp_path):
    be = backend("http")
    log1 = tmp_path / "one.log"
    s1 = _start_logging(start_stud, be.port, log1)
    http_get(s1.port)
    log0 = tmp_path / "zero.log"
    s0 = start_stud(be.port, "--log-file=%s" % log0, "--log-level=0",
                    "-f", "127.0.0.1,%d" % free_port(), wait=False)
    assert wait_until(lambda: s0.workers(), 5.0)
    s1.stop()
    s0.stop()
    text1 = log1.read_text()
    assert "worker 0 started" in text1 and " client=" not in text1
    assert log0.read_text() == "", "level 0 logs only errors and warnings"


def test_sigusr1_reopens_moved_log_file(start_stud, backend, tmp_path):
    be = backend("http")
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, be.port, log, "--log-level=2")
    http_get(s.port)
    assert wait_until(lambda: len(_conn_lines(log)) == 1, 5.0)
    rotated = tmp_path / "stud.log.1"
    log.rename(rotated)
    os.kill(s.pid, signal.SIGUSR1)
    assert wait_until(lambda: log.exists(), 5.0), "not reopened"
    http_get(s.port)
    assert wait_until(lambda: len(_conn_lines(log)) == 1, 5.0), \
        "the new connection was not logged to the new file"
    assert len(_conn_lines(rotated)) == 1
    assert "log file reopened" in log.read_text()


def _limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError("no fd limit line")


def test_fd_limit_raised_and_warned(start_stud, backend):
    be = backend("http")
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, old[1]))
    try:
        s = start_stud(be.port, "--max-connections=1000000")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    (worker,) = s.wait_workers(1)
    soft, hard = _limits(worker)
    assert hard != "256"
    assert soft == hard, "soft limit not raised to the hard limit"
    assert "cannot hold --max-connections=1000000" in s.stderr()


def test_backend_accepting_late_is_still_served(start_stud):
    """The backend's accept queue is full when stud connects; it frees up
    after a second: within --backend-connect-timeout the client is served."""
    lsock, fillers = _unaccepting_backend()
    try:
        port = lsock.getsockname()[1]
        s = start_stud(port, "--backend-connect-timeout=10")
        c = tls_connect(s.port)
        c.sendall(b"late")
        time.sleep(1.0)
        for f in fillers:            # drain the queue: accept and drop
            f.close()
        lsock.settimeout(10)
        conn = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn, _ = lsock.accept()
            conn.settimeout(0.5)
            try:
                data = conn.recv(4)
            except socket.timeout:
                data = b""
            if data == b"late":
                break
            conn.close()
            conn = None
        assert conn is not None, "stud's connection never arrived"
        conn.sendall(b"served")
        assert recv_exact(c, 6) == b"served"
        conn.close()
        c.close()
    finally:
        for f in fillers:
            f.close()
        lsock.close()
