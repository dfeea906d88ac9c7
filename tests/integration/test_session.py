"""Session resumption: ticket keys shared by all workers and, with
--ticket-key-file, by several stud instances; the shared session cache
(USE_SHARED_CACHE=1 builds) for TLS 1.2 session-ID resumption."""

import os
import socket
import ssl
import subprocess

import pytest

from harness import http_get, run_stud_expect_failure, wait_until

ATTEMPTS = 40


def _ctx(maximum=None, tickets=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def _request(ctx, port, session=None):
    """One HTTP exchange; returns (session, reused). The whole reply is read
    so that TLS 1.3 tickets sent after the handshake are taken in."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    # as curl and browsers do: without it the client's CCS and Finished
    # records meet Nagle and the server's delayed ACK (40 ms each time)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with ctx.wrap_socket(raw, server_hostname="localhost",
                         session=session) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        while True:
            try:
                if not s.recv(65536):
                    break
            except ssl.SSLError:
                break
        return s.session, s.session_reused


def _resumed_count(ctx, port, attempts=ATTEMPTS):
    session, reused = _request(ctx, port)
    assert not reused
    n = 0
    for _ in range(attempts):
        _, reused = _request(ctx, port, session)
        n += reused
    return n


def _key_file(tmp_path, name):
    r = subprocess.run(["openssl", "rand", "-base64", "80"],
                       capture_output=True, check=True, timeout=10)
    p = tmp_path / name
    p.write_bytes(r.stdout.replace(b"\n", b"") + b"\n")
    return p


def test_tickets_resume_on_every_worker(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port, "-n", "4")
    s.wait_workers(4)
    assert _resumed_count(_ctx(), s.port) == ATTEMPTS


def test_ticket_key_file_shared_between_instances(start_stud, backend,
                                                  tmp_path):
    be = backend("http")
    k1 = _key_file(tmp_path, "k1")
    k2 = _key_file(tmp_path, "k2")
    a = start_stud(be.port, "--ticket-key-file=%s" % k1)
    b = start_stud(be.port, "--ticket-key-file=%s" % k1)
    c = start_stud(be.port, "--ticket-key-file=%s" % k2)
    ctx = _ctx(maximum=ssl.TLSVersion.TLSv1_3)
    session, reused = _request(ctx, a.port)
    assert not reused and session.has_ticket
    assert _request(ctx, b.port, session)[1], "same key file: resumed"
    assert not _request(ctx, c.port, session)[1], "other key: full handshake"


def test_ticket_key_rotation_old_key_still_decrypts(start_stud, backend,
                                                    tmp_path):
    """The first line encrypts, every line decrypts: a ticket made under the
    old key resumes on an instance whose file has a new key first."""
    be = backend("http")
    old = _key_file(tmp_path, "old")
    new = _key_file(tmp_path, "new")
    both = tmp_path / "both"
    both.write_bytes(new.read_bytes() + old.read_bytes())
    a = start_stud(be.port, "--ticket-key-file=%s" % old)
    b = start_stud(be.port, "--ticket-key-file=%s" % both)
    ctx = _ctx(maximum=ssl.TLSVersion.TLSv1_3)
    session, _ = _request(ctx, a.port)
    assert _request(ctx, b.port, session)[1]


def _tls13_handshake(port):
    """Open a TLS 1.3 client over a memory BIO: returns (raw socket,
    SSLObject, its outgoing BIO) with the handshake done on the client's
    side and its Finished still to send. The caller closes raw."""
    ctx = _ctx()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        try:
            tls.do_handshake()
            return raw, tls, out
        except ssl.SSLWantReadError:
            raw.sendall(out.read())
            data = raw.recv(65536)
            assert data, "stud closed during the handshake"
            inc.write(data)


def _tls13_tickets_sent(port):
    """Complete a TLS 1.3 handshake (OpenSSL's: --tls13-handshake=openssl)
    and send nothing: count the records stud sends after its Finished (each
    is one NewSessionTicket, since the HTTP backend says nothing before a
    request)."""
    raw, _, out = _tls13_handshake(port)
    with raw:
        raw.sendall(out.read())		# the client's Finished
        raw.settimeout(1.0)		# tickets follow within 0.2 s; quiet
        after = b""
        try:
            while True:
                data = raw.recv(65536)
                if not data:
                    break
                after += data
        except socket.timeout:
            pass
    records = 0
    while len(after) >= 5:
        assert after[0] == 23, after[:5]	# application_data wrapping
        after = after[5 + int.from_bytes(after[3:5], "big"):]
        records += 1
    assert after == b""
    return records


def test_tls13_ticket_waits_for_the_first_reply_but_not_forever(
        start_stud, backend):
    """After OpenSSL's TLS 1.3 handshake the ticket is held to share a
    packet with the first reply: with a backend that never answers, nothing
    reaches the client at once after its Finished and request, yet the
    ticket still arrives on its own within seconds. (stud's own handshake
    sends its tickets with its flight: test_hs13.py.)"""
    be = backend("sink")
    s = start_stud(be.port, "--tls13-handshake=openssl")
    raw, tls, out = _tls13_handshake(s.port)
    with raw:
        tls.write(b"hello")
        raw.sendall(out.read())		# Finished and the request
        raw.settimeout(0.05)
        with pytest.raises(socket.timeout):
            raw.recv(65536)
        raw.settimeout(5)
        assert len(raw.recv(65536)) > 0	# the ticket, unprompted


@pytest.mark.parametrize("arg,want", [(None, 1), ("0", 0), ("3", 3)])
def test_tls13_tickets_per_handshake(start_stud, backend, arg, want):
    """--tls13-tickets sets how many tickets follow a full TLS 1.3
    handshake (default 1, OpenSSL's own default being 2), and a client
    still resumes with the one it gets."""
    be = backend("http")
    extra = [] if arg is None else ["--tls13-tickets=" + arg]
    s = start_stud(be.port, "--tls13-handshake=openssl", *extra)
    assert _tls13_tickets_sent(s.port) == want
    resumed = _resumed_count(_ctx(), s.port, attempts=3)
    assert resumed == (3 if want else 0)


@pytest.mark.parametrize("content", [b"", b"not base64!\n",
                                     b"c2hvcnQ=\n"],
                         ids=["empty", "garbage", "short"])
def test_ticket_key_file_errors(stud_bin, certs, tmp_path, content):
    p = tmp_path / "keys"
    p.write_bytes(content)
    rc, err, _ = run_stud_expect_failure(
        ["--ticket-key-file=%s" % p, "-t", str(certs.rsa_pem)])
    assert rc != 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stud: "), err
    assert str(p) in lines[0]


# ---------------------------------------------------------------------------
# shared session cache (TLS 1.2 session IDs; the client refuses tickets)
# ---------------------------------------------------------------------------
RESUMPTIONS = 500


def _shared_build(stud_bin):
    out = subprocess.run([stud_bin, "-V"], capture_output=True, text=True,
                         timeout=10).stdout
    return "shared session cache" in out


def _tls12_ctx():
    return _ctx(maximum=ssl.TLSVersion.TLSv1_2, tickets=False)


def test_session_id_resumption_across_workers(start_stud, backend, stud_bin):
    """With USE_SHARED_CACHE=1, -n 4 -C 1000: at least 99% of 500 session-ID
    resumptions succeed whichever worker takes them. The default build
    (no -C) shows the per-worker loss: measured, and clearly below that."""
    be = backend("http")
    shared = _shared_build(stud_bin)
    extra = ["-n", "4"] + (["-C", "1000"] if shared else [])
    s = start_stud(be.port, *extra)
    s.wait_workers(4)
    ctx = _tls12_ctx()
    resumed = _resumed_count(ctx, s.port, RESUMPTIONS)
    ratio = resumed / RESUMPTIONS
    print("session-ID resumptions with 4 workers, %s build: %d/%d (%.1f%%)"
          % ("shared-cache" if shared else "default", resumed, RESUMPTIONS,
             100 * ratio))
    if shared:
        assert ratio >= 0.99, ratio
    else:
        assert ratio < 0.9, "per-worker caches should lose resumptions"


def _shared_only(stud_bin):
    if not _shared_build(stud_bin):
        pytest.skip("needs a USE_SHARED_CACHE=1 build (make test runs both)")


def test_shared_cache_lru_eviction(start_stud, backend, stud_bin):
    _shared_only(stud_bin)
    be = backend("http")
    s = start_stud(be.port, "-C", "16")
    ctx = _tls12_ctx()
    sessions = [_request(ctx, s.port)[0] for _ in range(17)]
    # the 17th evicted the least recently used: the 1st. Check the others
    # first (a failed resumption would store a new session and evict more).
    assert _request(ctx, s.port, sessions[1])[1], "2nd session kept"
    assert _request(ctx, s.port, sessions[16])[1], "17th session kept"
    assert not _request(ctx, s.port, sessions[0])[1], "1st session evicted"


def test_tls13_sessions_stay_out_of_the_shared_cache(start_stud, backend,
                                                     stud_bin):
    """TLS 1.3 sessions resume from their stateless tickets, never by ID:
    they are not stored in the shared cache, so 40 TLS 1.3 handshakes do not
    evict a TLS 1.2 session from a 16-slot cache (and TLS 1.3 still
    resumes)."""
    _shared_only(stud_bin)
    be = backend("http")
    s = start_stud(be.port, "-C", "16")
    ctx12 = _tls12_ctx()
    kept, _ = _request(ctx12, s.port)
    for _ in range(40):
        _request(_ctx(), s.port)	# a fresh TLS 1.3 client each time
    assert _request(ctx12, s.port, kept)[1], "TLS 1.2 session kept"
    assert _resumed_count(_ctx(), s.port, attempts=3) == 3


def test_shared_cache_survives_killed_workers(start_stud, backend, stud_bin):
    """Workers SIGKILLed while clients resume (so likely inside the cache)
    do not wedge the others: resumption keeps working afterwards."""
    import os
    import signal
    import threading
    _shared_only(stud_bin)
    be = backend("http")
    s = start_stud(be.port, "-n", "4", "-C", "1000")
    s.wait_workers(4)
    ctx = _tls12_ctx()
    session, _ = _request(ctx, s.port)
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                _request(ctx, s.port, session)
            except (OSError, ssl.SSLError):
                pass

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(6):
            victim = s.wait_workers(4)[0]
            os.kill(victim, signal.SIGKILL)
            assert wait_until(lambda: victim not in s.workers() and
                              len(s.workers()) == 4, 5.0), s.stderr()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    s.wait_workers(4)
    session, _ = _request(ctx, s.port)
    resumed = _resumed_count(ctx, s.port, 100)
    assert resumed >= 99, resumed


# ---------------------------------------------------------------------------
# UDP peer sync between stud instances
# ---------------------------------------------------------------------------
def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        return u.getsockname()[1]


def _sync_key(tmp_path):
    r = subprocess.run(["openssl", "rand", "-base64", "32"],
                       capture_output=True, check=True, timeout=10)
    p = tmp_path / "sync.key"
    p.write_bytes(r.stdout)
    return p


def _peer(start_stud, be_port, key, listen, *peers):
    args = ["-C", "100", "--shared-cache-key=%s" % key,
            "-U", "127.0.0.1,%d" % listen]
    for p in peers:
        args += ["-P", "127.0.0.1,%d" % p]
    return start_stud(be_port, *args)


def test_peers_resume_each_others_sessions(start_stud, backend, stud_bin,
                                           tmp_path):
    _shared_only(stud_bin)
    be = backend("http")
    key = _sync_key(tmp_path)
    ua, ub = _free_udp_port(), _free_udp_port()
    a = _peer(start_stud, be.port, key, ua, ub)
    b = _peer(start_stud, be.port, key, ub, ua)
    ctx = _tls12_ctx()
    import time
    for first, second in ((a, b), (b, a)):
        session, reused = _request(ctx, first.port)
        assert not reused
        time.sleep(0.2)      # the UDP packet's way to the peer
        assert _request(ctx, second.port, session)[1], \
            "session made on one peer not resumed on the other"


def test_peer_packets_forged_replayed_truncated_are_dropped(
        start_stud, backend, stud_bin, tmp_path):
    import re
    import time
    _shared_only(stud_bin)
    be = backend("http")
    key = _sync_key(tmp_path)
    spy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spy.bind(("127.0.0.1", 0))
    spy.settimeout(5)
    try:
        ua, ub = _free_udp_port(), _free_udp_port()
        a = _peer(start_stud, be.port, key, ua, ub, spy.getsockname()[1])
        b = _peer(start_stud, be.port, key, ub)
        ctx = _tls12_ctx()
        session, _ = _request(ctx, a.port)
        pkt = spy.recv(2048)           # the genuine packet A sent
        time.sleep(0.2)
        assert _request(ctx, b.port, session)[1], "B got A's session"
        forged = bytearray(pkt)
        forged[40] ^= 0x01
        for p in (pkt, pkt[:40], bytes(forged)):   # replay, cut, forged
            spy.sendto(p, ("127.0.0.1", ub))

        def counts():
            m = re.findall(r"(\d+) forged, (\d+) replayed, \d+ stale, "
                           r"(\d+) truncated", b.stderr())
            return m and tuple(map(int, m[-1])) == (1, 1, 1)

        assert wait_until(counts, 5.0), b.stderr()
        assert _request(ctx, b.port, session)[1], "B still serves"
    finally:
        spy.close()


def test_peer_sync_needs_key_and_cache(stud_bin, certs):
    rc, err, _ = run_stud_expect_failure(
        ["-U", "127.0.0.1,%d" % _free_udp_port(), "-t", str(certs.rsa_pem)])
    assert rc != 0 and "--shared-cache-key" in err


def test_peers_over_multicast(start_stud, backend, stud_bin, tmp_path):
    """-M lo: both instances join a group on the loopback interface; a
    session made on one resumes on the other."""
    import random
    import time
    _shared_only(stud_bin)
    be = backend("http")
    key = _sync_key(tmp_path)
    group = "239.%d.%d.%d" % tuple(random.randint(1, 254) for _ in range(3))
    port = _free_udp_port()
    args = ["-C", "100", "--shared-cache-key=%s" % key, "-M", "lo",
            "-U", "%s,%d" % (group, port), "-P", "%s,%d" % (group, port)]
    a = start_stud(be.port, *args)
    b = start_stud(be.port, *args)
    ctx = _tls12_ctx()
    session, _ = _request(ctx, a.port)
    time.sleep(0.3)
    assert _request(ctx, b.port, session)[1]


def test_peer_sync_unknown_interface(stud_bin, certs, tmp_path):
    if not _shared_build(stud_bin):
        pytest.skip("needs a USE_SHARED_CACHE=1 build")
    key = _sync_key(tmp_path)
    rc, err, _ = run_stud_expect_failure(
        ["-C", "10", "--shared-cache-key=%s" % key, "-M", "nosuchif0",
         "-U", "239.1.2.3,%d" % _free_udp_port(), "-f", "127.0.0.1,0",
         str(certs.rsa_pem)])
    assert rc != 0 and "nosuchif0" in err and len(err.splitlines()) == 1


def test_ticket_key_file_reread_on_reload(start_stud, backend, tmp_path):
    import os
    import signal
    import time
    be = backend("http")
    keys = tmp_path / "keys"
    k1, k2 = _key_file(tmp_path, "k1"), _key_file(tmp_path, "k2")
    keys.write_bytes(k1.read_bytes())
    a = start_stud(be.port, "--ticket-key-file=%s" % keys)
    b = start_stud(be.port, "--ticket-key-file=%s" % k2)
    ctx = _ctx(maximum=ssl.TLSVersion.TLSv1_3)
    old, _ = _request(ctx, a.port)
    keys.write_bytes(k2.read_bytes())
    os.kill(a.pid, signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in a.stderr(), 10.0)
    time.sleep(0.2)
    assert not _request(ctx, a.port, old)[1], "old key still decrypts"
    new, _ = _request(ctx, a.port)
    assert _request(ctx, b.port, new)[1], "new key (shared with b) not used"


def test_failed_reload_keeps_ticket_keys(start_stud, backend, tmp_path):
    """A reload that fails after reading a new ticket key file (here: its
    frontend cannot be bound) changes nothing: a worker respawned afterwards
    still decrypts tickets made under the old key."""
    import os
    import signal
    be = backend("http")
    keys = tmp_path / "keys"
    keys.write_bytes(_key_file(tmp_path, "k1").read_bytes())
    port = _free_tcp_port()
    conf = tmp_path / "stud.conf"
    conf.write_text('frontend = "[127.0.0.1]:%d"\nticket-key-file = "%s"\n'
                    % (port, keys))
    s = start_stud(be.port, "--config=%s" % conf, frontend="127.0.0.1,0")
    (worker,) = s.wait_workers(1)
    ctx = _ctx(maximum=ssl.TLSVersion.TLSv1_3)
    old, _ = _request(ctx, port)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        keys.write_bytes(_key_file(tmp_path, "k2").read_bytes())
        conf.write_text('frontend = "[127.0.0.1]:%d"\nticket-key-file = "%s"\n'
                        % (busy.getsockname()[1], keys))
        os.kill(s.pid, signal.SIGHUP)
        assert wait_until(lambda: "reload failed" in s.stderr(), 10.0)
        os.kill(worker, signal.SIGKILL)
        assert wait_until(lambda: worker not in s.workers() and
                          len(s.workers()) == 1, 5.0)
        assert _request(ctx, port, old)[1], \
            "the respawned worker lost the running ticket keys"
    finally:
        busy.close()


def _free_tcp_port():
    with socket.socket() as t:
        t.bind(("127.0.0.1", 0))
        return t.getsockname()[1]


# ---------------------------------------------------------------------------
# stud's own TLS 1.2 session-ID resumption (--resumption=stud, the default)

def _kinds(log):
    """The handshake= field of every per-connection log line, in order."""
    from test_ops import _conn_lines
    return [m.group(9) for m in _conn_lines(log)]


def _echo_exchange(ctx, port, session=None, size=100000):
    """Send size random bytes through stud to an echo backend and read them
    back; returns (session, reused)."""
    data = os.urandom(size)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with ctx.wrap_socket(raw, server_hostname="localhost",
                         session=session) as s:
        s.sendall(data)
        got = b""
        while len(got) < size:
            chunk = s.recv(65536)
            assert chunk, "connection closed early"
            got += chunk
        assert got == data, "echoed bytes differ"
        return s.session, s.session_reused


@pytest.mark.parametrize("who,kind", [("stud", "resumed-stud"),
                                      ("openssl", "resumed")])
def test_session_id_resumption_by_stud_or_openssl(start_stud, backend,
                                                  tmp_path, who, kind):
    """Python's ssl resumes a TLS 1.2 session by ID 10 times, 100 kB echoed
    intact each time; the log names who resumed it (--log-level=2)."""
    from test_ops import _start_logging
    be = backend("echo")
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, be.port, log, "--log-level=2",
                       "--resumption=%s" % who)
    ctx = _tls12_ctx()
    session, reused = _echo_exchange(ctx, s.port)
    assert not reused
    for _ in range(10):
        _, reused = _echo_exchange(ctx, s.port, session)
        assert reused
    assert wait_until(lambda: len(_kinds(log)) == 11, 5.0), log.read_text()
    # the full handshake is stud's own (hs12.c)
    assert _kinds(log) == ["full-stud"] + [kind] * 10


def test_stud_resumption_with_openssl_and_gnutls_clients(start_stud, backend,
                                                         tmp_path, certs):
    """openssl s_client (-sess_out, then -sess_in) and gnutls-cli --resume
    resume TLS 1.2 sessions through stud's own path; the HTTP reply comes
    back on the resumed connection."""
    from test_ops import _start_logging
    be = backend("http")
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, be.port, log, "--log-level=2")
    sess = tmp_path / "sess.pem"
    base = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % s.port,
            "-tls1_2", "-no_ticket", "-ign_eof"]
    req = b"GET / HTTP/1.0\r\n\r\n"
    r = subprocess.run(base + ["-sess_out", str(sess)], input=req,
                       capture_output=True, timeout=20)
    assert b"New, TLSv1.2" in r.stdout, r.stdout[-2000:]
    r = subprocess.run(base + ["-sess_in", str(sess)], input=req,
                       capture_output=True, timeout=20)
    assert b"Reused, TLSv1.2" in r.stdout, r.stdout[-2000:]
    assert b"200 OK" in r.stdout
    r = subprocess.run(["gnutls-cli", "--insecure", "--resume", "--priority",
                        "NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_TICKETS",
                        "-p", str(s.port), "127.0.0.1"], input=b"",
                       capture_output=True, timeout=30)
    assert b"This is a resumed session" in r.stdout, r.stdout[-2000:]
    assert wait_until(lambda: len(_kinds(log)) == 4, 5.0), log.read_text()
    # s_client's full handshake is stud's own (hs12.c), gnutls-cli's
    # OpenSSL's (its first group is P-256)
    assert _kinds(log) == ["full-stud", "resumed-stud", "full",
                           "resumed-stud"]


@pytest.mark.parametrize("case", ["tickets", "alpn", "tls13-client"])
def test_resumptions_stud_leaves_to_openssl(start_stud, backend, tmp_path,
                                            case):
    """Clients this path does not take still resume, through OpenSSL: a
    TLS 1.2 client offering a ticket, any client when --alpn-protos is set,
    a TLS 1.3 client (its own PSK resumption)."""
    from test_ops import _start_logging
    be = backend("echo")
    log = tmp_path / "stud.log"
    extra = ["--alpn-protos=http/1.1"] if case == "alpn" else []
    s = _start_logging(start_stud, be.port, log, "--log-level=2", *extra)
    if case == "tickets":
        ctx = _ctx(maximum=ssl.TLSVersion.TLSv1_2)
    elif case == "alpn":
        ctx = _tls12_ctx()
        ctx.set_alpn_protocols(["http/1.1"])
    else:
        ctx = _ctx()
    session, _ = _echo_exchange(ctx, s.port)
    for _ in range(3):
        _, reused = _echo_exchange(ctx, s.port, session)
        assert reused
    assert wait_until(lambda: len(_kinds(log)) == 4, 5.0), log.read_text()
    # a full handshake is stud's own (hs13.c, hs12.c) but with
    # --alpn-protos; the tickets OpenSSL's to resume
    first = "full" if case == "alpn" else "full-stud"
    assert _kinds(log) == [first] + ["resumed"] * 3


def _data_kib(pid):
    """The worker's heap and anonymous mappings, touched or not."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmData:"):
            return int(line.split()[1])
    return 0


def test_silent_connections_hold_no_read_buffer(start_stud, backend):
    """stud reads each ClientHello itself first (for its own resumption),
    but a connection that has sent nothing yet holds no read buffer: 400
    silent connections grow the worker's data by far less than 400 buffers
    of 64 KiB (26 MB), and they still get served once they speak."""
    be = backend("http")
    s = start_stud(be.port)
    (worker,) = s.wait_workers(1)
    http_get(s.port)			# warm up: pools, caches
    before = _data_kib(worker)
    socks = [socket.create_connection(("127.0.0.1", s.port), timeout=10)
             for _ in range(400)]
    try:
        assert wait_until(lambda: len(os.listdir(
            "/proc/%d/fd" % worker)) >= 400, 5.0)
        grown = _data_kib(worker) - before
        print("worker data grew %d KiB for 400 silent connections" % grown)
        assert grown < 6000, grown
        ctx = _tls12_ctx()
        with ctx.wrap_socket(socks[0], server_hostname="localhost") as t:
            t.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert b"200 OK" in t.recv(65536)
    finally:
        for c in socks:
            c.close()
