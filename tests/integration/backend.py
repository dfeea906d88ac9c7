"""Small threaded TCP backend used by the stud integration tests.

Runs in-process (one accept thread + one thread per connection), bound to
127.0.0.1.  Modes:

  echo    send back everything received; on client EOF shut down the write
          side and close.
  http    read a request up to the blank line (\\r\\n\\r\\n), reply with a
          fixed HTTP/1.0 response carrying Content-Length, then close.
  sink    read until EOF, then send the hex SHA-256 of everything received
          and close (upload + half-close checks).
  source  send `size` bytes of deterministic pseudo-random data (see
          source_data()) right after accepting, then close (downloads).
  record  read until EOF, keep every byte received on that connection in
          .records (one bytes object per connection, in the order the
          connections ended), then close.  wait_records(n, timeout) waits
          for n of them (exact --write-ip / PROXY header checks).

A "refusing" backend is just a port with nothing listening: see free_port().

Can also be run by hand:  python3 backend.py MODE [SIZE]  (prints the port).
"""

import hashlib
import random
import socket
import sys
import threading

HTTP_BODY = b"hello from the stud test backend\n"
HTTP_RESPONSE = (
    b"HTTP/1.0 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: " + str(len(HTTP_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"\r\n" + HTTP_BODY
)

_source_cache = {}
_source_lock = threading.Lock()


def source_data(size, seed=1234):
    """Deterministic pseudo-random bytes; cached, returns (data, sha256 hex)."""
    key = (size, seed)
    with _source_lock:
        if key not in _source_cache:
            chunk = 32 << 20  # randbytes() cannot make 256 MiB at once
            data = b"".join(random.Random(seed + i).randbytes(
                min(chunk, size - off))
                for i, off in enumerate(range(0, size, chunk)))
            _source_cache[key] = (data, hashlib.sha256(data).hexdigest())
        return _source_cache[key]


def free_port(host="127.0.0.1", family=socket.AF_INET):
    """A port that (right now) has nothing listening on it."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Backend:
    def __init__(self, mode, port=0, size=0, sndbuf=None, host="127.0.0.1"):
        if mode not in ("echo", "http", "sink", "source", "record"):
            raise ValueError("unknown mode %r" % mode)
        self.mode = mode
        self.size = size
        self.sndbuf = sndbuf
        self.lock = threading.Lock()
        self.accepted = 0          # connections accepted
        self.bytes_in = 0          # total bytes received, all connections
        self.bytes_out = 0         # total bytes sent, all connections
        self.errors = []           # exceptions raised in handler threads
        self.sink_digests = []     # sha256 hex computed per sink connection
        self.eof_seen = threading.Event()  # set when a peer EOF was read
        self.records = []          # record mode: bytes per finished conn
        self._records_cv = threading.Condition(self.lock)
        self._threads = []
        self._conns = set()
        self._closing = False
        if mode == "source":
            self.data, self.digest = source_data(size)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          name="backend-accept", daemon=True)
        self._acceptor.start()

    # -- accept / dispatch -------------------------------------------------
    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self._closing:
                conn.close()
                return
            with self.lock:
                self.accepted += 1
                self._conns.add(conn)
            if self.sndbuf:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            t = threading.Thread(target=self._handle, args=(conn,),
                                 name="backend-conn", daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn):
        conn.settimeout(60)
        try:
            getattr(self, "_do_" + self.mode)(conn)
        except Exception as e:  # recorded; tests can assert on it
            with self.lock:
                self.errors.append(repr(e))
        finally:
            with self.lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _recv(self, conn, n=262144):
        b = conn.recv(n)
        with self.lock:
            self.bytes_in += len(b)
        if not b:
            self.eof_seen.set()
        return b

    def _send(self, conn, data):
        view = memoryview(data)
        while view:
            n = conn.send(view[:262144])
            with self.lock:
                self.bytes_out += n
            view = view[n:]

    # -- modes --------------------------------------------------------------
    def _do_echo(self, conn):
        while True:
            b = self._recv(conn)
            if not b:
                break
            self._send(conn, b)
        conn.shutdown(socket.SHUT_WR)

    def _do_http(self, conn):
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = self._recv(conn, 65536)
            if not b:
                return
            buf += b
        self._send(conn, HTTP_RESPONSE)
        conn.shutdown(socket.SHUT_WR)

    def _do_sink(self, conn):
        h = hashlib.sha256()
        while True:
            b = self._recv(conn)
            if not b:
                break
            h.update(b)
        d = h.hexdigest()
        with self.lock:
            self.sink_digests.append(d)
        self._send(conn, d.encode())
        conn.shutdown(socket.SHUT_WR)

    def _do_record(self, conn):
        chunks = []
        try:
            while True:
                b = self._recv(conn)
                if not b:
                    break
                chunks.append(b)
        finally:
            with self._records_cv:
                self.records.append(b"".join(chunks))
                self._records_cv.notify_all()
        conn.shutdown(socket.SHUT_WR)

    def wait_records(self, n, timeout=10.0):
        """Wait (bounded) until n record-mode connections have ended; returns
        a copy of .records (possibly shorter than n on timeout)."""
        with self._records_cv:
            self._records_cv.wait_for(lambda: len(self.records) >= n, timeout)
            return list(self.records)

    def _do_source(self, conn):
        self._send(conn, self.data)
        conn.shutdown(socket.SHUT_WR)

    # -- teardown -------------------------------------------------------------
    def close(self):
        self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "echo"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    b = Backend(mode, size=size)
    print("backend %s listening on 127.0.0.1:%d" % (mode, b.port), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        b.close()
