"""X25519 key exchange, by stud's own code through its OpenSSL provider
(--x25519=stud, the default) or by OpenSSL's (--x25519=openssl): openssl
s_client and gnutls-cli negotiate X25519 in TLS 1.3 and 1.2 and carry data
both ways, P-256 still works, so does a HelloRetryRequest for X25519, a
ClientHello whose X25519 key share is a small-order point gets an alert and
the close of that connection only, and a bad value is a one-line error.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
          tests/integration/test_x25519.py
"""

import socket
import ssl
import struct
import subprocess

import pytest

from harness import IO_TIMEOUT, client_context, s_client, tls_connect
from test_hostile import client_hello
from test_records import _gnutls

WHO = ["stud", "openssl"]
VERSIONS = {"1.3": "-tls1_3", "1.2": "-tls1_2"}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_openssl_client_x25519(start_stud, backend, who, version):
    """s_client offering only X25519 gets it; Python's ssl (X25519 first
    in its list) carries 1 MiB both ways through an echo backend."""
    s = start_stud(backend("echo").port, "--x25519=" + who)
    rc, out = s_client(s.port, VERSIONS[version], "-groups", "X25519")
    assert rc == 0 and "Server Temp Key: X25519" in out, out[-2000:]
    ctx = client_context()
    ctx.minimum_version = ctx.maximum_version = (
        ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2)
    data = bytes(range(256)) * 4096
    with tls_connect(s.port, ctx=ctx) as c:
        c.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = c.recv(65536)
            assert chunk, "stud closed after %d bytes" % len(got)
            got += chunk
    assert got == data


@pytest.mark.parametrize("who", WHO)
def test_gnutls_client_x25519(start_stud, backend, tmp_path, who):
    """Another implementation: GnuTLS with X25519 only, TLS 1.3 then 1.2."""
    s = start_stud(backend("echo").port, "--x25519=" + who)
    for vers in ("+VERS-TLS1.3", "+VERS-TLS1.2"):
        prio = "NORMAL:-VERS-ALL:%s:-GROUP-ALL:+GROUP-X25519" % vers
        r, log = _gnutls(s.port, b"x25519-line\n", tmp_path, "--priority",
                         prio)
        assert r.stdout == b"x25519-line\n", log[-2000:]
        assert "X25519" in log, log[-2000:]


@pytest.mark.parametrize("who", WHO)
def test_p256_still_negotiated(start_stud, backend, who):
    s = start_stud(backend("echo").port, "--x25519=" + who)
    rc, out = s_client(s.port, "-groups", "P-256")
    assert rc == 0 and "Server Temp Key: ECDH, prime256v1" in out, \
        out[-2000:]


@pytest.mark.parametrize("who", WHO)
def test_hello_retry_for_x25519(start_stud, backend, who):
    """A client whose first key share is P-256, against a stud that takes
    X25519 only: a HelloRetryRequest (two ClientHellos), then X25519."""
    s = start_stud(backend("echo").port, "--x25519=" + who,
                   "--ecdh-curve=X25519")
    rc, out = s_client(s.port, "-tls1_3", "-groups", "P-256:X25519", "-msg")
    assert rc == 0 and "Server Temp Key: X25519" in out, out[-2000:]
    assert out.count(", ClientHello") == 2, out[-3000:]


def _small_order_hello():
    """Python's TLS 1.3 ClientHello with its X25519 key share replaced by
    u = 0, a point of small order whose shared secret is all zeros."""
    ch = bytearray(client_hello())
    body = 5 + 4                                  # record, handshake headers
    p = body + 2 + 32                             # version, random
    p += 1 + ch[p]                                # session id
    p += 2 + struct.unpack(">H", ch[p:p + 2])[0]  # cipher suites
    p += 1 + ch[p]                                # compression
    end = p + 2 + struct.unpack(">H", ch[p:p + 2])[0]
    p += 2
    while p < end:
        etype, elen = struct.unpack(">HH", ch[p:p + 4])
        if etype == 0x0033:                       # key_share
            q = p + 4 + 2
            while q < p + 4 + elen:
                group, klen = struct.unpack(">HH", ch[q:q + 4])
                if group == 0x001d:
                    assert klen == 32
                    ch[q + 4:q + 4 + 32] = bytes(32)
                    return bytes(ch)
                q += 4 + klen
        p += 4 + elen
    raise AssertionError("no X25519 key share in Python's ClientHello")


@pytest.mark.parametrize("who", WHO)
def test_small_order_key_share_refused(start_stud, backend, who):
    """The handshake fails with an alert (no all-zero secret is used), that
    connection closes, and the next client is served."""
    s = start_stud(backend("echo").port, "--x25519=" + who)
    workers = s.wait_workers(1)
    with socket.create_connection(("127.0.0.1", s.port),
                                  timeout=IO_TIMEOUT) as raw:
        raw.sendall(_small_order_hello())
        got = b""
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got[:1] == b"\x15" and got[5:6] == b"\x02", got[:16].hex()
    with tls_connect(s.port) as c:
        c.sendall(b"after\n")
        assert c.recv(100) == b"after\n"
    assert s.workers() == workers, "a worker died or was replaced"


def test_bad_x25519_value_is_one_line_error(stud_bin, certs):
    r = subprocess.run([stud_bin, "-t", "--x25519=fast", certs.rsa_pem],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--x25519" in lines[0] and \
        "stud or openssl" in lines[0], r.stderr
