"""Leak check (issue: sanitizers): with the AddressSanitizer build, 10,000
connections and a reload, then a graceful stop: LeakSanitizer, run by every
process as it exits, must report nothing. `make sanitize` runs the whole
suite against that build; this test only runs there."""

import os
import signal
import socket
import ssl
import threading

import pytest

from harness import SANITIZED, wait_until

LOGS = os.environ.get("STUD_SANITIZER_LOGS", "")
CONNECTIONS = 10000
THREADS = 4


def _reports():
    return sorted(os.listdir(LOGS)) if LOGS and os.path.isdir(LOGS) else []


@pytest.mark.skipif(not SANITIZED or not LOGS,
                    reason="needs the ASan build with STUD_SANITIZER_LOGS "
                    "(make sanitize)")
def test_no_leak_over_10000_connections_and_a_reload(start_stud, backend):
    before = _reports()
    be = backend("echo")
    s = start_stud(be.port, "-n", "2")
    s.wait_workers(2)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    counts = {"ok": 0, "fail": 0}
    lock = threading.Lock()
    sessions = [None] * THREADS

    def run(k, n):
        for _ in range(n):
            try:
                raw = socket.create_connection(("127.0.0.1", s.port), 10)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname="localhost",
                                     session=sessions[k]) as c:
                    c.sendall(b"ping")
                    good = c.recv(4) == b"ping"
                    sessions[k] = c.session
            except (OSError, ssl.SSLError):
                good = False
            with lock:
                counts["ok" if good else "fail"] += 1

    half = CONNECTIONS // 2 // THREADS
    for phase in range(2):
        threads = [threading.Thread(target=run, args=(k, half))
                   for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        if phase == 0:
            os.kill(s.pid, signal.SIGHUP)
            assert wait_until(lambda: "configuration reloaded" in s.stderr(),
                              20.0)
    assert counts["ok"] == CONNECTIONS and counts["fail"] == 0, counts
    s.stop()
    assert s.proc.returncode == 0
    new = [r for r in _reports() if r not in before]
    texts = [open(os.path.join(LOGS, r), errors="replace").read()[:3000]
             for r in new]
    assert new == [], "sanitizer reports:\n" + "\n".join(texts)
