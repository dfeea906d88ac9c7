"""Integration tests for stud's runtime options: client-address headers
(--write-ip, --write-proxy, --proxy-proxy), protocol selection (--tls/--ssl),
-e, privilege dropping (-u/-g/-r), syslog, keepalive and backlog, --daemon
with --pidfile, and the systemd notify socket.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_options.py
"""

import grp
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from backend import HTTP_BODY, free_port
from harness import (STUD_BIN, BioClient, alive, assert_one_line_error,
                     client_context, http_get, ipv6_loopback_available,
                     listening_ports, proc_stat_fields, proc_status,
                     read_pidfile, recv_all, run_stud, s_client,
                     tcp_shut_wr, tls_connect, wait_until, which, stud_env,
                     haproxy_accept_proxy_cfg)

AF_INET_OCTET = b"\x02"      # Linux AF_INET
AF_INET6_OCTET = b"\x0a"     # Linux AF_INET6

needs_ipv6 = pytest.mark.skipif(not ipv6_loopback_available(),
                                reason="::1 not available on this host")
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (setuid/chroot)")


def _body(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no header/body separator in response %r" % raw[:200]
    return body


def _send_and_finish(port, payload, host="127.0.0.1", source=None):
    """TLS-connect (optionally from `source`), send payload, half-close,
    read to EOF.  Returns the client socket's local (addr, port)."""
    with tls_connect(port, host=host, source=source, timeout=10) as c:
        local = c.getsockname()[:2]
        c.sendall(payload)
        tcp_shut_wr(c)
        recv_all(c, limit=1 << 16)
    return local


def _one_record(be, timeout=10.0):
    recs = be.wait_records(1, timeout)
    assert len(recs) == 1, ("backend got %d finished connections, expected "
                            "1: %r" % (len(recs), recs))
    return recs[0]


# ---------------------------------------------------------------------------
# --write-ip
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("client_ip", ["127.0.0.1", "127.0.0.2"])
def test_write_ip_ipv4(start_stud, backend, client_ip):
    be = backend("record")
    s = start_stud(be.port, "--write-ip", frontend="127.0.0.1,0")
    payload = b"payload after the address\n"
    _send_and_finish(s.port, payload, source=(client_ip, 0))
    got = _one_record(be)
    want = AF_INET_OCTET + socket.inet_aton(client_ip) + payload
    assert got == want, "backend got %r, expected %r" % (got, want)


@needs_ipv6
def test_write_ip_ipv6(start_stud, backend):
    be = backend("record")
    s = start_stud(be.port, "--write-ip", frontend="[::1]:0")
    assert s.host == "::1"
    payload = b"v6 payload"
    _send_and_finish(s.port, payload, host="::1")
    got = _one_record(be)
    want = AF_INET6_OCTET + socket.inet_pton(socket.AF_INET6, "::1") + payload
    assert got == want, "backend got %r, expected %r" % (got, want)


@needs_ipv6
def test_write_ip_wildcard_frontend_ipv4_client(start_stud, backend):
    """Bound to '*' (dual-stack [::]), an IPv4 client is still written as
    family 2 + 4 octets, not as an IPv4-mapped IPv6 address."""
    be = backend("record")
    s = start_stud(be.port, "--write-ip", frontend="*,0")
    assert s.host == "::", "expected a dual-stack [::] listener, got %r" % (
        s.host,)
    payload = b"via the wildcard"
    _send_and_finish(s.port, payload, source=("127.0.0.2", 0))
    got = _one_record(be)
    want = AF_INET_OCTET + socket.inet_aton("127.0.0.2") + payload
    assert got == want, "backend got %r, expected %r" % (got, want)


# ---------------------------------------------------------------------------
# --write-proxy
# ---------------------------------------------------------------------------
WRITE_PROXY_CASES = [
    # id, frontend, connect host, client source addr, proto, local addr text
    ("ipv4", "127.0.0.1,0", "127.0.0.1", "127.0.0.2", "TCP4", "127.0.0.1"),
    ("ipv6", "[::1]:0", "::1", "::1", "TCP6", "::1"),
    ("wildcard-v4-client", "*,0", "127.0.0.1", "127.0.0.2", "TCP4",
     "127.0.0.1"),
    ("wildcard-v6-client", "*,0", "::1", "::1", "TCP6", "::1"),
]


@pytest.mark.parametrize("case", [c[1:] for c in WRITE_PROXY_CASES],
                         ids=[c[0] for c in WRITE_PROXY_CASES])
def test_write_proxy_line(start_stud, backend, case):
    frontend, host, src, proto, local = case
    if ":" in host + frontend and not ipv6_loopback_available():
        pytest.skip("::1 not available")
    be = backend("record")
    s = start_stud(be.port, "--write-proxy", frontend=frontend)
    payload = b"GET / HTTP/1.0\r\n\r\n"
    caddr, cport = _send_and_finish(s.port, payload, host=host,
                                    source=(src, 0))
    assert caddr == src
    got = _one_record(be)
    want = ("PROXY %s %s %s %d %d\r\n" % (proto, src, local, cport,
                                          s.port)).encode() + payload
    assert got == want, "backend got %r, expected %r" % (got, want)


HAPROXY_CFG = haproxy_accept_proxy_cfg(
    "src=%[src] sport=%[src_port] dst=%[dst] dport=%[dst_port]")


def test_write_proxy_with_real_haproxy(start_stud, haproxy):
    hport = haproxy(HAPROXY_CFG)
    s = start_stud(hport, "--write-proxy", frontend="127.0.0.1,0")
    with tls_connect(s.port, source=("127.0.0.2", 0), timeout=10) as c:
        cport = c.getsockname()[1]
        c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        raw, _ = recv_all(c, limit=1 << 16)
    assert raw.startswith(b"HTTP/1.1 200"), raw
    body = _body(raw).decode()
    assert body == "src=127.0.0.2 sport=%d dst=127.0.0.1 dport=%d" % (
        cport, s.port), body


# ---------------------------------------------------------------------------
# --proxy-proxy
# ---------------------------------------------------------------------------
def _v2_tcp4(src, dst, sport, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport)
    return sig + b"\x21\x11" + struct.pack("!H", len(body)) + body


GOOD_HEADERS = [
    ("v1-tcp4", b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\n"),
    ("v1-tcp6", b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 443\r\n"),
    ("v1-unknown", b"PROXY UNKNOWN\r\n"),
    ("v2-tcp4", _v2_tcp4("192.0.2.8", "198.51.100.10", 40002, 8443)),
]


def tls_over(raw):
    return client_context().wrap_socket(raw, server_hostname="localhost",
                                        suppress_ragged_eofs=False)


def _proxied_roundtrip(port, header, payload, split):
    """Send header then TLS; return when the reply EOF arrives.  split:
    header in two pieces sent apart, then the ClientHello separately;
    otherwise header + ClientHello go out in a single send()."""
    if split:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            raw.sendall(header[:9])
            time.sleep(0.1)
            raw.sendall(header[9:])
            time.sleep(0.1)
            ctx_sock = tls_over(raw)
        except BaseException:
            raw.close()
            raise
        with ctx_sock as c:
            c.sendall(payload)
            tcp_shut_wr(c)
            recv_all(c, limit=1 << 16)
        return
    c = BioClient(port, prefix=header, timeout=10)
    try:
        c.send(payload)
        c.close_notify()
        c.recv_all()
    finally:
        c.close()


@pytest.mark.parametrize("split", [False, True], ids=["one-send", "split"])
@pytest.mark.parametrize("header", [h[1] for h in GOOD_HEADERS],
                         ids=[h[0] for h in GOOD_HEADERS])
def test_proxy_proxy_passes_header(start_stud, backend, header, split):
    be = backend("record")
    s = start_stud(be.port, "--proxy-proxy")
    payload = b"decrypted data after the header"
    _proxied_roundtrip(s.port, header, payload, split)
    got = _one_record(be)
    assert got == header + payload, ("backend got %r, expected %r"
                                     % (got, header + payload))


def _expect_dropped(port, data, timeout=5.0):
    """Send data in clear; stud must close the connection (EOF or reset)
    within timeout."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            raw.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return "reset on send"
        try:
            got = raw.recv(4096)
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            raise AssertionError("connection not closed within %.0fs after "
                                 "sending %r" % (timeout, data[:60]))
        assert got == b"", "unexpected data %r" % got[:100]
        return "eof"
    finally:
        raw.close()


BAD_HEADERS = [
    ("garbage-line", b"HELLO\r\n"),
    ("random-bytes", bytes(range(0x41, 0x41 + 26)) + b"\x00\xff\x13\r\n"),
    ("tls-without-header", b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03"),
    ("overlong-no-crlf", b"PROXY TCP4 " + b"1" * 120),
    ("overlong-with-crlf", b"PROXY TCP4 " + b"1" * 110 + b"\r\n"),
    ("bad-proto", b"PROXY TCP5 192.0.2.7 198.51.100.9 40000 443\r\n"),
    ("bad-src-ip", b"PROXY TCP4 192.0.2.256 198.51.100.9 40000 443\r\n"),
    ("bad-dst-ip", b"PROXY TCP4 192.0.2.7 198.51.100 40000 443\r\n"),
    ("v6-addr-in-tcp4", b"PROXY TCP4 ::1 ::1 40000 443\r\n"),
    ("v4-addr-in-tcp6", b"PROXY TCP6 192.0.2.7 198.51.100.9 40000 443\r\n"),
    ("bad-src-port", b"PROXY TCP4 192.0.2.7 198.51.100.9 65536 443\r\n"),
    ("bad-dst-port", b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 x443\r\n"),
    ("missing-field", b"PROXY TCP4 192.0.2.7 198.51.100.9 40000\r\n"),
    ("all-fields-bad", b"PROXY TCPX 999.1.1.1 abc -5 99999999\r\n"),
    ("lf-only", b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\n"),
    ("v2-bad-version", b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\0" * 12),
    ("v2-bad-family", b"\r\n\r\n\x00\r\nQUIT\n\x21\x99\x00\x0c" + b"\0" * 12),
]


@pytest.mark.parametrize("data", [b[1] for b in BAD_HEADERS],
                         ids=[b[0] for b in BAD_HEADERS])
def test_proxy_proxy_rejects_bad_header(start_stud, backend, data):
    be = backend("record")
    s = start_stud(be.port, "--proxy-proxy")
    _expect_dropped(s.port, data)
    # nothing reached the backend for the bad connection ...
    assert be.accepted == 0, "stud connected to the backend for a bad header"
    # ... and the same worker keeps serving a good one
    header = b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 443\r\n"
    _proxied_roundtrip(s.port, header, b"after", split=False)
    assert _one_record(be) == header + b"after"
    assert s.proc.poll() is None


MUTEX = ["--write-ip", "--write-proxy", "--proxy-proxy"]


@pytest.mark.parametrize("flags", [
    [MUTEX[0], MUTEX[1]], [MUTEX[0], MUTEX[2]], [MUTEX[1], MUTEX[2]], MUTEX],
    ids=["ip+proxy", "ip+proxyproxy", "proxy+proxyproxy", "all-three"])
def test_address_headers_mutually_exclusive(certs, flags):
    port = free_port()
    r = run_stud(flags + ["-f", "127.0.0.1,%d" % port, "-b", "127.0.0.1,1",
                          certs.rsa_pem], timeout=5)
    assert_one_line_error(r, "mutually exclusive")


# ---------------------------------------------------------------------------
# --tls / --ssl
# ---------------------------------------------------------------------------
def _protocol(out):
    m = re.search(r"^Protocol version: (\S+)$", out, re.M)
    return m.group(1) if m else None


def test_tls_and_ssl_conflict(certs):
    r = run_stud(["--tls", "--ssl", "-f", "127.0.0.1,0", certs.rsa_pem])
    assert_one_line_error(r, "--tls", "--ssl")


def test_tls_default_protocols(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port)
    weak = ("-cipher", "ALL:@SECLEVEL=0")   # the client would accept them
    for v, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(s.port, v)
        assert rc == 0 and _protocol(out) == want, "%s: %s" % (v, out)
    for v in ("-tls1_1", "-tls1"):
        rc, out = s_client(s.port, v, *weak)
        assert rc != 0 and _protocol(out) is None, "%s accepted: %s" % (v, out)
        assert "protocol version" in out, out   # refused by the server
    assert s.proc.poll() is None


def test_ssl_widens_protocols(start_stud, backend):
    """--ssl with @SECLEVEL=0 accepts TLS 1.0; --tls with the same ciphers
    refuses it with a protocol_version alert."""
    be = backend("http")
    weak = ("-cipher", "ALL:@SECLEVEL=0")
    s_ssl = start_stud(be.port, "--ssl", "-c", "ALL:@SECLEVEL=0")
    s_tls = start_stud(be.port, "--tls", "-c", "ALL:@SECLEVEL=0")
    rc, out = s_client(s_ssl.port, "-tls1", *weak)
    assert rc == 0 and _protocol(out) == "TLSv1", out
    rc, out = s_client(s_ssl.port, "-tls1_1", *weak)
    assert rc == 0 and _protocol(out) == "TLSv1.1", out
    rc, out = s_client(s_ssl.port, "-tls1_3")
    assert rc == 0 and _protocol(out) == "TLSv1.3", out
    rc, out = s_client(s_tls.port, "-tls1", *weak)
    assert rc != 0 and _protocol(out) is None, out
    assert "protocol version" in out, out
    raw, _ = http_get(s_ssl.port)
    assert _body(raw) == HTTP_BODY


# ---------------------------------------------------------------------------
# -e
# ---------------------------------------------------------------------------
def test_engine_legacy_provider_accepted(certs):
    r = run_stud(["-e", "legacy", "-t", "-f", "127.0.0.1,0", certs.rsa_pem])
    assert r.returncode == 0, r.stderr
    assert 'ssl-engine = "legacy"' in r.stdout.splitlines(), r.stdout


def test_engine_unknown(certs):
    r = run_stud(["-e", "nosuch", "-t", "-f", "127.0.0.1,0", certs.rsa_pem])
    assert_one_line_error(r, "nosuch")


# ---------------------------------------------------------------------------
# -u / -g / -r
# ---------------------------------------------------------------------------
def _ids(status, key):
    return [int(x) for x in status[key].split()]


@needs_root
def test_user_drops_privileges_in_workers(start_stud, backend):
    pw = pwd.getpwnam("nobody")
    be = backend("http")
    s = start_stud(be.port, "-u", "nobody", "-n", "2")
    workers = s.wait_workers(2)
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY
    for w in workers:
        st = proc_status(w)
        assert _ids(st, "Uid") == [pw.pw_uid] * 4, (w, st["Uid"])
        assert _ids(st, "Gid") == [pw.pw_gid] * 4, (w, st["Gid"])
        assert st["Groups"] == "", ("worker %d keeps supplementary groups "
                                    "%r" % (w, st["Groups"]))
    parent = proc_status(s.pid)
    assert _ids(parent, "Uid") == [0] * 4, parent["Uid"]


def _other_group(not_gid):
    for name in ("daemon", "users", "staff", "adm", "sys"):
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        if g.gr_gid not in (0, not_gid):
            return g
    pytest.skip("no spare group found")


@needs_root
def test_user_and_group(start_stud, backend):
    pw = pwd.getpwnam("nobody")
    g = _other_group(pw.pw_gid)
    be = backend("http")
    s = start_stud(be.port, "-u", "nobody", "-g", g.gr_name)
    w = s.wait_workers(1)[0]
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY
    st = proc_status(w)
    assert _ids(st, "Uid") == [pw.pw_uid] * 4, st["Uid"]
    assert _ids(st, "Gid") == [g.gr_gid] * 4, st["Gid"]
    assert st["Groups"] == "", ("worker keeps supplementary groups %r"
                                % st["Groups"])


@pytest.mark.parametrize("opt,name", [("-u", "no-such-user-xyz"),
                                      ("-g", "no-such-group-xyz")])
def test_unknown_user_or_group(certs, opt, name):
    r = run_stud([opt, name, "-f", "127.0.0.1,0", certs.rsa_pem])
    assert_one_line_error(r, name)


def _start_daemon(args, pidfile, detached, timeout=5.0):
    """Run stud --daemon: the command must return (exit 0) promptly; then
    wait (bounded) for the pidfile.  Returns (Detached, launcher pid,
    seconds the command took)."""
    cmd = [STUD_BIN] + [str(a) for a in args]
    t0 = time.monotonic()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=null,
                             stderr=subprocess.PIPE, env=stud_env(cmd))
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pid = read_pidfile(pidfile)
        if pid:
            detached(pid)
        raise AssertionError("stud --daemon did not return within %.0fs"
                             % timeout)
    secs = time.monotonic() - t0
    pid = wait_until(lambda: read_pidfile(pidfile), 5.0)
    if pid:
        d = detached(pid)
    assert p.returncode == 0, "rc %r: %s" % (p.returncode, err.decode())
    assert pid, "no pidfile %s after --daemon returned" % pidfile
    assert pid != p.pid
    return d, p.pid, secs


def _check_detached(d, launcher_pid):
    f = proc_stat_fields(d.pid)
    ppid, sid, tty_nr = int(f[1]), int(f[3]), int(f[4])
    assert tty_nr == 0, "daemon has a controlling terminal (tty_nr %d)" % (
        tty_nr,)
    assert sid != os.getsid(0), "daemon still in the test's session"
    assert ppid not in (launcher_pid, os.getpid(), sid), (
        "daemon's parent is %d (launcher %d, session leader %d)"
        % (ppid, launcher_pid, sid))
    assert not alive(launcher_pid)


def _port_of(d):
    ports = wait_until(lambda: d.workers() and listening_ports(d.pid), 5.0)
    assert ports and len(ports) == 1, "listening ports of %d: %r" % (d.pid,
                                                                    ports)
    return ports.pop()


def _stop_daemon(d, pidfile):
    workers = d.workers()
    d.signal(signal.SIGTERM)
    assert d.wait_gone(5.0), "daemon %d still running 5 s after SIGTERM" % (
        d.pid,)
    assert wait_until(lambda: not [w for w in workers if alive(w)], 3.0), \
        "workers %r outlived the daemon" % workers
    assert wait_until(lambda: not Path(pidfile).exists(), 2.0), \
        "pidfile %s not removed at exit" % pidfile


@needs_root
def test_chroot_daemon_pidfile(certs, backend, detached, tmp_path):
    root = tmp_path / "jail"
    root.mkdir()
    pidfile = tmp_path / "stud.pid"
    be = backend("http")
    d, launcher, secs = _start_daemon(
        ["-r", root, "--daemon", "--pidfile=%s" % pidfile,
         "-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, certs.rsa_pem],
        pidfile, detached)
    assert secs < 3.0, "--daemon took %.1fs to return" % secs
    _check_detached(d, launcher)
    port = _port_of(d)
    workers = d.workers()
    assert len(workers) == 1
    for w in workers:
        assert os.readlink("/proc/%d/root" % w) == str(root), w
    assert os.readlink("/proc/%d/root" % d.pid) == "/"
    raw, _ = http_get(port)
    assert _body(raw) == HTTP_BODY
    _stop_daemon(d, pidfile)


def test_daemon_pidfile(certs, backend, detached, tmp_path):
    pidfile = tmp_path / "run" / "stud.pid"
    pidfile.parent.mkdir()
    be = backend("http")
    d, launcher, secs = _start_daemon(
        ["--daemon", "--pidfile=%s" % pidfile, "-n", "2",
         "-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, certs.rsa_pem],
        pidfile, detached)
    assert secs < 3.0, "--daemon took %.1fs to return" % secs
    _check_detached(d, launcher)
    assert pidfile.read_text() == "%d\n" % d.pid
    port = _port_of(d)
    assert len(wait_until(lambda: len(d.workers()) == 2 and d.workers(),
                          5.0) or []) == 2
    raw, _ = http_get(port)
    assert _body(raw) == HTTP_BODY
    _stop_daemon(d, pidfile)
    assert sorted(os.listdir(pidfile.parent)) == [], "leftover files"


# ---------------------------------------------------------------------------
# syslog
# ---------------------------------------------------------------------------
@pytest.fixture
def dev_log():
    """A unix datagram socket bound at /dev/log (removed afterwards)."""
    if os.path.lexists("/dev/log"):
        pytest.skip("/dev/log already exists (a syslog daemon is running); "
                    "not taking it over")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind("/dev/log")
    except OSError as e:
        s.close()
        pytest.skip("cannot bind /dev/log: %s" % e)
    s.settimeout(5.0)
    try:
        yield s
    finally:
        s.close()
        try:
            os.unlink("/dev/log")
        except FileNotFoundError:
            pass


def test_syslog_facility(start_stud, backend, dev_log):
    be = backend("http")
    s = start_stud(be.port, "-s", "--syslog-facility=local3")
    want = "listening on [127.0.0.1]:%d" % s.port
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            msg = dev_log.recv(8192).decode(errors="replace")
        except socket.timeout:
            break
        got.append(msg)
        if want in msg:
            break
    line = next((m for m in got if want in m), None)
    assert line is not None, "no syslog datagram with %r; got %r" % (want,
                                                                     got)
    assert line.startswith("<158>"), line   # local3 (19) * 8 + info (6)
    m = re.match(r"<\d+>(?:\w{3} [ \d]\d \d\d:\d\d:\d\d )?(\S+?)(\[\d+\])?: ",
                 line)
    assert m and "stud" in m.group(1), "tag not 'stud': %r" % line
    assert m.group(2) == "[%d]" % s.pid, line


def test_bad_syslog_facility(certs):
    r = run_stud(["-s", "--syslog-facility=nosuchfac", "-f", "127.0.0.1,0",
                  certs.rsa_pem])
    assert_one_line_error(r, "nosuchfac")


# ---------------------------------------------------------------------------
# -k, -B
# ---------------------------------------------------------------------------
needs_ss = pytest.mark.skipif(which("ss") is None,
                              reason="ss not installed (Debian package "
                                     "iproute2)")


def _ss(*args):
    r = subprocess.run(["ss"] + list(args), capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _timer_secs(text):
    """ss prints timers as e.g. '6.988ms' (6 s 988 ms), '988ms', '7sec',
    '1min5sec'."""
    m = re.fullmatch(r"(?:(\d+)min)?(\d+)?(?:\.(\d+))?(ms|sec)?", text)
    assert m, "cannot parse ss timer %r" % text
    mins, a, frac, unit = m.groups()
    t = int(mins or 0) * 60.0
    if unit == "ms" and frac is None:
        return t + int(a or 0) / 1000.0
    return t + int(a or 0) + (int(frac) / 1000.0 if frac else 0.0)


def _stud_side_line(stud_port, client_port):
    """stud's socket for that client as ss shows it, once nothing it sent
    waits for an ACK: ss shows one timer, and the retransmit timer ("on")
    hides the keepalive one while data is in flight."""
    found = []

    def settled():
        lines = _ss("-tnoH", "state", "established")
        found[:] = [lines]
        for line in lines:
            f = line.split()
            if len(f) >= 4 and f[2].endswith(":%d" % stud_port) and \
                    f[3].endswith(":%d" % client_port):
                found.append(line)
                return "timer:(on," not in line
        return False

    wait_until(settled, 5.0)
    assert len(found) == 2, ("no established socket %d <- %d in ss output:"
                             "\n%s" % (stud_port, client_port,
                                       "\n".join(found[0])))
    return found[1]


@needs_ss
@pytest.mark.parametrize("k", [7, 0])
def test_keepalive(start_stud, backend, k):
    be = backend("echo")
    s = start_stud(be.port, "-k", str(k))
    with tls_connect(s.port, timeout=10) as c:
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"     # accepted and set up by stud
        line = _stud_side_line(s.port, c.getsockname()[1])
    m = re.search(r"timer:\((\w+),([^,]+),", line)
    if k == 0:
        assert "keepalive" not in line, line
        return
    assert m and m.group(1) == "keepalive", "no keepalive timer: %r" % line
    t = _timer_secs(m.group(2))
    assert 4.0 < t <= 7.0, "keepalive timer %.3fs, expected ~7s: %r" % (t,
                                                                       line)


@needs_ss
def test_keepalive_change_applies_on_reload(start_stud, backend, tmp_path):
    """The listening socket is kept across a reload; the new -k still
    reaches the connections accepted after it."""
    be = backend("echo")
    conf = tmp_path / "stud.conf"
    conf.write_text("keepalive = 7\n")
    s = start_stud(be.port, "--config=%s" % conf)
    conf.write_text("keepalive = 0\n")
    os.kill(s.pid, signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in s.stderr(), 10.0)
    with tls_connect(s.port, timeout=10) as c:
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"
        line = _stud_side_line(s.port, c.getsockname()[1])
    assert "keepalive" not in line, line


@needs_ss
def test_backlog(start_stud, backend):
    be = backend("http")
    s = start_stud(be.port, "-B", "37")
    lines = _ss("-ltnH", "sport = :%d" % s.port)
    assert len(lines) == 1, lines
    f = lines[0].split()
    assert f[0] == "LISTEN" and int(f[2]) == 37, lines[0]
    s2 = start_stud(be.port)
    f = _ss("-ltnH", "sport = :%d" % s2.port)[0].split()
    assert int(f[2]) == 100, "default backlog: %r" % f


# ---------------------------------------------------------------------------
# NOTIFY_SOCKET
# ---------------------------------------------------------------------------
@pytest.fixture
def notify_socket():
    d = tempfile.mkdtemp(prefix="studn")     # short: sun_path is 108 bytes
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5.0)
    try:
        yield s, path
    finally:
        s.close()
        os.unlink(path)
        os.rmdir(d)


def test_notify_ready_and_stopping(start_stud, backend, notify_socket):
    sock, path = notify_socket
    be = backend("http")
    s = start_stud(be.port, "-n", "2",
                   env=dict(os.environ, NOTIFY_SOCKET=path))
    try:
        msg = sock.recv(4096)
    except socket.timeout:
        pytest.fail("no notification within 5 s of start")
    assert msg.split(b"\n") == [b"READY=1"], msg
    assert len(s.workers()) == 2, "READY=1 before the workers were forked"
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY
    s.send_signal(signal.SIGTERM)
    try:
        msg = sock.recv(4096)
    except socket.timeout:
        pytest.fail("no STOPPING=1 within 5 s of SIGTERM")
    assert msg.split(b"\n") == [b"STOPPING=1"], msg
    assert s.proc.wait(5) == 0


def test_notify_reloading_then_ready(start_stud, backend, notify_socket):
    sock, path = notify_socket
    be = backend("http")
    s = start_stud(be.port, env=dict(os.environ, NOTIFY_SOCKET=path))
    assert sock.recv(4096) == b"READY=1"
    s.send_signal(signal.SIGHUP)
    assert sock.recv(4096) == b"RELOADING=1"
    assert sock.recv(4096) == b"READY=1"
    raw, _ = http_get(s.port)
    assert _body(raw) == HTTP_BODY
