"""Helpers for the stud integration tests: starting/stopping stud, looking at
its processes through /proc, and TLS clients (Python ssl) with bounded
timeouts."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
STUD_BIN = os.environ.get("STUD_BIN") or str(REPO_ROOT / "stud")

LISTEN_RE = re.compile(r"listening on \[([^\]]*)\]:(\d+)")

STARTUP_TIMEOUT = 10.0   # s until the "listening on" line must appear


def _sanitized_build():
    try:
        return b"__asan_init" in Path(STUD_BIN).read_bytes()
    except OSError:
        return False


# AddressSanitizer keeps freed memory in quarantine and adds shadow memory:
# RSS says nothing about stud's own use there, so RSS bounds are skipped.
SANITIZED = _sanitized_build()

# LeakSanitizer scans memory when each process exits: allow for it
STOP_TIMEOUT = 15.0 if SANITIZED else 5.0   # s for the parent to exit
IO_TIMEOUT = 20.0        # s socket timeout for clients


def stud_env(args, env=None):
    """The environment to run stud with args in. LeakSanitizer cannot work
    in a chroot (it needs /proc), so a sanitized stud given -r runs with
    leak detection off; AddressSanitizer and UBSan stay on."""
    args = [str(a) for a in args]
    if not SANITIZED or not any(a == "-r" or a.startswith("--chroot")
                                for a in args):
        return env
    env = dict(os.environ if env is None else env)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def stud_available():
    return os.path.isfile(STUD_BIN) and os.access(STUD_BIN, os.X_OK)


# ---------------------------------------------------------------------------
# /proc helpers
# ---------------------------------------------------------------------------
def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces/parens: the fields start after the LAST ')'
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def children(ppid, include_zombies=False):
    """PIDs whose parent is ppid (non-zombie unless include_zombies)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is None or st[1] != ppid:
            continue
        if st[0] == "Z" and not include_zombies:
            continue
        out.append(int(name))
    return sorted(out)


def alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _proc_kib(pid, name, key):
    """The KiB of key ("VmRSS:") in /proc/PID/name."""
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (key, pid))


def vmrss_kib(pid):
    return _proc_kib(pid, "status", "VmRSS:")


def pss_kib(pid):
    """Proportional set size: shared pages split among their users."""
    return _proc_kib(pid, "smaps_rollup", "Pss:")


def listening_ports(pid):
    """TCP ports in LISTEN state on sockets that pid has open (via
    /proc/PID/fd socket inodes and /proc/net/tcp{,6})."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except FileNotFoundError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and parts[9] in inodes:
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def wait_until(pred, timeout, interval=0.02):
    """Poll pred() until truthy or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------------------
# stud process
# ---------------------------------------------------------------------------
class _Workers:
    """Remembers every worker pid seen (with its start time, so a recycled
    pid is never mistaken for one), to stop them all at the end."""

    def __init__(self):
        self._known = {}  # worker pid -> starttime

    def _remember(self, pids):
        for p in pids:
            st = proc_stat(p)
            if st is not None:
                self._known.setdefault(p, st[2])
        return pids

    def _alive_known(self):
        out = []
        for pid, start in self._known.items():
            st = proc_stat(pid)
            if st is not None and st[2] == start and st[0] != "Z":
                out.append(pid)
        return out

    def _kill_known(self):
        """SIGKILL every remembered worker still alive."""
        for pid in self._alive_known():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Stud(_Workers):
    """A running stud. Use .stop() (idempotent) to end it and its workers."""

    def __init__(self, args, workdir, name="stud", env=None):
        self.args = [STUD_BIN] + [str(a) for a in args]
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        n = 0
        while (workdir / ("%s.%d.stderr" % (name, n))).exists():
            n += 1
        self.stderr_path = workdir / ("%s.%d.stderr" % (name, n))
        self.stdout_path = workdir / ("%s.%d.stdout" % (name, n))
        _Workers.__init__(self)
        self.returncode = None
        with open(self.stderr_path, "wb") as err, \
                open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         env=stud_env(self.args, env))
        self.pid = self.proc.pid
        self.host = None
        self.port = None

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_listening(self, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.stderr())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self
            if self.proc.poll() is not None:
                # one more read: the line may have been written just now
                m = LISTEN_RE.search(self.stderr())
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
                    return self
                raise AssertionError(
                    "stud exited (rc=%s) before listening; cmd=%s\nstderr:\n%s"
                    % (self.proc.returncode, self.args, self.stderr()))
            time.sleep(0.02)
        raise AssertionError("no 'listening on' line within %.0fs; cmd=%s\n"
                             "stderr:\n%s" % (timeout, self.args, self.stderr()))

    def workers(self, include_zombies=False):
        return self._remember(children(self.pid, include_zombies))

    def wait_workers(self, n, timeout=5.0):
        wait_until(lambda: len(self.workers()) == n, timeout)
        got = self.workers()
        assert len(got) == n, ("expected %d workers, got %r; stderr:\n%s"
                               % (n, got, self.stderr()))
        return got

    def send_signal(self, sig):
        self.workers()  # remember current workers for cleanup
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the parent, wait (bounded); SIGKILL parent and leftover
        workers if needed.  Returns the parent's return code."""
        if self.proc.poll() is None:
            self.workers()
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.workers()
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        # give workers a moment to leave on their own, then force it
        wait_until(lambda: not any(self._alive_known()), 2.0)
        self._kill_known()
        return self.returncode

    def known_alive(self):
        return self._alive_known()


def run_stud_expect_failure(args, timeout=5.0):
    """Run stud expecting it to refuse to start.  Returns (rc, stderr, secs).
    If it is still running after `timeout`, it and its children are killed
    and an AssertionError is raised."""
    cmd = [STUD_BIN] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kids = children(p.pid)
        p.kill()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out, err = p.communicate(timeout=5)
        raise AssertionError("stud still running %.0fs after start with bad "
                             "input %r (children %r); stderr:\n%s"
                             % (timeout, args, kids, err.decode(errors="replace")))
    return p.returncode, err.decode(errors="replace"), time.monotonic() - t0


# ---------------------------------------------------------------------------
# TLS clients
# ---------------------------------------------------------------------------
def client_context(cafile=None, maximum_version=None):
    if cafile:
        ctx = ssl.create_default_context(cafile=str(cafile))
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if maximum_version is not None:
        ctx.maximum_version = maximum_version
    # Python >= 3.10 sets OP_IGNORE_UNEXPECTED_EOF by default, which turns a
    # TCP close without close_notify into a clean EOF; we want to see it.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def tls_connect(port, host="127.0.0.1", ctx=None, server_hostname="localhost",
                timeout=IO_TIMEOUT, rcvbuf=None, family=None, source=None):
    """Connected + handshaken SSLSocket.  suppress_ragged_eofs=False so a
    TCP close without close_notify raises ssl.SSLEOFError.  source: local
    (host, port) to bind the client socket to before connecting."""
    if ctx is None:
        ctx = client_context()
    if family is None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        if source is not None:
            raw.bind(source)
        raw.connect((host, port))
        s = ctx.wrap_socket(raw, server_hostname=server_hostname,
                            suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise
    return s


def tcp_shut_wr(ssock):
    """Half-close the TCP connection under an SSLSocket without dropping the
    TLS layer.  (SSLSocket.shutdown() sets _sslobj=None, which would make
    later recv() return raw TLS records, so call the base class method.)"""
    socket.socket.shutdown(ssock, socket.SHUT_WR)


def _is_ragged_eof(e):
    """ssl error meaning 'TCP EOF without close_notify'.  Depending on the
    Python/OpenSSL combination this is SSLEOFError or a plain SSLError with
    reason UNEXPECTED_EOF_WHILE_READING."""
    return isinstance(e, ssl.SSLEOFError) or "UNEXPECTED_EOF" in str(e)


def _recv_each(ssock, take):
    """Give every chunk to take() until EOF; True if the peer sent
    close_notify, False if TCP closed without it."""
    while True:
        try:
            b = ssock.recv(262144)
        except ssl.SSLError as e:
            if not _is_ragged_eof(e):
                raise
            return False
        if not b:
            return True
        take(b)


def recv_all(ssock, limit=None):
    """Read until EOF.  Returns (data, clean) where clean is True if the peer
    sent close_notify and False if TCP closed without it."""
    chunks = []
    total = 0

    def take(b):
        nonlocal total
        chunks.append(b)
        total += len(b)
        if limit is not None and total > limit:
            raise AssertionError("received more than %d bytes" % limit)

    clean = _recv_each(ssock, take)
    return b"".join(chunks), clean


def recv_hash(ssock):
    """Read until EOF hashing on the fly: (sha256 hex, nbytes, clean)."""
    h = hashlib.sha256()
    n = 0

    def take(b):
        nonlocal n
        h.update(b)
        n += len(b)

    clean = _recv_each(ssock, take)
    return h.hexdigest(), n, clean


def recv_exact(ssock, n):
    buf = bytearray()
    while len(buf) < n:
        b = ssock.recv(min(262144, n - len(buf)))
        if not b:
            break
        buf += b
    return bytes(buf)


def tcp_segments_in(sock):
    """(segments, data segments) this TCP socket has received, from Linux's
    struct tcp_info (tcpi_segs_in at offset 140, tcpi_data_segs_in at 152)."""
    ti = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", ti, 140)[0], struct.unpack_from("I", ti, 152)[0]


class BioClient:
    """TLS client over ssl.MemoryBIO so that it can send a real close_notify
    (one-sided, TLS-level half-close) and keep reading afterwards, which the
    SSLSocket API cannot do."""

    def __init__(self, port, ctx=None, host="127.0.0.1",
                 server_hostname="localhost", timeout=IO_TIMEOUT, prefix=b"",
                 source=None, first=b""):
        """prefix: bytes sent in clear in the same send() as the
        ClientHello (e.g. a PROXY header for --proxy-proxy).  source: local
        (host, port) to bind to.  first: application bytes sent in the same
        send() as the client's last handshake message."""
        if ctx is None:
            ctx = client_context()
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=source)
        self._prefix = prefix
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out,
                                server_hostname=server_hostname)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        if first:
            self.obj.write(first)
        self._flush()

    def _flush(self):
        data = self.out.read()
        if self._prefix:
            data, self._prefix = self._prefix + data, b""
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(262144)
        if data:
            self.inc.write(data)
        else:
            self.inc.write_eof()
        return data

    def send(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view[:1 << 20])
            view = view[n:]
            self._flush()

    def close_notify(self):
        """Send close_notify; do not wait for the peer's."""
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def recv_all(self):
        """(data, clean): read until the peer's close_notify or TCP EOF."""
        chunks = []
        while True:
            try:
                b = self.obj.read(262144)
                if not b:
                    return b"".join(chunks), True
                chunks.append(b)
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    # loop once more so the BIO reports how it ended
                    try:
                        b = self.obj.read(262144)
                        if b:
                            chunks.append(b)
                            continue
                        return b"".join(chunks), True
                    except ssl.SSLZeroReturnError:
                        return b"".join(chunks), True
                    except ssl.SSLWantReadError:
                        return b"".join(chunks), False
                    except ssl.SSLError as e:
                        if not _is_ragged_eof(e):
                            raise
                        return b"".join(chunks), False
            except ssl.SSLZeroReturnError:
                return b"".join(chunks), True
            except ssl.SSLError as e:
                if not _is_ragged_eof(e):
                    raise
                return b"".join(chunks), False

    def close(self):
        self.sock.close()


def http_get(port, host="127.0.0.1", ctx=None, path="/"):
    """One HTTP/1.0 GET through stud with Python ssl; returns (raw, clean)."""
    with tls_connect(port, host=host, ctx=ctx) as s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode())
        return recv_all(s, limit=1 << 20)


def echo_roundtrip(port, payload, host="127.0.0.1", ctx=None):
    """Send payload and read back exactly as many bytes (echo backend)."""
    with tls_connect(port, host=host, ctx=ctx) as s:
        s.sendall(payload)
        return recv_exact(s, len(payload))


# ---------------------------------------------------------------------------
# short-lived runs (-t, errors), detached daemons, system tools
# ---------------------------------------------------------------------------
def run_stud(args, timeout=10.0, env=None):
    """Run stud to completion (bounded); returns CompletedProcess with text
    stdout/stderr.  Raises AssertionError if it is still running after
    `timeout` (after killing it)."""
    cmd = [STUD_BIN] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("stud %r did not exit within %.0fs" % (
            args, timeout)) from e


def assert_one_line_error(r, *tokens):
    """r: CompletedProcess of a stud that must have refused to run: exit
    status non-zero, exactly one stderr line "stud: ..." holding every
    token."""
    lines = r.stderr.splitlines()
    assert r.returncode != 0, ("exit status 0, expected a failure; stderr:\n"
                               "%s" % r.stderr)
    assert len(lines) == 1, ("expected exactly one stderr line, got %d:\n%s"
                             % (len(lines), r.stderr))
    assert lines[0].startswith("stud: "), lines[0]
    for t in tokens:
        assert str(t) in lines[0], "%r not in error line %r" % (t, lines[0])
    return lines[0]


def proc_status(pid):
    """/proc/PID/status as a dict of field -> raw value string."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_stat_fields(pid):
    """All /proc/PID/stat fields after comm, as strings: [0] is state,
    [1] ppid, [2] pgrp, [3] session, [4] tty_nr ... (man 5 proc minus 3)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rfind(")") + 2:].split()


class Detached(_Workers):
    """A stud that daemonised itself (--daemon), known by the pid in its
    pidfile.  stop() (idempotent) ends it and any worker seen."""

    def __init__(self, pid):
        self.pid = pid
        st = proc_stat(pid)
        self.start = st[2] if st else None
        _Workers.__init__(self)

    def alive(self):
        st = proc_stat(self.pid)
        return st is not None and st[2] == self.start and st[0] != "Z"

    def workers(self):
        if not self.alive():
            return []
        return self._remember(children(self.pid))

    def signal(self, sig):
        self.workers()
        if self.alive():
            os.kill(self.pid, sig)

    def wait_gone(self, timeout=STOP_TIMEOUT):
        return wait_until(lambda: not self.alive(), timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        self.workers()
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not self.wait_gone(timeout) and self.alive():
                os.kill(self.pid, signal.SIGKILL)
                self.wait_gone(2.0)
        wait_until(lambda: not self._alive_known(), 2.0)
        self._kill_known()


def read_pidfile(path):
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


# Runs a command as a child subreaper: processes the command leaves behind
# (daemons, workers) are re-parented to this wrapper, which reports them,
# kills them and exits with the command's status.  argv: REPORT_FILE CMD...
SUBREAPER_WRAPPER = r"""
import ctypes, json, os, signal, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:          # PR_SET_CHILD_SUBREAPER
    sys.exit(97)
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
try:
    rc = p.wait(timeout=float(os.environ.get("WRAP_TIMEOUT", "10")))
except subprocess.TimeoutExpired:
    p.kill(); p.wait(); rc = "timeout"
time.sleep(float(os.environ.get("WRAP_LINGER", "0.3")))
me = os.getpid()


def orphans():
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                d = f.read()
        except OSError:
            continue
        rest = d[d.rfind(")") + 2:].split()
        if int(rest[1]) == me and rest[0] != "Z":
            out.append(int(name))
    return out


left = orphans()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    now = orphans()
    for pid in now:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    if not now:
        break
    time.sleep(0.02)
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "left": left}, f)
"""


def run_stud_reaped(args, workdir, timeout=10.0, linger=0.3):
    """Run stud under a subreaper wrapper.  Returns (CompletedProcess,
    left) where left lists the pids of processes stud left running (they
    are killed)."""
    workdir = Path(workdir)
    report = workdir / "reaper-report.json"
    wrapper = workdir / "reaper.py"
    wrapper.write_text(SUBREAPER_WRAPPER)
    env = dict(os.environ, WRAP_TIMEOUT=str(timeout), WRAP_LINGER=str(linger))
    cmd = ["/usr/bin/python3", str(wrapper), str(report), STUD_BIN] + \
        [str(a) for a in args]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout + linger + 15, env=env)
    rep = json.loads(report.read_text())
    r.returncode = rep["rc"] if rep["rc"] != "timeout" else -999
    return r, rep["left"]


def ipv6_loopback_available():
    try:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            t.bind(("::1", 0))
        finally:
            t.close()
        return True
    except OSError:
        return False


def which(name):
    return shutil.which(name)


def s_client(port, *args, host="127.0.0.1", timeout=20):
    """openssl s_client -brief against stud; returns (rc, combined output).
    A successful handshake prints "Protocol version: X"."""
    r = subprocess.run(["openssl", "s_client", "-brief", "-connect",
                        "%s:%d" % (host, port)] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def haproxy_accept_proxy_cfg(reply):
    """A haproxy.cfg listening on 127.0.0.1:{port} (the haproxy fixture
    fills it) with accept-proxy, answering every request with the log-format
    string reply (e.g. "src=%[src]")."""
    return """\
global
    log stderr local0 err
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port} accept-proxy
    http-request return status 200 content-type text/plain lf-string "%s"
""" % reply
