"""TLS features: SNI among several certificates (exact, wildcard, CN-only,
RSA + ECDSA for one name, --sni-nomatch-abort), protocol and algorithm
control (--tls-protos, --ciphersuites, -c, --ecdh-curve), ALPN
(--alpn-protos), PROXY protocol v2 with TLVs (--write-proxy-v2, checked byte
by byte and against the real haproxy), OCSP stapling from X.pem.ocsp,
client certificates (--client-verify, --client-verify-ca), several
frontends each with its own certificate, v6-only IPv6 frontends, and a
UNIX-domain backend.

Certificates, CAs and OCSP responses are made with the openssl CLI in a
module fixture.  An expired OCSP response is made from a valid one: its
three GeneralizedTimes (producedAt, thisUpdate, nextUpdate; always 15 bytes)
are moved into the past in place and tbsResponseData is signed again with
`openssl dgst -sha256 -sign` (same key, same signature length), so no DER
length changes; `openssl ocsp -respin` then reports "Response verify OK"
and "status expired".

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_tls_features.py
"""

import datetime
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import types
from pathlib import Path

import pytest

from backend import free_port
from harness import (LISTEN_RE, BioClient, client_context,
                     ipv6_loopback_available, recv_all, recv_exact,
                     run_stud_expect_failure, s_client,
                     tcp_shut_wr, tls_connect, wait_until, which,
                     haproxy_accept_proxy_cfg)

needs_ipv6 = pytest.mark.skipif(not ipv6_loopback_available(),
                                reason="::1 not available on this host")

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP = 0x01, 0x02, 0x04
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN = 0x21, 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_CLIENT_SSL, PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS = 0x01, 0x02, 0x04


# ---------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------
def _openssl(*args, cwd, data=None):
    r = subprocess.run(["openssl"] + [str(a) for a in args], cwd=cwd,
                       input=data, timeout=60, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (
            " ".join(str(a) for a in args), r.stderr.decode(errors="replace")))
    return r.stdout


RSA = ["-newkey", "rsa:2048"]
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
_serial = [0x5100]


def _ca(d, name, cn):
    key, crt = d / (name + ".key"), d / (name + ".crt")
    _openssl("req", "-x509", *RSA, "-nodes", "-keyout", key, "-out", crt,
             "-days", "5", "-subj", "/CN=" + cn, cwd=d)
    return crt, key


def _issue(d, name, cn, ca, keyargs=RSA, sans=(), client=False):
    """Leaf certificate signed by ca=(crt, key): returns (crt, key)."""
    key, csr = d / (name + ".key"), d / (name + ".csr")
    crt = d / (name + ".crt")
    _openssl("req", "-new", *keyargs, "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=" + cn, cwd=d)
    ext = ["basicConstraints=critical,CA:FALSE",
           "extendedKeyUsage=%s" % ("clientAuth" if client else "serverAuth")]
    if sans:
        ext.append("subjectAltName=" + ",".join("DNS:" + s for s in sans))
    extfile = d / (name + ".ext")
    extfile.write_text("\n".join(ext) + "\n")
    _serial[0] += 1
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
             "-set_serial", str(_serial[0]), "-days", "3", "-extfile",
             extfile, "-out", crt, cwd=d)
    return crt, key


# name: (subject CN, subjectAltName DNS entries, key)
SERVER_CERTS = {
    "www": ("www-cert", ["www.example.com"], RSA),
    "wild": ("wild-cert", ["*.example.com"], RSA),
    "cnonly": ("cn-only.test", [], RSA),
    "sanwins": ("cn-ignored.test", ["san-only.test"], RSA),
    "multi": ("multi-cert", ["one.test", "two.test"], RSA),
    "mixed": ("mixed-cert", ["MiXeD.Example.ORG"], RSA),
    "default": ("default-cert", ["default.test"], RSA),
    "dual_rsa": ("dual-rsa", ["dual.test"], RSA),
    "dual_ec": ("dual-ec", ["dual.test"], EC),
    "front_a": ("front-a", ["front-a.test"], RSA),
    "front_b": ("front-b", ["front-b.test"], RSA),
    "ocsp_a": ("ocsp-a", ["ocsp-a.test"], RSA),
    "ocsp_b": ("ocsp-b", ["ocsp-b.test"], RSA),
}


def _der_tlv(buf, off):
    """(header length, content length) of the DER element at off."""
    n = buf[off + 1]
    if n < 0x80:
        return 2, n
    k = n & 0x7f
    return 2 + k, int.from_bytes(buf[off + 2:off + 2 + k], "big")


def _der_children(buf, off):
    h, n = _der_tlv(buf, off)
    p, end, out = off + h, off + h + n, []
    while p < end:
        out.append(p)
        hh, nn = _der_tlv(buf, p)
        p += hh + nn
    return out


def make_expired_ocsp(good, signer_key, cwd):
    """An OCSP response like `good` (DER) but produced 3 days ago and with
    nextUpdate 2 days ago, re-signed with signer_key."""
    buf = bytearray(good)
    response_bytes = _der_children(buf, _der_children(buf, 0)[1])[0]
    octets = _der_children(buf, response_bytes)[1]
    basic = octets + _der_tlv(buf, octets)[0]
    tbs, _alg, sig = _der_children(buf, basic)[:3]
    h, n = _der_tlv(buf, tbs)
    tbs_end = tbs + h + n
    now = datetime.datetime.now(datetime.timezone.utc)
    when = [now - datetime.timedelta(days=3), now - datetime.timedelta(days=3),
            now - datetime.timedelta(days=2)]
    times = [m.start() for m in re.finditer(rb"\x18\x0f\d{14}Z",
                                            bytes(buf[tbs:tbs_end]))]
    assert len(times) == 3, "producedAt, thisUpdate, nextUpdate: %r" % times
    for p, t in zip(times, when):
        buf[tbs + p + 2:tbs + p + 17] = t.strftime("%Y%m%d%H%M%SZ").encode()
    signature = _openssl("dgst", "-sha256", "-sign", signer_key, cwd=cwd,
                         data=bytes(buf[tbs:tbs_end]))
    h, n = _der_tlv(buf, sig)
    assert buf[sig + h] == 0 and n - 1 == len(signature)
    buf[sig + h + 1:sig + h + n] = signature
    return bytes(buf)


def make_pki(tmp_path_factory):
    """The test PKI (conftest.py's pki fixture, made once per run):
    ns.pem[name] (cert + issuing CA + key), ns.crt[name], ns.der[name],
    ns.cn(der) -> subject CN; ns.ca_crt; client side: ns.client_bundle
    (two client CAs), ns.alice / ns.bob (signed by either: trusted),
    ns.mallory (signed by a CA not in the bundle), each (crt, key);
    OCSP: ns.ocsp_good[name] / ns.ocsp_expired[name] (DER bytes) for
    ocsp_a and ocsp_b."""
    d = tmp_path_factory.mktemp("pki")
    ns = types.SimpleNamespace(dir=d, pem={}, crt={}, der={})
    ns.ca_crt, ca_key = ca = _ca(d, "ca", "stud test server CA")
    names = {}
    for name, (cn, sans, keyargs) in SERVER_CERTS.items():
        crt, key = _issue(d, name, cn, ca, keyargs, sans)
        ns.crt[name] = crt
        ns.pem[name] = d / (name + ".pem")
        ns.pem[name].write_bytes(crt.read_bytes() + ns.ca_crt.read_bytes()
                                 + key.read_bytes())
        ns.der[name] = ssl.PEM_cert_to_DER_cert(crt.read_text())
        names[ns.der[name]] = cn
    ns.cn = lambda der: names.get(der, "<unknown certificate>")

    ca1 = _ca(d, "client-ca1", "stud test client CA 1")
    ca2 = _ca(d, "client-ca2", "stud test client CA 2")
    rogue = _ca(d, "rogue-ca", "stud test rogue CA")
    ns.client_bundle = d / "client-bundle.pem"
    ns.client_bundle.write_bytes(ca1[0].read_bytes() + ca2[0].read_bytes())
    ns.client_ca1 = ca1[0]
    ns.alice = _issue(d, "alice", "alice", ca1, EC, client=True)
    ns.bob = _issue(d, "bob", "bob", ca2, EC, client=True)
    ns.mallory = _issue(d, "mallory", "mallory", rogue, EC, client=True)

    # OCSP responses for ocsp_a / ocsp_b, signed by the server CA itself
    ns.ocsp_good, ns.ocsp_expired = {}, {}
    for name in ("ocsp_a", "ocsp_b"):
        serial = _openssl("x509", "-in", ns.crt[name], "-noout", "-serial",
                          cwd=d).decode().strip().split("=")[1]
        end = (datetime.datetime.now(datetime.timezone.utc)
               + datetime.timedelta(days=3)).strftime("%y%m%d%H%M%SZ")
        index = d / (name + ".index")
        index.write_text("V\t%s\t\t%s\tunknown\t/CN=%s\n"
                         % (end, serial, SERVER_CERTS[name][0]))
        out = d / (name + ".good.der")
        _openssl("ocsp", "-index", index, "-rsigner", ns.ca_crt, "-rkey",
                 ca_key, "-CA", ns.ca_crt, "-issuer", ns.ca_crt, "-cert",
                 ns.crt[name], "-no_nonce", "-ndays", "1", "-respout", out,
                 cwd=d)
        ns.ocsp_good[name] = out.read_bytes()
        ns.ocsp_expired[name] = make_expired_ocsp(ns.ocsp_good[name], ca_key,
                                                  d)
        # sanity: the good one verifies, the expired one verifies but is
        # out of its validity period
        for kind, blob in (("good", ns.ocsp_good[name]),
                           ("expired", ns.ocsp_expired[name])):
            f = d / ("%s.%s.check.der" % (name, kind))
            f.write_bytes(blob)
            r = subprocess.run(
                ["openssl", "ocsp", "-respin", str(f), "-CAfile",
                 str(ns.ca_crt), "-issuer", str(ns.ca_crt), "-cert",
                 str(ns.crt[name]), "-no_nonce"],
                capture_output=True, text=True, timeout=30)
            text = r.stdout + r.stderr
            assert "Response verify OK" in text, text
            if kind == "good":
                assert ": good" in text and "invalid" not in text, text
            else:
                assert "status expired" in text, text
    return ns


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _listeners(s, n, timeout=10.0):
    """The first n (host, port) 'listening on' lines of stud s."""
    def got():
        return [(h, int(p)) for h, p in LISTEN_RE.findall(s.stderr())]
    ok = wait_until(lambda: len(got()) >= n or s.proc.poll() is not None,
                    timeout)
    lines = got()
    assert ok and len(lines) >= n, ("expected %d 'listening on' lines, got "
                                    "%r; stderr:\n%s" % (n, lines, s.stderr()))
    return lines[:n]


def _fail(*args, timeout=5.0):
    """Run stud with args expecting a one-line 'stud: ' error; returns it."""
    rc, err, _ = run_stud_expect_failure([str(a) for a in args], timeout)
    lines = err.splitlines()
    assert rc != 0, "stud accepted %r; stderr:\n%s" % (args, err)
    assert len(lines) == 1, "expected one stderr line for %r, got:\n%s" % (
        args, err)
    assert lines[0].startswith("stud: "), lines[0]
    # an option stud does not know is no proof that it checks the value
    low = lines[0].lower()
    assert "unknown option" not in low and "unrecognized" not in low, lines[0]
    return lines[0]


def _served_der(port, sni, ctx=None, host="127.0.0.1"):
    """DER of the certificate stud serves for this SNI (None = no SNI)."""
    with tls_connect(port, host=host, ctx=ctx, server_hostname=sni,
                     timeout=10) as c:
        return c.getpeercert(binary_form=True)


def _served(pki, port, sni, **kw):
    return pki.cn(_served_der(port, sni, **kw))


def _brief(out, key):
    m = re.search(r"^%s: (.+)$" % re.escape(key), out, re.M)
    return m.group(1).strip() if m else None


def s_client_full(port, *args, host="127.0.0.1", timeout=20):
    """openssl s_client without -brief (prints ALPN and OCSP details)."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "%s:%d" % (host, port)] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def _attempt(port, ctx=None, sni="localhost", host="127.0.0.1",
             payload=b"ping through stud\n"):
    """Handshake and one echo round trip.  ('ok', tls socket info) when the
    payload came back, else ('fail', reason): covers TLS 1.3, where the
    client finishes its handshake before the server judges its
    certificate and the failure shows on the first read."""
    try:
        s = tls_connect(port, host=host, ctx=ctx, server_hostname=sni,
                        timeout=10)
    except (ssl.SSLError, OSError) as e:
        return "fail", repr(e)
    with s:
        info = (s.version(), s.cipher()[0], s.selected_alpn_protocol())
        try:
            s.sendall(payload)
            got = recv_exact(s, len(payload))
        except (ssl.SSLError, OSError) as e:
            return "fail", repr(e)
    if got != payload:
        return "fail", "echo returned %r" % got
    return "ok", info


def _ctx(version=None, alpn=None, cert=None):
    ctx = client_context()
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
VERSIONS = pytest.mark.parametrize("version", [TLS12, TLS13],
                                   ids=["tls1.2", "tls1.3"])


def _port_free_both():
    """A port that is free on 127.0.0.1 and on [::] right now (a
    dual-stack bind to [::]:0 reserves it in both families)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _connect_outcome(host, port, timeout=5.0):
    """'refused' or 'connected' for a plain TCP connect."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(timeout)
    try:
        c.connect((host, port))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    finally:
        c.close()


# ---------------------------------------------------------------------------
# 1. SNI
# ---------------------------------------------------------------------------
@pytest.fixture
def sni_stud(stud_args, backend, pki):
    """sni_stud(names, *extra) -> stud with those PEMs as positional args
    in that order (the last is the default), an echo backend."""
    be = backend("echo")

    def start(names, *extra):
        return stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                         *extra, *[pki.pem[n] for n in names])
    return start


@VERSIONS
def test_sni_exact_wildcard_cn_and_default(sni_stud, pki, version):
    s = sni_stud(["www", "wild", "cnonly", "sanwins", "multi", "default"])
    ctx = _ctx(version)
    cases = [
        ("www.example.com", "www-cert"),      # exact beats the wildcard
        ("a.example.com", "wild-cert"),       # one label under the wildcard
        ("zz-9.example.com", "wild-cert"),
        ("example.com", "default-cert"),      # the wildcard needs a label
        ("a.b.example.com", "default-cert"),  # ... and exactly one
        ("cn-only.test", "cn-only.test"),     # no SAN: the CN counts
        ("cn-ignored.test", "default-cert"),  # SAN present: CN does not
        ("san-only.test", "cn-ignored.test"),
        ("one.test", "multi-cert"),           # every SAN entry counts
        ("two.test", "multi-cert"),
        ("default.test", "default-cert"),
        ("unknown.test", "default-cert"),     # unknown name: the last PEM
        (None, "default-cert"),               # no SNI: the last PEM
    ]
    got = [(sni, _served(pki, s.port, sni, ctx=ctx)) for sni, _ in cases]
    assert got == cases


def test_sni_exact_beats_wildcard_in_either_order(sni_stud, pki):
    s1 = sni_stud(["www", "wild", "default"])
    s2 = sni_stud(["wild", "www", "default"])
    for s in (s1, s2):
        assert _served(pki, s.port, "www.example.com") == "www-cert"
        assert _served(pki, s.port, "w.example.com") == "wild-cert"


def test_sni_last_pem_is_the_default(sni_stud, pki):
    s = sni_stud(["default", "www", "front_a"])
    assert _served(pki, s.port, None) == "front-a"
    assert _served(pki, s.port, "nowhere.test") == "front-a"
    assert _served(pki, s.port, "default.test") == "default-cert"
    assert _served(pki, s.port, "www.example.com") == "www-cert"


def test_sni_case_insensitive(sni_stud, pki):
    """Upper-case names sent by the client match lower-case SANs, and a
    mixed-case SAN matches a lower-case name (s_client sends -servername
    as given)."""
    s = sni_stud(["www", "wild", "mixed", "default"])
    for sni, want in (("WWW.EXAMPLE.COM", "www-cert"),
                      ("Www.Example.Com", "www-cert"),
                      ("ABC.EXAMPLE.COM", "wild-cert"),
                      ("mixed.example.org", "mixed-cert"),
                      ("MIXED.EXAMPLE.ORG", "mixed-cert")):
        rc, out = s_client(s.port, "-servername", sni)
        assert rc == 0, out
        assert _brief(out, "Peer certificate") == "CN = " + want, (sni, out)


def test_sni_pem_file_option_and_config_keys(stud_args, backend, pki,
                                             tmp_path):
    """--pem-file= repeated, and pem-file repeated in a configuration file:
    every certificate is loaded and the last one is the default."""
    be = backend("echo")
    s1 = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                   "--pem-file=%s" % pki.pem["www"],
                   "--pem-file=%s" % pki.pem["wild"],
                   "--pem-file=%s" % pki.pem["default"])
    conf = tmp_path / "sni.conf"
    conf.write_text('frontend = "[127.0.0.1]:0"\nbackend = "[127.0.0.1]:%d"\n'
                    'pem-file = "%s"\npem-file = "%s"\npem-file = "%s"\n'
                    % (be.port, pki.pem["default"], pki.pem["www"],
                       pki.pem["wild"]))
    s2 = stud_args("--config=%s" % conf)
    assert [_served(pki, s1.port, n) for n in
            ("www.example.com", "x.example.com", "default.test", None)] == \
        ["www-cert", "wild-cert", "default-cert", "default-cert"]
    assert [_served(pki, s2.port, n) for n in
            ("www.example.com", "x.example.com", "default.test", None)] == \
        ["www-cert", "wild-cert", "default-cert", "wild-cert"]


@VERSIONS
def test_sni_nomatch_abort(sni_stud, pki, version):
    s = sni_stud(["www", "wild", "default"], "--sni-nomatch-abort")
    ctx = _ctx(version)
    assert _served(pki, s.port, "www.example.com", ctx=ctx) == "www-cert"
    assert _served(pki, s.port, "q.example.com", ctx=ctx) == "wild-cert"
    assert _served(pki, s.port, "default.test", ctx=ctx) == "default-cert"
    assert _served(pki, s.port, None, ctx=ctx) == "default-cert"
    for sni in ("unknown.test", "example.com", "a.b.example.com"):
        with pytest.raises(ssl.SSLError) as e:
            _served(pki, s.port, sni, ctx=ctx)
        assert "UNRECOGNIZED NAME" in str(e.value).upper().replace(
            "_", " "), (sni, e.value)
    # the alert is unrecognized_name (112), as another client reports it
    rc, out = s_client(s.port, "-servername", "unknown.test")
    assert rc != 0 and _brief(out, "Protocol version") is None, out
    assert "unrecognized name" in out, out
    assert s.proc.poll() is None


def test_sni_nomatch_abort_config_key(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "abort.conf"
    conf.write_text('sni-nomatch-abort = on\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (be.port, pki.pem["www"]))
    s = stud_args("--config=%s" % conf)
    assert _served(pki, s.port, "www.example.com") == "www-cert"
    with pytest.raises(ssl.SSLError):
        _served(pki, s.port, "other.test")


def test_sni_rsa_and_ecdsa_for_one_name(sni_stud, pki):
    """Two PEMs with the same name, one RSA and one ECDSA: a client that
    takes ECDSA gets the ECDSA one, a client limited to RSA signatures
    gets the RSA one, in TLS 1.2 and 1.3, in either loading order."""
    for order in (["dual_rsa", "dual_ec", "default"],
                  ["dual_ec", "dual_rsa", "default"]):
        s = sni_stud(order)
        cases = [
            ((), "dual-ec"),
            (("-tls1_2",), "dual-ec"),
            (("-tls1_3",), "dual-ec"),
            (("-tls1_2", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"),
             "dual-rsa"),
            (("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"), "dual-rsa"),
            (("-tls1_2", "-sigalgs", "ECDSA+SHA256"), "dual-ec"),
        ]
        for args, want in cases:
            rc, out = s_client(s.port, "-servername", "dual.test", *args)
            assert rc == 0, (order, args, out)
            assert _brief(out, "Peer certificate") == "CN = " + want, (
                order, args, out)
        s.stop()


def test_sni_with_curl_and_gnutls(sni_stud, pki, tmp_path):
    """Other clients' SNI: curl (name from the URL, --resolve to loopback)
    verifying against the CA, and gnutls-cli."""
    s = sni_stud(["www", "wild", "default"])
    curl = which("curl")
    if curl:
        for name, want in (("www.example.com", "www-cert"),
                           ("b.example.com", "wild-cert")):
            r = subprocess.run(
                [curl, "-sS", "-v", "--max-time", "10", "--cacert",
                 str(pki.ca_crt), "--resolve",
                 "%s:%d:127.0.0.1" % (name, s.port),
                 "-o", "/dev/null", "https://%s:%d/" % (name, s.port)],
                capture_output=True, text=True, timeout=30)
            # the echo backend returns the request: curl verified the
            # certificate for this name (exit 0 or a protocol-level error
            # after the handshake are both fine); the subject is what counts
            assert "subject: CN=%s" % want in r.stderr, r.stderr
            assert "SSL certificate verify ok" in r.stderr, r.stderr
    gnutls = which("gnutls-cli")
    if gnutls:
        r = subprocess.run(
            [gnutls, "--insecure", "--no-ca-verification", "-p",
             str(s.port), "--sni-hostname", "www.example.com",
             "--print-cert", "127.0.0.1"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=30)
        assert "CN=www-cert" in r.stdout, r.stdout + r.stderr
    if not curl and not gnutls:
        pytest.skip("neither curl nor gnutls-cli installed")


# ---------------------------------------------------------------------------
# 2. protocols, ciphers, groups
# ---------------------------------------------------------------------------
WEAK = ("-cipher", "ALL:@SECLEVEL=0")


def _proto_outcomes(port):
    got = {}
    for flag in ("-tls1", "-tls1_1", "-tls1_2", "-tls1_3"):
        args = (flag,) + (WEAK if flag in ("-tls1", "-tls1_1") else ())
        rc, out = s_client(port, *args)
        got[flag] = _brief(out, "Protocol version") if rc == 0 else None
    return got


@pytest.mark.parametrize("spec,want", [
    ("TLSv1.3", {"-tls1_3": "TLSv1.3"}),
    ("TLSv1.2", {"-tls1_2": "TLSv1.2"}),
    ("TLSv1.2 TLSv1.3", {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}),
    ("TLSv1.2,TLSv1.3", {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}),
    ("TLSv1 TLSv1.1", {"-tls1": "TLSv1", "-tls1_1": "TLSv1.1"}),
    ("TLSv1.1,TLSv1.2,TLSv1.3", {"-tls1_1": "TLSv1.1", "-tls1_2": "TLSv1.2",
                                 "-tls1_3": "TLSv1.3"}),
], ids=["1.3", "1.2", "1.2+1.3-space", "1.2+1.3-comma", "1.0+1.1",
        "1.1-1.3"])
def test_tls_protos(stud_args, backend, pki, spec, want):
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--tls-protos=%s" % spec, "-c", "ALL:@SECLEVEL=0",
                  pki.pem["default"])
    full = {f: want.get(f) for f in ("-tls1", "-tls1_1", "-tls1_2", "-tls1_3")}
    assert _proto_outcomes(s.port) == full


def test_tls_protos_refusal_is_a_protocol_version_alert(stud_args, backend,
                                                        pki):
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--tls-protos=TLSv1.3", pki.pem["default"])
    ctx = _ctx(TLS12)
    with pytest.raises(ssl.SSLError) as e:
        _served(pki, s.port, None, ctx=ctx)
    assert "PROTOCOL VERSION" in str(e.value).upper().replace(
        "_", " "), e.value
    assert _attempt(s.port, _ctx(TLS13))[0] == "ok"


def test_tls_1_0_and_1_1_refused_by_default(stud_args, backend, pki):
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "-c", "ALL:@SECLEVEL=0", pki.pem["default"])
    assert _proto_outcomes(s.port) == {"-tls1": None, "-tls1_1": None,
                                       "-tls1_2": "TLSv1.2",
                                       "-tls1_3": "TLSv1.3"}


def test_tls_protos_config_key(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "p.conf"
    conf.write_text('tls-protos = "TLSv1.2"\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    got = _proto_outcomes(s.port)
    assert got["-tls1_2"] == "TLSv1.2" and got["-tls1_3"] is None, got


@pytest.mark.parametrize("args,tokens", [
    (["--tls-protos=TLSv1.3", "--tls"], ["tls-protos"]),
    (["--tls", "--tls-protos=TLSv1.3"], ["tls-protos"]),
    (["--tls-protos=TLSv1.3", "--ssl"], ["tls-protos", "ssl"]),
    (["--ssl", "--tls-protos=TLSv1.2"], ["tls-protos", "ssl"]),
    (["--tls-protos=TLSv1.4"], ["TLSv1.4"]),
    (["--tls-protos=SSLv3"], ["SSLv3"]),
    (["--tls-protos=TLSv1.2 bogus"], ["bogus"]),
    (["--ciphersuites=TLS_NO_SUCH_SUITE_SHA256"],
     ["TLS_NO_SUCH_SUITE_SHA256"]),
    (["-c", "NO-SUCH-CIPHER"], ["NO-SUCH-CIPHER"]),
    (["--ecdh-curve=nosuchcurve"], ["nosuchcurve"]),
    (["--ecdh-curve=X25519:bogus448"], ["bogus448"]),
], ids=["protos+tls", "tls+protos", "protos+ssl", "ssl+protos",
        "TLSv1.4", "SSLv3", "bogus-word", "bad-suite", "bad-cipher",
        "bad-curve", "bad-curve-in-list"])
def test_bad_protocol_and_algorithm_values(pki, args, tokens):
    line = _fail("-f", "127.0.0.1,0", "-b", "127.0.0.1,1", *args,
                 pki.pem["default"])
    for t in tokens:
        assert t in line, (t, line)


@VERSIONS
def test_ciphersuites_and_ciphers(stud_args, backend, pki, version):
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--ciphersuites=TLS_CHACHA20_POLY1305_SHA256",
                  "-c", "ECDHE-RSA-CHACHA20-POLY1305", pki.pem["default"])
    st, info = _attempt(s.port, _ctx(version))
    assert st == "ok", info
    want = ("TLS_CHACHA20_POLY1305_SHA256" if version == TLS13
            else "ECDHE-RSA-CHACHA20-POLY1305")
    assert info[1] == want, info
    if version == TLS13:
        rc, out = s_client(s.port, "-tls1_3", "-ciphersuites",
                           "TLS_AES_128_GCM_SHA256")
    else:
        rc, out = s_client(s.port, "-tls1_2", "-cipher",
                           "ECDHE-RSA-AES128-GCM-SHA256")
    assert rc != 0 and _brief(out, "Protocol version") is None, out
    rc, out = s_client(s.port, "-tls1_3", "-ciphersuites",
                       "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
    assert _brief(out, "Ciphersuite") == "TLS_CHACHA20_POLY1305_SHA256", out


def test_ciphersuites_config_key(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "cs.conf"
    conf.write_text('ciphersuites = "TLS_AES_128_GCM_SHA256"\n'
                    'frontend = "[127.0.0.1]:0"\nbackend = "[127.0.0.1]:%d"\n'
                    'pem-file = "%s"\n' % (be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    rc, out = s_client(s.port, "-tls1_3")
    assert _brief(out, "Ciphersuite") == "TLS_AES_128_GCM_SHA256", out


@pytest.mark.parametrize("curve,want,other", [
    ("X25519", "X25519", "P-256"),
    ("P-384", "384", "X25519"),
    ("secp384r1", "384", "P-256"),
])
def test_ecdh_curve(stud_args, backend, pki, curve, want, other):
    be = backend("echo")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--ecdh-curve=%s" % curve, pki.pem["default"])
    for v in ("-tls1_2", "-tls1_3"):
        rc, out = s_client(s.port, v)
        assert rc == 0, out
        key = _brief(out, "Server Temp Key") or ""
        assert want in key, (v, out)
        # a client offering only a group the server does not allow fails
        # (in TLS 1.2 only ECDHE suites depend on the group: a client that
        # also offers DHE suites could fall back to finite-field DH)
        limit = ("-cipher", "ECDHE") if v == "-tls1_2" else ()
        rc, out = s_client(s.port, v, "-groups", other, *limit)
        assert rc != 0 and _brief(out, "Protocol version") is None, (v, out)


def test_ecdh_curve_list_and_config_key(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "g.conf"
    conf.write_text('ecdh-curve = "P-384:X25519"\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    rc, out = s_client(s.port, "-tls1_3", "-groups", "X25519")
    assert rc == 0 and "X25519" in (_brief(out, "Server Temp Key") or ""), out
    rc, out = s_client(s.port, "-tls1_3", "-groups", "P-384")
    assert rc == 0 and "384" in (_brief(out, "Server Temp Key") or ""), out
    rc, out = s_client(s.port, "-tls1_3", "-groups", "P-256")
    assert rc != 0, out


# ---------------------------------------------------------------------------
# 3. ALPN
# ---------------------------------------------------------------------------
@pytest.fixture
def alpn_stud(stud_args, backend, pki):
    be = backend("echo")

    def start(*extra):
        return stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                         *extra, pki.pem["default"])
    return start


@VERSIONS
def test_alpn_server_order_decides(alpn_stud, version):
    s = alpn_stud("--alpn-protos=h2,http/1.1")
    for offer, want in ((["http/1.1", "h2"], "h2"),
                        (["h2", "http/1.1"], "h2"),
                        (["http/1.1"], "http/1.1"),
                        (["spdy/3", "http/1.1"], "http/1.1"),
                        (["h2"], "h2"),
                        (None, None)):
        st, info = _attempt(s.port, _ctx(version, alpn=offer))
        assert st == "ok", (offer, info)
        assert info[2] == want, (offer, info)


@VERSIONS
def test_alpn_no_overlap_is_fatal(alpn_stud, version):
    s = alpn_stud("--alpn-protos=h2,http/1.1")
    with pytest.raises(ssl.SSLError) as e:
        tls_connect(s.port, ctx=_ctx(version, alpn=["spdy/3", "imap"]),
                    timeout=10).close()
    assert "NO APPLICATION PROTOCOL" in str(e.value).upper().replace(
        "_", " "), e.value
    rc, out = s_client_full(s.port, "-alpn", "foo", "-tls1_2"
                            if version == TLS12 else "-tls1_3")
    assert rc != 0, out
    assert "no application protocol" in out, out
    assert s.proc.poll() is None


def test_alpn_not_configured_selects_nothing(alpn_stud):
    s = alpn_stud()
    st, info = _attempt(s.port, _ctx(alpn=["h2", "http/1.1"]))
    assert st == "ok" and info[2] is None, info


def test_alpn_with_s_client_curl_and_gnutls(alpn_stud, tmp_path):
    s = alpn_stud("--alpn-protos=h2,http/1.1")
    rc, out = s_client_full(s.port, "-alpn", "http/1.1,h2")
    assert rc == 0 and "ALPN protocol: h2" in out, out
    rc, out = s_client_full(s.port)
    assert rc == 0 and "No ALPN negotiated" in out, out
    if which("curl"):
        r = subprocess.run([which("curl"), "-sS", "-v", "-k", "--http1.1",
                            "--max-time", "5", "-o", "/dev/null",
                            "https://127.0.0.1:%d/" % s.port],
                           capture_output=True, text=True, timeout=30)
        assert re.search(r"ALPN[:,] server accepted( to use)? http/1\.1",
                         r.stderr), r.stderr
    if which("gnutls-cli"):
        r = subprocess.run([which("gnutls-cli"), "--insecure", "-p",
                            str(s.port), "--alpn=http/1.1", "--alpn=h2",
                            "127.0.0.1"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        assert "Application protocol: h2" in r.stdout, r.stdout + r.stderr


def test_alpn_config_key_and_bad_value(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "a.conf"
    conf.write_text('alpn-protos = "http/1.1"\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    st, info = _attempt(s.port, _ctx(alpn=["h2", "http/1.1"]))
    assert st == "ok" and info[2] == "http/1.1", info
    # a protocol name longer than ALPN's 255 bytes cannot be sent
    line = _fail("-f", "127.0.0.1,0", "-b", "127.0.0.1,1",
                 "--alpn-protos=h2," + "x" * 256, pki.pem["default"])
    assert "alpn" in line.lower(), line


# ---------------------------------------------------------------------------
# 4. PROXY protocol v2
# ---------------------------------------------------------------------------
def parse_v2(data):
    """Parse a PROXY v2 header at the start of data, byte by byte.
    Returns (dict, rest).  dict: family, src, dst, sport, dport,
    tlvs {type: value} (each type at most once), ssl {client, verify,
    sub {type: value}} when a 0x20 TLV is present."""
    assert len(data) >= 16, "short header: %r" % data
    assert data[:12] == V2_SIG, "bad signature %r" % data[:12]
    assert data[12] == 0x21, "version/command 0x%02x, want 0x21" % data[12]
    fam = data[13]
    length = struct.unpack("!H", data[14:16])[0]
    assert len(data) >= 16 + length, "header claims %d bytes, got %d" % (
        length, len(data) - 16)
    body, rest = data[16:16 + length], data[16 + length:]
    if fam == 0x11:
        alen, af = 12, socket.AF_INET
        n = 4
    elif fam == 0x21:
        alen, af = 36, socket.AF_INET6
        n = 16
    else:
        raise AssertionError("family/protocol 0x%02x" % fam)
    assert length >= alen, "address block %d < %d" % (length, alen)
    out = {"family": fam,
           "src": socket.inet_ntop(af, body[:n]),
           "dst": socket.inet_ntop(af, body[n:2 * n]),
           "sport": struct.unpack("!H", body[2 * n:2 * n + 2])[0],
           "dport": struct.unpack("!H", body[2 * n + 2:2 * n + 4])[0],
           "tlvs": {}, "order": []}
    out["tlvs"], out["order"] = _parse_tlvs(body[alen:])
    if PP2_TYPE_SSL in out["tlvs"]:
        v = out["tlvs"][PP2_TYPE_SSL]
        assert len(v) >= 5, "SSL TLV too short: %r" % v
        sub, order = _parse_tlvs(v[5:])
        out["ssl"] = {"client": v[0], "verify": struct.unpack("!I", v[1:5])[0],
                      "sub": sub, "order": order}
    return out, rest


def _parse_tlvs(b):
    tlvs, order, p = {}, [], 0
    while p < len(b):
        assert len(b) - p >= 3, "truncated TLV header at %d: %r" % (p, b[p:])
        t = b[p]
        n = struct.unpack("!H", b[p + 1:p + 3])[0]
        assert p + 3 + n <= len(b), "TLV 0x%02x overruns: %d > %d" % (
            t, p + 3 + n, len(b))
        if t != PP2_TYPE_NOOP:
            assert t not in tlvs, "TLV 0x%02x twice" % t
            tlvs[t] = bytes(b[p + 3:p + 3 + n])
            order.append(t)
        p += 3 + n
    return tlvs, order


def _v2_session(port, ctx, sni="localhost", host="127.0.0.1", source=None,
                payload=b"payload after the v2 header", session=None):
    """Connect, send payload, half-close, read to EOF; returns what the
    client saw (local addr/port, version, cipher, alpn, reused)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(10)
    try:
        if source:
            raw.bind(source)
        raw.connect((host, port))
        c = ctx.wrap_socket(raw, server_hostname=sni, session=session,
                            suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise
    with c:
        info = types.SimpleNamespace(
            addr=c.getsockname()[0], port=c.getsockname()[1],
            version=c.version(), cipher=c.cipher()[0],
            alpn=c.selected_alpn_protocol(), payload=payload)
        c.sendall(payload)
        tcp_shut_wr(c)
        recv_all(c, limit=1 << 16)
        info.session, info.reused = c.session, c.session_reused
    return info


def _one_record(be, n=1, timeout=10.0):
    recs = be.wait_records(n, timeout)
    assert len(recs) == n, "backend got %d connections, expected %d: %r" % (
        len(recs), n, recs)
    return recs[n - 1]


def _check_v2(rec, info, stud_addr, stud_port, family, alpn, sni,
              cn=None):
    hdr, rest = parse_v2(rec)
    assert rest == info.payload, "data after the header: %r" % rest
    assert hdr["family"] == family
    assert (hdr["src"], hdr["sport"]) == (info.addr, info.port), hdr
    assert (hdr["dst"], hdr["dport"]) == (stud_addr, stud_port), hdr
    t = hdr["tlvs"]
    assert set(t) <= {PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_SSL}, t
    if alpn is None:
        assert PP2_TYPE_ALPN not in t, t
    else:
        assert t.get(PP2_TYPE_ALPN) == alpn.encode(), t
    if sni is None:
        assert PP2_TYPE_AUTHORITY not in t, t
    else:
        assert t.get(PP2_TYPE_AUTHORITY) == sni.encode(), t
    assert PP2_TYPE_SSL in t, t
    ssl_tlv = hdr["ssl"]
    assert ssl_tlv["client"] & PP2_CLIENT_SSL, ssl_tlv
    sub = ssl_tlv["sub"]
    assert set(sub) <= {PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN,
                        PP2_SUBTYPE_SSL_CIPHER, 0x24, 0x25}, sub
    assert sub.get(PP2_SUBTYPE_SSL_VERSION) == info.version.encode(), sub
    assert sub.get(PP2_SUBTYPE_SSL_CIPHER) == info.cipher.encode(), sub
    if cn is None:
        assert PP2_SUBTYPE_SSL_CN not in sub, sub
        assert ssl_tlv["client"] & (PP2_CLIENT_CERT_CONN |
                                    PP2_CLIENT_CERT_SESS) == 0, ssl_tlv
        assert ssl_tlv["verify"] != 0, ssl_tlv
    else:
        assert sub.get(PP2_SUBTYPE_SSL_CN) == cn.encode(), sub
    return hdr


@VERSIONS
@pytest.mark.parametrize("alpn_offer,sni", [
    (["http/1.1", "h2"], "www.example.com"),
    (None, "www.example.com"),
    (["h2"], None),
    (None, None),
], ids=["alpn+sni", "sni-only", "alpn-only", "neither"])
def test_write_proxy_v2_ipv4(stud_args, backend, pki, version, alpn_offer,
                             sni):
    be = backend("record")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--write-proxy-v2", "--alpn-protos=h2,http/1.1",
                  pki.pem["www"], pki.pem["default"])
    info = _v2_session(s.port, _ctx(version, alpn=alpn_offer), sni=sni,
                       source=("127.0.0.2", 0))
    assert info.addr == "127.0.0.2"
    assert info.alpn == ("h2" if alpn_offer else None)
    rec = _one_record(be)
    _check_v2(rec, info, "127.0.0.1", s.port, 0x11, info.alpn, sni)


@needs_ipv6
@VERSIONS
def test_write_proxy_v2_ipv6(stud_args, backend, pki, version):
    be = backend("record")
    s = stud_args("-f", "[::1]:0", "-b", "127.0.0.1,%d" % be.port,
                  "--write-proxy-v2", "--alpn-protos=http/1.1",
                  pki.pem["www"], pki.pem["default"])
    info = _v2_session(s.port, _ctx(version, alpn=["http/1.1"]),
                       sni="www.example.com", host="::1")
    rec = _one_record(be)
    _check_v2(rec, info, "::1", s.port, 0x21, "http/1.1", "www.example.com")


def test_write_proxy_v2_no_alpn_tlv_without_alpn_config(stud_args, backend,
                                                        pki):
    be = backend("record")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--write-proxy-v2", pki.pem["default"])
    info = _v2_session(s.port, _ctx(alpn=["h2"]), sni="some.name.test")
    assert info.alpn is None
    _check_v2(_one_record(be), info, "127.0.0.1", s.port, 0x11, None,
              "some.name.test")


def test_write_proxy_v2_config_key_and_exclusivity(stud_args, backend, pki,
                                                   tmp_path):
    be = backend("record")
    conf = tmp_path / "v2.conf"
    conf.write_text('write-proxy-v2 = on\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    info = _v2_session(s.port, _ctx(TLS13), sni=None)
    _check_v2(_one_record(be), info, "127.0.0.1", s.port, 0x11, None, None)
    # like the other address headers, only one kind per connection
    for other in ("--write-ip", "--write-proxy", "--proxy-proxy"):
        _fail("-f", "127.0.0.1,0", "-b", "127.0.0.1,1", "--write-proxy-v2",
              other, pki.pem["default"])


@pytest.mark.parametrize("flag", ["--write-proxy", "--write-proxy-v1",
                                  "write-proxy-v1 = on"])
def test_write_proxy_v1_and_alias(stud_args, backend, pki, tmp_path, flag):
    be = backend("record")
    if flag.startswith("--"):
        s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                      flag, pki.pem["default"])
    else:
        conf = tmp_path / "v1.conf"
        conf.write_text('%s\nfrontend = "[127.0.0.1]:0"\n'
                        'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                        % (flag, be.port, pki.pem["default"]))
        s = stud_args("--config=%s" % conf)
    info = _v2_session(s.port, _ctx(), source=("127.0.0.2", 0))
    want = ("PROXY TCP4 127.0.0.2 127.0.0.1 %d %d\r\n"
            % (info.port, s.port)).encode() + info.payload
    assert _one_record(be) == want


HAPROXY_V2_CFG = haproxy_accept_proxy_cfg(
    "src=%[src] sport=%[src_port] dst=%[dst] dport=%[dst_port] authority=%[fc_pp_authority]")


@pytest.mark.parametrize("sni", ["interop.example.com", None],
                         ids=["sni", "no-sni"])
def test_write_proxy_v2_with_real_haproxy(stud_args, pki, haproxy, sni):
    hport = haproxy(HAPROXY_V2_CFG)
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % hport,
                  "--write-proxy-v2", "--alpn-protos=http/1.1",
                  pki.pem["default"])
    with tls_connect(s.port, source=("127.0.0.2", 0), timeout=10,
                     server_hostname=sni,
                     ctx=_ctx(alpn=["http/1.1"])) as c:
        cport = c.getsockname()[1]
        c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        raw, _ = recv_all(c, limit=1 << 16)
    assert raw.startswith(b"HTTP/1.1 200"), raw
    body = raw.partition(b"\r\n\r\n")[2].decode()
    assert body == ("src=127.0.0.2 sport=%d dst=127.0.0.1 dport=%d "
                    "authority=%s" % (cport, s.port, sni or "")), body


def _tlv(t, v):
    return bytes([t]) + struct.pack("!H", len(v)) + v


@pytest.mark.parametrize("split", [False, True], ids=["one-send", "split"])
def test_proxy_proxy_passes_v2_with_tlvs_unchanged(stud_args, backend, pki,
                                                   split):
    be = backend("record")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
                  "--proxy-proxy", pki.pem["default"])
    ssl_tlv = (b"\x07" + struct.pack("!I", 0)
               + _tlv(0x21, b"TLSv1.3") + _tlv(0x23, b"TLS_AES_128_GCM_SHA256")
               + _tlv(0x22, b"balancer client"))
    tlvs = (_tlv(0x01, b"h2") + _tlv(0x02, b"front.example.com")
            + _tlv(0x05, bytes(range(32))) + _tlv(0x04, b"\0" * 7)
            + _tlv(0x20, ssl_tlv) + _tlv(0xE0, b"\xff\x00custom\x00"))
    body = (socket.inet_pton(socket.AF_INET6, "2001:db8::7")
            + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
            + struct.pack("!HH", 40000, 443) + tlvs)
    header = V2_SIG + b"\x21\x21" + struct.pack("!H", len(body)) + body
    payload = b"decrypted bytes after a v2 header with TLVs"
    if split:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for a, b in ((0, 10), (10, 17), (17, 60), (60, len(header))):
                raw.sendall(header[a:b])
                time.sleep(0.05)
            c = client_context().wrap_socket(raw, server_hostname="localhost",
                                             suppress_ragged_eofs=False)
        except BaseException:
            raw.close()
            raise
        with c:
            c.sendall(payload)
            tcp_shut_wr(c)
            recv_all(c, limit=1 << 16)
    else:
        # the header and the ClientHello in a single send()
        c = BioClient(s.port, prefix=header, timeout=10)
        try:
            c.send(payload)
            c.close_notify()
            c.recv_all()
        finally:
            c.close()
    assert _one_record(be) == header + payload


# ---------------------------------------------------------------------------
# 5. OCSP stapling
# ---------------------------------------------------------------------------
def _staple(port, sni=None, extra=()):
    """(stapled?, s_client output) for one -status handshake."""
    args = ["-status"] + (["-servername", sni] if sni else []) + list(extra)
    rc, out = s_client_full(port, *args)
    assert rc == 0, out
    if "OCSP response: no response sent" in out:
        return False, out
    assert "OCSP Response Status: successful" in out, out
    return True, out


def _ocsp_copy(pki, tmp_path, name, ocsp=None):
    pem = tmp_path / (name + ".pem")
    shutil.copy(pki.pem[name], pem)
    if ocsp is not None:
        (tmp_path / (name + ".pem.ocsp")).write_bytes(ocsp)
    return pem


@VERSIONS
def test_ocsp_staple_present_and_absent(stud_args, backend, pki, tmp_path,
                                        version):
    be = backend("echo")
    a = _ocsp_copy(pki, tmp_path, "ocsp_a", pki.ocsp_good["ocsp_a"])
    b = _ocsp_copy(pki, tmp_path, "ocsp_b")          # no .ocsp file
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, b, a)
    v = "-tls1_2" if version == TLS12 else "-tls1_3"
    serial_a = subprocess.run(
        ["openssl", "x509", "-in", str(pki.crt["ocsp_a"]), "-noout",
         "-serial"], capture_output=True, text=True,
        timeout=10).stdout.strip().split("=")[1]
    for sni in ("ocsp-a.test", None):             # by name and as default
        stapled, out = _staple(s.port, sni, [v])
        assert stapled, out
        assert "Cert Status: good" in out, out
        assert "Serial Number: %s" % serial_a in out, out
    stapled, out = _staple(s.port, "ocsp-b.test", [v])
    assert not stapled, out


def test_ocsp_staple_matches_the_file(stud_args, backend, pki,
                                               tmp_path):
    """What s_client receives, printed as text, equals the text of the
    file's response (same producedAt, thisUpdate, nextUpdate, signature)."""
    be = backend("echo")
    a = _ocsp_copy(pki, tmp_path, "ocsp_a", pki.ocsp_good["ocsp_a"])
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, a)
    stapled, out = _staple(s.port)
    assert stapled, out
    r = subprocess.run(["openssl", "ocsp", "-respin",
                        str(tmp_path / "ocsp_a.pem.ocsp"), "-resp_text",
                        "-noverify"], capture_output=True, text=True,
                       timeout=10)
    want = r.stdout[r.stdout.index("OCSP Response Data:"):]
    want = [l.strip() for l in want.splitlines() if l.strip()]
    got = out[out.index("OCSP Response Data:"):]
    got = [l.strip() for l in got.splitlines() if l.strip()][:len(want)]
    assert got == want


def test_ocsp_expired_response_not_stapled_and_logged(stud_args, backend,
                                                      pki, tmp_path):
    be = backend("echo")
    a = _ocsp_copy(pki, tmp_path, "ocsp_a", pki.ocsp_expired["ocsp_a"])
    b = _ocsp_copy(pki, tmp_path, "ocsp_b", pki.ocsp_good["ocsp_b"])
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, a, b)
    stapled, out = _staple(s.port, "ocsp-a.test")
    assert not stapled, out
    stapled, out = _staple(s.port, "ocsp-b.test")
    assert stapled, out
    lines = [l for l in s.stderr().splitlines() if "ocsp_a.pem.ocsp" in l]
    assert lines, "no log line names ocsp_a.pem.ocsp:\n" + s.stderr()
    assert not [l for l in s.stderr().splitlines()
                if "ocsp_b.pem.ocsp" in l and "expired" in l.lower()]


def test_ocsp_reread_on_reload(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    a = _ocsp_copy(pki, tmp_path, "ocsp_a")
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, a)
    assert not _staple(s.port)[0]
    (tmp_path / "ocsp_a.pem.ocsp").write_bytes(pki.ocsp_good["ocsp_a"])
    before = s.stderr().count("configuration reloaded")
    s.send_signal(signal.SIGHUP)
    assert wait_until(lambda: s.stderr().count("configuration reloaded")
                      > before, 10.0), s.stderr()
    assert wait_until(lambda: _staple(s.port)[0], 10.0, 0.2), \
        "still no staple after the reload:\n" + s.stderr()
    # and removing it again: no staple after the next reload
    (tmp_path / "ocsp_a.pem.ocsp").unlink()
    before = s.stderr().count("configuration reloaded")
    s.send_signal(signal.SIGHUP)
    assert wait_until(lambda: s.stderr().count("configuration reloaded")
                      > before, 10.0), s.stderr()
    assert wait_until(lambda: not _staple(s.port)[0], 10.0, 0.2)


def test_ocsp_client_not_asking_gets_no_staple_and_is_served(
        stud_args, backend, pki, tmp_path):
    be = backend("echo")
    a = _ocsp_copy(pki, tmp_path, "ocsp_a", pki.ocsp_good["ocsp_a"])
    s = stud_args("-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port, a)
    rc, out = s_client_full(s.port)
    assert rc == 0 and "OCSP response" not in out, out
    assert _attempt(s.port)[0] == "ok"


# ---------------------------------------------------------------------------
# 6. client certificates
# ---------------------------------------------------------------------------
@pytest.fixture
def cv_stud(stud_args, backend, pki):
    """cv_stud(mode, *extra, record=False) -> (stud, backend)."""
    def start(mode, *extra, record=False):
        be = backend("record" if record else "echo")
        args = ["-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port]
        if mode is not None:
            args.append("--client-verify=%s" % mode)
        if mode in ("optional", "required"):
            args.append("--client-verify-ca=%s" % pki.client_bundle)
        s = stud_args(*args, *extra, pki.pem["default"])
        return s, be
    return start


@VERSIONS
@pytest.mark.parametrize("mode,want", [
    (None, {"none": "ok", "alice": "ok", "bob": "ok", "mallory": "ok"}),
    ("none", {"none": "ok", "alice": "ok", "bob": "ok", "mallory": "ok"}),
    ("optional", {"none": "ok", "alice": "ok", "bob": "ok",
                  "mallory": "fail"}),
    ("required", {"none": "fail", "alice": "ok", "bob": "ok",
                  "mallory": "fail"}),
])
def test_client_verify_modes(cv_stud, pki, version, mode, want):
    s, be = cv_stud(mode)
    got, why = {}, {}
    for who in ("none", "alice", "bob", "mallory"):
        cert = None if who == "none" else getattr(pki, who)
        got[who], why[who] = _attempt(s.port, _ctx(version, cert=cert))
    assert got == want, why
    assert s.proc.poll() is None


@VERSIONS
def test_client_verify_result_in_proxy_v2(cv_stud, pki, version):
    s, be = cv_stud("optional", "--write-proxy-v2", record=True)
    # alice: presented, verified
    info = _v2_session(s.port, _ctx(version, cert=pki.alice), sni=None)
    hdr = _check_v2(_one_record(be, 1), info, "127.0.0.1", s.port, 0x11,
                    None, None, cn="alice")
    st = hdr["ssl"]
    assert st["verify"] == 0, st
    assert st["client"] & PP2_CLIENT_CERT_CONN, st
    assert st["client"] & PP2_CLIENT_CERT_SESS, st
    # bob, from the other CA of the bundle
    info = _v2_session(s.port, _ctx(version, cert=pki.bob), sni=None)
    hdr = _check_v2(_one_record(be, 2), info, "127.0.0.1", s.port, 0x11,
                    None, None, cn="bob")
    assert hdr["ssl"]["verify"] == 0
    # no certificate: non-zero verify, no certificate flags, no CN
    info = _v2_session(s.port, _ctx(version), sni=None)
    hdr = _check_v2(_one_record(be, 3), info, "127.0.0.1", s.port, 0x11,
                    None, None)
    assert hdr["ssl"]["client"] == PP2_CLIENT_SSL, hdr["ssl"]


def test_client_verify_none_does_not_request(cv_stud, pki):
    """With none, a client holding a certificate is not asked for it: the
    SSL TLV shows no certificate."""
    s, be = cv_stud("none", "--write-proxy-v2", record=True)
    info = _v2_session(s.port, _ctx(cert=pki.alice), sni=None)
    hdr = _check_v2(_one_record(be), info, "127.0.0.1", s.port, 0x11, None,
                    None)
    assert hdr["ssl"]["client"] == PP2_CLIENT_SSL, hdr["ssl"]


def test_client_cert_resumed_session_flags(cv_stud, pki):
    """TLS 1.2 session-ID resumption: the certificate was presented in the
    session but not on this connection: CERT_SESS without CERT_CONN."""
    s, be = cv_stud("optional", "--write-proxy-v2", record=True)
    ctx = _ctx(TLS12, cert=pki.alice)
    ctx.options |= ssl.OP_NO_TICKET
    first = _v2_session(s.port, ctx, sni=None)
    assert not first.reused
    h1 = _check_v2(_one_record(be, 1), first, "127.0.0.1", s.port, 0x11,
                   None, None, cn="alice")
    assert h1["ssl"]["client"] == (PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN |
                                   PP2_CLIENT_CERT_SESS), h1["ssl"]
    second = _v2_session(s.port, ctx, sni=None, session=first.session)
    assert second.reused, "session not resumed"
    hdr, _ = parse_v2(_one_record(be, 2))
    st = hdr["ssl"]
    assert st["client"] == PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, st
    assert st["verify"] == 0, st


@pytest.mark.parametrize("args,tokens", [
    (["--client-verify=optional"], ["client-verify-ca"]),
    (["--client-verify=required"], ["client-verify-ca"]),
    (["--client-verify=sometimes"], ["sometimes"]),
    (["--client-verify=required", "--client-verify-ca=/nonexistent/ca.pem"],
     ["/nonexistent/ca.pem"]),
], ids=["optional-no-ca", "required-no-ca", "bad-mode", "missing-ca-file"])
def test_client_verify_errors(pki, args, tokens):
    line = _fail("-f", "127.0.0.1,0", "-b", "127.0.0.1,1", *args,
                 pki.pem["default"])
    for t in tokens:
        assert t in line, (t, line)


def test_client_verify_ca_file_not_a_ca_bundle(pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    line = _fail("-f", "127.0.0.1,0", "-b", "127.0.0.1,1",
                 "--client-verify=optional", "--client-verify-ca=%s" % junk,
                 pki.pem["default"])
    assert "junk.pem" in line, line


def test_client_verify_config_keys(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "cv.conf"
    conf.write_text('client-verify = required\nclient-verify-ca = "%s"\n'
                    'frontend = "[127.0.0.1]:0"\nbackend = "[127.0.0.1]:%d"\n'
                    'pem-file = "%s"\n'
                    % (pki.client_ca1, be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    assert _attempt(s.port, _ctx(cert=pki.alice))[0] == "ok"
    assert _attempt(s.port, _ctx())[0] == "fail"
    assert _attempt(s.port, _ctx(cert=pki.bob))[0] == "fail"   # CA 2 absent


def test_client_cert_with_s_client(cv_stud, pki):
    s, be = cv_stud("required")
    rc, out = s_client(s.port, "-cert", pki.alice[0], "-key", pki.alice[1])
    assert rc == 0 and _brief(out, "Protocol version"), out
    rc, out = s_client_full(s.port, "-tls1_2")
    assert rc != 0, out


# ---------------------------------------------------------------------------
# 7. frontends and backend
# ---------------------------------------------------------------------------
def test_several_frontends_listed_in_order(stud_args, backend, pki):
    be = backend("echo")
    fronts = ["[127.0.0.1]:0", "127.0.0.2,0", "[127.0.0.1]:0"]
    if ipv6_loopback_available():
        fronts.append("[::1]:0")
    args = []
    for f in fronts:
        args += ["-f", f]
    s = stud_args(*args, "-b", "127.0.0.1,%d" % be.port, pki.pem["default"])
    lines = _listeners(s, len(fronts))
    hosts = [h for h, _ in lines]
    assert hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.1", "::1"][
        :len(fronts)], lines
    assert len({p for _, p in lines}) == len(lines), lines   # port 0 each
    assert all(p != 0 for _, p in lines), lines
    for h, p in lines:
        st, info = _attempt(p, host=h)
        assert st == "ok", (h, p, info)
    time.sleep(0.3)
    assert len(LISTEN_RE.findall(s.stderr())) == len(fronts), s.stderr()


def test_frontend_own_certificates(stud_args, backend, pki):
    be = backend("echo")
    s = stud_args("-f", "[127.0.0.1]:0+%s" % pki.pem["front_a"],
                  "-f", "[127.0.0.1]:0+%s" % pki.pem["front_b"],
                  "-f", "[127.0.0.1]:0",
                  "-b", "127.0.0.1,%d" % be.port,
                  pki.pem["www"], pki.pem["default"])
    (_, pa), (_, pb), (_, pc) = _listeners(s, 3)
    assert _served(pki, pa, None) == "front-a"
    assert _served(pki, pb, None) == "front-b"
    assert _served(pki, pc, None) == "default-cert"
    assert _served(pki, pa, "unknown.test") == "front-a"
    assert _served(pki, pb, "unknown.test") == "front-b"
    # the global certificates are still there for SNI on the plain one
    assert _served(pki, pc, "www.example.com") == "www-cert"


def test_frontends_from_config_file(stud_args, backend, pki, tmp_path):
    be = backend("echo")
    conf = tmp_path / "fe.conf"
    conf.write_text('frontend = "[127.0.0.1]:0+%s"\n'
                    'frontend = "[127.0.0.2]:0"\n'
                    'backend = "[127.0.0.1]:%d"\npem-file = "%s"\n'
                    % (pki.pem["front_a"], be.port, pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    (h1, p1), (h2, p2) = _listeners(s, 2)
    assert (h1, h2) == ("127.0.0.1", "127.0.0.2")
    assert _served(pki, p1, None) == "front-a"
    assert _served(pki, p2, None, host="127.0.0.2") == "default-cert"


def test_duplicate_frontend_is_an_error(pki):
    port = free_port()
    for a, b in (("127.0.0.1,%d" % port, "[127.0.0.1]:%d" % port),
                 ("[127.0.0.1]:%d" % port, "[127.0.0.1]:%d+%s"
                  % (port, pki.pem["front_a"]))):
        line = _fail("-f", a, "-f", b, "-b", "127.0.0.1,1",
                     pki.pem["default"])
        assert str(port) in line, line


@needs_ipv6
def test_ipv6_frontends_are_v6_only(stud_args, backend, pki):
    be = backend("echo")
    common = ["-b", "127.0.0.1,%d" % be.port, pki.pem["default"]]
    # [::1]:P and [127.0.0.1]:P on the same port both bind
    for attempt in range(5):
        port = _port_free_both()
        s = stud_args("-f", "[::1]:%d" % port, "-f", "[127.0.0.1]:%d" % port,
                      *common, wait=False)
        ok = wait_until(lambda: len(LISTEN_RE.findall(s.stderr())) >= 2 or
                        s.proc.poll() is not None, 10.0)
        if s.proc.poll() is None or "in use" not in s.stderr():
            break
        s.stop()                       # the port was taken meanwhile: retry
    assert ok and s.proc.poll() is None, s.stderr()
    assert _listeners(s, 2) == [("::1", port), ("127.0.0.1", port)]
    assert _attempt(port, host="::1")[0] == "ok"
    assert _attempt(port, host="127.0.0.1")[0] == "ok"
    s.stop()

    # [::]:P alone does not take IPv4 clients
    port = _port_free_both()
    s = stud_args("-f", "[::]:%d" % port, *common)
    assert _attempt(port, host="::1")[0] == "ok"
    assert _connect_outcome("127.0.0.1", port) == "refused"
    s.stop()

    # [::]:P with a v4 frontend on the same port: both families served
    port = _port_free_both()
    s = stud_args("-f", "[::]:%d" % port, "-f", "[127.0.0.1]:%d" % port,
                  *common)
    assert _listeners(s, 2) == [("::", port), ("127.0.0.1", port)]
    assert _attempt(port, host="::1")[0] == "ok"
    assert _attempt(port, host="127.0.0.1")[0] == "ok"


class UnixRecordBackend:
    """A record-mode backend on a UNIX-domain socket: keeps every byte of
    each connection (until its EOF) in .records."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.records = []
        self.cv = threading.Condition()
        self.threads = []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._one, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _one(self, c):
        c.settimeout(20)
        chunks = []
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                chunks.append(b)
                c.sendall(b)            # echo as well
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()
            with self.cv:
                self.records.append(b"".join(chunks))
                self.cv.notify_all()

    def wait_records(self, n, timeout=10.0):
        with self.cv:
            self.cv.wait_for(lambda: len(self.records) >= n, timeout)
            return list(self.records)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.t.join(5)
        for t in self.threads:
            t.join(5)


@pytest.fixture
def unix_backend(tmp_path):
    # sun_path holds 108 bytes: pytest's tmp_path can be longer
    d = tmp_path if len(str(tmp_path)) < 80 else \
        Path(tempfile.mkdtemp(prefix="stud-ux-"))
    b = UnixRecordBackend(d / "be.sock")
    yield b
    b.close()
    if d != tmp_path:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("header", [None, "--write-proxy", "--write-proxy-v2"])
def test_unix_socket_backend(stud_args, pki, unix_backend, header):
    args = ["-f", "127.0.0.1,0", "-b", unix_backend.path]
    if header:
        args.append(header)
    s = stud_args(*args, pki.pem["default"])
    info = _v2_session(s.port, _ctx(TLS13), sni=None, source=("127.0.0.2", 0),
                       payload=b"over a unix socket\n")
    recs = unix_backend.wait_records(1)
    assert len(recs) == 1, recs
    rec = recs[0]
    if header is None:
        assert rec == info.payload
    elif header == "--write-proxy":
        assert rec == ("PROXY TCP4 127.0.0.2 127.0.0.1 %d %d\r\n"
                       % (info.port, s.port)).encode() + info.payload
    else:
        _check_v2(rec, info, "127.0.0.1", s.port, 0x11, None, None)


def test_unix_socket_backend_echo_roundtrip(stud_args, pki, unix_backend):
    s = stud_args("-f", "127.0.0.1,0", "-b", unix_backend.path,
                  pki.pem["default"])
    for i in range(3):
        st, info = _attempt(s.port, payload=b"round trip %d\n" % i)
        assert st == "ok", info


def test_unix_socket_backend_in_config(stud_args, pki, unix_backend,
                                       tmp_path):
    conf = tmp_path / "ux.conf"
    conf.write_text('frontend = "[127.0.0.1]:0"\nbackend = "%s"\n'
                    'pem-file = "%s"\n' % (unix_backend.path,
                                           pki.pem["default"]))
    s = stud_args("--config=%s" % conf)
    assert _attempt(s.port)[0] == "ok"


def _ca_chain(d):
    """root -> intermediate -> leaf (CN=localhost), P-256, in d."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       capture_output=True, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    (d / "ca.ext").write_text("basicConstraints=critical,CA:true\n"
                              "keyUsage=critical,keyCertSign,cRLSign\n")
    run("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.crt",
        "-days", "3", "-subj", "/CN=stud test root")
    run("req", *ec, "-keyout", "int.key", "-out", "int.csr",
        "-subj", "/CN=stud test intermediate")
    run("x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey",
        "root.key", "-set_serial", "2", "-days", "3", "-extfile", "ca.ext",
        "-out", "int.crt")
    run("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "int.crt", "-CAkey",
        "int.key", "-set_serial", "3", "-days", "3", "-out", "leaf.crt")
    return {n: (d / (n + ".crt")).read_bytes() for n in ("root", "int",
                                                         "leaf")}, \
        (d / "leaf.key").read_bytes()


def _chain_sent(port):
    """The subjects of the certificates stud sends, in order."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-showcerts"],
                       input=b"", capture_output=True, timeout=20)
    return re.findall(rb"^ *\d+ s:(?:CN ?= ?)?(.*)$", r.stdout, re.M)


@pytest.mark.parametrize("case", ["leaf", "leaf+int", "leaf, CAs in store"])
def test_certificate_chain_sent(start_stud, backend, tmp_path, case):
    """A PEM's chain goes out as given; a PEM with none gets what the
    context's store holds (the --client-verify-ca file), found once at
    load time rather than at each handshake."""
    crt, key = _ca_chain(tmp_path)
    pem = tmp_path / "stud.pem"
    pem.write_bytes(crt["leaf"] + (crt["int"] if case == "leaf+int" else
                                   b"") + key)
    extra = []
    if case == "leaf, CAs in store":
        cas = tmp_path / "cas.pem"
        cas.write_bytes(crt["int"] + crt["root"])
        extra = ["--client-verify=optional", "--client-verify-ca=%s" % cas]
    be = backend("http")
    s = start_stud(be.port, *extra, pem=pem)
    want = {"leaf": [b"localhost"],
            "leaf+int": [b"localhost", b"stud test intermediate"],
            "leaf, CAs in store": [b"localhost", b"stud test intermediate",
                                   b"stud test root"]}[case]
    for _ in range(2):			# the same on every handshake
        assert _chain_sent(s.port) == want
