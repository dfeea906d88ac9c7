"""Reload on SIGHUP and graceful shutdown: new certificates and frontends
take effect, transfers in flight complete, nothing is refused or reset, a
broken configuration changes nothing, and the parent does not grow."""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import threading
import time

from backend import HTTP_BODY, free_port
from harness import (SANITIZED, alive, fd_count, http_get, tls_connect,
                     vmrss_kib, wait_until)

MiB = 1 << 20


def _body(raw):
    return raw.partition(b"\r\n\r\n")[2]


def _der(crt_path):
    return ssl.PEM_cert_to_DER_cert(crt_path.read_text())


def _peer_der(port):
    with tls_connect(port) as c:
        return c.getpeercert(binary_form=True)


def _reloads(s):
    return s.stderr().count("configuration reloaded")


def _hup(s, expect_ok=True, timeout=10.0):
    before = _reloads(s), s.stderr().count("reload failed")
    os.kill(s.pid, signal.SIGHUP)
    if expect_ok:
        ok = wait_until(lambda: _reloads(s) > before[0], timeout)
    else:
        ok = wait_until(lambda: s.stderr().count("reload failed") >
                        before[1], timeout)
    assert ok, "no reload outcome logged:\n" + s.stderr()[-2000:]


def test_reload_new_certificate_while_transfer_in_flight(start_stud, backend,
                                                         certs, tmp_path):
    """New connections see the new certificate; a 256 MiB download started
    before the reload completes with the right SHA-256."""
    be = backend("source", size=256 * MiB)
    pem = tmp_path / "site.pem"
    shutil.copy(certs.rsa_pem, pem)
    s = start_stud(be.port, pem=pem)
    (old_worker,) = s.wait_workers(1)
    assert _peer_der(s.port) == _der(certs.rsa_crt)
    h = hashlib.sha256()
    n = 0
    with tls_connect(s.port, timeout=60) as c:
        while n < 8 * MiB:
            b = c.recv(262144)
            h.update(b)
            n += len(b)
        shutil.copy(certs.ec_pem, pem)
        _hup(s)
        assert _peer_der(s.port) == _der(certs.ec_crt), "new cert not used"
        assert alive(old_worker), "old worker left with a transfer in flight"
        while True:
            b = c.recv(262144)
            if not b:
                break
            h.update(b)
            n += len(b)
    assert n == 256 * MiB
    assert h.hexdigest() == be.digest
    assert wait_until(lambda: not alive(old_worker), 10.0), \
        "old worker did not exit after its last connection"


def test_reload_under_load_zero_failures(start_stud, backend):
    """Clients hammering while 20 reloads happen see no failure."""
    be = backend("http")
    s = start_stud(be.port, "-n", "2")
    s.wait_workers(2)
    stop = threading.Event()
    results = {"ok": 0, "fail": []}
    lock = threading.Lock()

    def hammer():
        while not stop.is_set():
            try:
                raw, _ = http_get(s.port)
                good = _body(raw) == HTTP_BODY
                err = None if good else "bad body %r" % raw[:80]
            except (OSError, ssl.SSLError) as e:
                err = repr(e)
            with lock:
                if err is None:
                    results["ok"] += 1
                else:
                    results["fail"].append(err)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(20):
            _hup(s)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert results["fail"] == [], results["fail"][:5]
    assert results["ok"] > 50, results
    assert len(s.wait_workers(2)) == 2


def test_parent_does_not_grow_over_50_reloads(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port)
    _hup(s)
    assert wait_until(lambda: len(s.workers()) == 1, 10.0)
    fds1, rss1 = fd_count(s.pid), vmrss_kib(s.pid)
    for _ in range(49):
        _hup(s)
    assert wait_until(lambda: len(s.workers()) == 1, 10.0)
    fds50, rss50 = fd_count(s.pid), vmrss_kib(s.pid)
    assert fds50 == fds1, (fds1, fds50)
    assert SANITIZED or rss50 - rss1 < 512, "parent grew %d KiB" % (
        rss50 - rss1)
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY


def test_reload_with_broken_configuration_changes_nothing(start_stud, backend,
                                                          certs, tmp_path):
    be = backend("http")
    pem = tmp_path / "site.pem"
    shutil.copy(certs.rsa_pem, pem)
    conf = tmp_path / "stud.conf"
    conf.write_text("workers = 2\n")
    s = start_stud(be.port, "--config=%s" % conf, pem=pem)
    workers = s.wait_workers(2)
    # an unknown key in the file
    conf.write_text("workers = 3\nno-such-key = 1\n")
    _hup(s, expect_ok=False)
    assert "no-such-key" in s.stderr().splitlines()[-1]
    # a certificate that does not parse
    conf.write_text("workers = 3\n")
    pem.write_bytes(certs.malformed_pem.read_bytes())
    _hup(s, expect_ok=False)
    assert str(pem) in s.stderr().splitlines()[-1]
    assert sorted(s.workers()) == sorted(workers), "workers were replaced"
    assert _peer_der(s.port) == _der(certs.rsa_crt)
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY


def test_reload_moves_the_frontend(start_stud, backend, tmp_path):
    be = backend("http")
    p1, p2 = free_port(), free_port()
    conf = tmp_path / "stud.conf"
    conf.write_text('frontend = "[127.0.0.1]:%d"\n' % p1)
    s = start_stud(be.port, "--config=%s" % conf, frontend="127.0.0.1,%d" % p1)
    conf.write_text('frontend = "[127.0.0.1]:%d"\n' % p2)
    _hup(s)
    raw, _ = http_get(p2)
    assert _body(raw) == HTTP_BODY

    def old_closed():
        try:
            socket.create_connection(("127.0.0.1", p1), 1).close()
        except ConnectionRefusedError:
            return True
        return False

    assert wait_until(old_closed, 10.0), "old frontend still open"


def test_sigterm_lets_a_transfer_finish(start_stud, backend):
    be = backend("source", size=64 * MiB)
    s = start_stud(be.port, "--shutdown-timeout=20")
    h = hashlib.sha256()
    n = 0
    with tls_connect(s.port, timeout=60) as c:
        b = c.recv(262144)
        h.update(b)
        n += len(b)
        os.kill(s.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert s.proc.poll() is None, "parent left before the transfer ended"
        while True:
            b = c.recv(262144)
            if not b:
                break
            h.update(b)
            n += len(b)
    assert n == 64 * MiB and h.hexdigest() == be.digest
    assert s.proc.wait(timeout=10) == 0


def test_sigint_stops_at_once(start_stud, backend):
    be = backend("source", size=256 * MiB)
    s = start_stud(be.port)
    with tls_connect(s.port, timeout=20) as c:
        c.recv(65536)
        t0 = time.monotonic()
        os.kill(s.pid, signal.SIGINT)
        assert s.proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 3.0
        n = 0
        try:
            while True:
                b = c.recv(262144)
                if not b:
                    break
                n += len(b)
        except (OSError, ssl.SSLError):
            pass
        assert n < 200 * MiB, "the transfer was not cut"
