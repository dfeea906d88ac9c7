"""Session resumption: ticket keys shared by all workers and, with
--ticket-key-file, by several stud instances; the shared session cache
(USE_SHARED_CACHE=1 builds) for TLS 1.2 session-ID resumption."""

import socket
import ssl
import subprocess

import pytest

from harness import run_stud_expect_failure

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
