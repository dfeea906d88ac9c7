#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME/).

Run from anywhere: python3 tests/fuzz/make_seeds.py. Existing files with
the same names are overwritten; regression inputs (crash-*, regress-*) are
left alone. The seeds are committed; this script documents how they were
made and what their leading selector bytes mean (see each fuzz_NAME.c)."""

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def put(name, fname, data):
    d = CORPUS / name
    d.mkdir(parents=True, exist_ok=True)
    (d / fname).write_bytes(data)


# --- config_file: plain configuration files --------------------------------
put("config_file", "defaults.conf", b"""# comment
tls = on
ciphers = ""
backend = "[127.0.0.1]:8000"
frontend = "[*]:8443"
workers = 1
backlog = 100
keepalive = 3600
quiet = off
syslog-facility = "daemon"
""")
put("config_file", "everything.conf", b"""ssl = yes
ciphers = "ECDHE+AESGCM:!aNULL"   # trailing comment
prefer-server-ciphers = true
frontend = *,443
backend = ::1,8080
workers = 8
session-cache = 1000
shared-cache = 2000
ssl-handshake-timeout = 5
backend-connect-timeout = 0
idle-timeout = 600
shutdown-timeout = 1
max-connections = 10000
chroot = /var/empty
user = nobody
group = nogroup
syslog = 1
daemon = no
pidfile = "/run/stud.pid"
write-proxy = on
pem-file = "/etc/stud/a b.pem"
pem-file = /etc/stud/c.pem
ticket-key-file = "/etc/stud/tickets"
""")
put("config_file", "errors.conf",
    b"workers = 0\nnosuch = 1\n= x\nkey\nciphers = \"unterminated\n")
put("config_file", "crlf.conf", b"workers = 2\r\nquiet = on\r\n\r\n  # x\r\n")
put("config_file", "long.conf", b"ciphers = " + b"A" * 5000 + b"\n")
put("config_file", "conflict.conf", b"tls = on\nssl = on\nwrite-ip = on\n"
    b"proxy-proxy = on\nbackend = *,80\n")

# --- config_cli: argv split on NUL (or newlines when there is no NUL) --------
put("config_cli", "basic.args",
    b"-f\x00127.0.0.1,0\x00-b\x00127.0.0.1,8000\x00-n\x004\x00site.pem")
put("config_cli", "long.args", b"--workers=2\x00--backend=[::1]:80\x00"
    b"--ciphers=ECDHE+AESGCM\x00--ssl\x00--write-proxy\x00-qOs\x00"
    b"--pem-file=a.pem\x00b.pem")
put("config_cli", "config.args", b"--config=good.conf\n-n\n3\nx.pem")
put("config_cli", "config2.args", b"--config=pem.conf\x00--config=bad.conf")
put("config_cli", "errors.args", b"-n\x000\x00-x\x00--nosuch\x00-b")
put("config_cli", "actions.args", b"-t\n-V\n--default-config\n-h")
put("config_cli", "cluster.args", b"-qsOn\x003\x00-k0\x00--tls\x00--ssl")

# --- proxy: byte 0 selects parse (even) / write (odd) ----------------------
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
put("proxy", "v1-tcp4", b"\x00\x80\x00"
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /")
put("proxy", "v1-tcp6", b"\x00\x80\x00PROXY TCP6 2001:db8::1 ::1 1 65535\r\n")
put("proxy", "v1-unknown", b"\x00\x00\x40PROXY UNKNOWN whatever\r\n")
put("proxy", "v1-bad", b"\x00\x80\x00PROXY TCP4 1.2.3.4  5.6.7.8 01 2\r\n")
put("proxy", "v2-tcp4", b"\x00\x80\x00" + V2SIG + b"\x21\x11\x00\x0c"
    + bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 1234, 443))
put("proxy", "v2-local", b"\x00\x00\x20" + V2SIG + b"\x20\x00\x00\x04abcd")
put("proxy", "v2-unix", b"\x00\x80\x00" + V2SIG + b"\x21\x31\x00\xd8"
    + b"/tmp/a".ljust(108, b"\0") + b"/tmp/b".ljust(108, b"\0"))
# regression inputs: v1 lines proxy_parse() accepted although malformed
put("proxy", "regress-v1-108-bytes",
    b"\x00\x80\x00PROXY UNKNOWN " + b"x" * 92 + b"\r\n")
put("proxy", "regress-v1-trailing-space",
    b"\x00\x80\x00PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")
put("proxy", "regress-v1-unknown-two-spaces", b"\x00\x80\x00PROXY  UNKNOWN\r\n")
put("proxy", "write-v4", b"\x01" + b"\x00" + struct.pack("<H", 2)
    + struct.pack(">H", 443) + bytes([10, 0, 0, 1]) + b"\0" * 8
    + b"\x00" + struct.pack("<H", 2) + struct.pack(">H", 8443)
    + bytes([127, 0, 0, 1]) + b"\0" * 8)
put("proxy", "write-v6-mapped", b"\x01" + b"\x81" + b"\0" * 27 + b"\x81"
    + b"\1" * 27)
def lv(b):
    return bytes([len(b)]) + b


put("proxy", "write-v2-tls", b"\x01" + b"\x00" + struct.pack("<H", 2)
    + struct.pack(">H", 443) + bytes([10, 0, 0, 1]) + b"\0" * 8
    + b"\x00" + struct.pack("<H", 2) + struct.pack(">H", 8443)
    + bytes([127, 0, 0, 1]) + b"\0" * 8
    + b"\x04\x00\x07\x00" + lv(b"h2") + lv(b"example.com")
    + lv(b"TLSv1.3") + lv(b"TLS_AES_128_GCM_SHA256") + lv(b"client"))
put("proxy", "write-mixed", b"\x01\x00" + b"\x05" * 15 + b"\x01" + b"\x07" * 27)

# --- ebtree: byte 0 key length; ops (op & 7, element << 3) + arguments ------
def eb(klen_sel, *ops):
    return bytes([klen_sel]) + b"".join(ops)


def ins(i, key):
    return bytes([(i << 3) | 0]) + key


def near(i, j, bit):
    return bytes([(i << 3) | 1, j, bit])


def op(i, o):
    return bytes([(i << 3) | o])


put("ebtree", "k1-fill", eb(0, *[ins(i, bytes([i * 8])) for i in range(32)],
                           op(0, 4), op(0, 5), op(3, 3), op(7, 6), op(2, 7)))
put("ebtree", "k2-dups", eb(2, ins(0, b"ab"), ins(1, b"ab"), ins(2, b"ac"),
                           op(0, 2) + b"ab", op(0, 3), op(1, 2) + b"ab",
                           ins(1, b"ab"), op(1, 6), op(0, 4)))
put("ebtree", "k4-near", eb(5, ins(0, b"\x80\0\0\0"),
                           *[near(i, i - 1, i) for i in range(1, 20)],
                           op(5, 6), op(0, 7), op(0, 5)))
put("ebtree", "k33-near", eb(7, ins(0, bytes(33)),
                            *[near(i, 0, 255 - i) for i in range(1, 30)],
                            op(0, 4), op(10, 3), op(11, 3), op(0, 5)))
put("ebtree", "k8-mixed", eb(6, *[ins(i, struct.pack(">Q", (i * 2654435761)
                                                        % 2**64))
                                 for i in range(0, 32, 3)],
                            op(3, 7), op(0, 4), op(6, 3), op(9, 6)))

# --- ringbuffer: slot size, prealloc, max_free, 3 capacities, ops ----------
def rb(*ops):
    return bytes([16, 2, 4, 4, 1, 9]) + bytes(ops)


put("ringbuffer", "fill-drain", rb(*([6, 15] * 5 + [3, 4, 3, 7, 7, 7, 7, 7])))
put("ringbuffer", "reserve-cancel", rb(0, 0, 2, 0, 1, 5, 2, 7, 3))
put("ringbuffer", "three-rings", rb(6, 1, 14, 2, 22, 3, 6, 4, 14, 5, 22, 6,
                                    15, 23, 7, 5, 13, 21))
put("ringbuffer", "tiny-slots", bytes([1, 0, 0, 0, 8, 10]) + bytes(
    [6, 200, 14, 200, 22, 200] * 4 + [4, 3, 12, 3, 20, 3] * 6))
put("ringbuffer", "partial-reads", rb(6, 15, 4, 2, 4, 2, 4, 2, 3, 7, 0, 1, 9,
                                      4, 0, 4, 0))

# --- shsync: byte 0 mode ----------------------------------------------------
put("shsync", "raw-garbage", b"\x00" + bytes(range(80)))
put("shsync", "magic-random", b"\x01" + bytes(range(7, 120)))
put("shsync", "magic-short", b"\x01" + b"\x00" * 10)
put("shsync", "sealed-good", b"\x02\x05\x00\x00" + b"\xff" + b"\0" * 7
    + b"\x01" * 8 + b"\x04" + b"ABCD" + b"\x00\x03" + b"xyz")
put("shsync", "sealed-leftover", b"\x02\x05\x00\x00" + b"\xff" + b"\0" * 7
    + b"\x02" * 8 + b"\x01" + b"A" + b"\x00\x01" + b"xy")
put("shsync", "sealed-idlen0", b"\x02\x05\x00\x00" + b"\xff" + b"\0" * 7
    + b"\x03" * 8 + b"\x00" + b"\x00\x01" + b"x")
put("shsync", "genuine-flip", b"\x03\x0f\x00\x00\x10\x01" + b"I" * 16
    + b"S" * 40)
put("shsync", "genuine-cut", b"\x03\x1f\x10\x00\x20\x00" + b"I" * 32
    + b"S" * 100)
put("shsync", "genuine-stale", b"\x03\x00\x90\x00\x05\x01" + b"I" + b"S" * 3)

# --- record: byte 0 AEAD and version, then ops (see fuzz_record.c) ----------
def seal(n, typ, fill=b"d"):
    return bytes([0, n >> 8, n & 0xff, typ]) + (fill * n)[:n]


for sel, name in ((0, "tls12-aes128"), (1, "tls12-aes256"), (2, "tls12-chacha"),
                  (4, "tls13-aes128"), (13, "tls13-aes256-sha384"),
                  (6, "tls13-chacha")):
    put("record", name, bytes([sel]) + seal(5, 23) + seal(2, 21, b"\x01\x00")
        + seal(5, 22, b"\x18\x00\x00\x01\x01") + b"\x03" + seal(300, 23)
        + b"\x01\x08" + b"\x17\x03\x03\x00\x1c" + b"\x00" * 27
        + b"\x02\x05\x18\x00\x00\x01\x00" + seal(3, 20) + seal(4, 0))
put("record", "tls13-full-record", bytes([4]) + seal(16384, 23))

# --- aesgcm: selector, key, nonce, aad length, aad, plaintext ---------------
for sel, aad, n in ((0, b"", 0), (1, b"", 16), (2, b"\x17\x03\x03\x40\x11", 300),
                    (3, bytes(range(13)), 1024), (0, b"a" * 40, 255),
                    (1, b"\x17\x03\x03\x00\x13", 16401)):
    put("aesgcm", "k%d-aad%d-len%d" % (16 << (sel & 1), len(aad), n),
        bytes([sel]) + bytes(range(1, 33)) + b"N" * 12 + bytes([len(aad)])
        + aad + bytes((i * 7) & 0xff for i in range(n)))

# --- x25519: private key, peer u-coordinate ----------------------------------
put("x25519", "rfc7748-alice-bob",
    bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
                  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
put("x25519", "u-zero", bytes(range(32)) + bytes(32))
put("x25519", "u-one", bytes(range(32)) + b"\x01" + bytes(31))
put("x25519", "u-p-plus-9", b"\x77" * 32 + b"\xf6" + b"\xff" * 30 + b"\x7f")
put("x25519", "u-top-bit", b"\x42" * 32 + b"\x09" + bytes(30) + b"\x80")

# --- hs12: TLS 1.2 ClientHellos, client flights (see fuzz_hs12.c) -----------
# A hello's random (record bytes 11..42) sets fuzz_hs12's made-up server: r[0]
# bit 0 server preference, 1 X25519 not first, 2 stapling, 3 tickets, 4
# downgrade, 5-7 the signature's length (256, 384, 512, all the room, 1024,
# failure, 1, 256); r[1] bits 0-1 the Certificate's size (64, 1200, 15360,
# 15361), 2-3 the ticket's length (100, all the room, failure, 1); r[2] the
# suites left out (bit i: 0xc02f 0xc030 0xcca8 0xc02b 0xc02c 0xcca9 0x009c
# 0xc027), r[3] their rotation (bit 7: reversed), r[4..5] two bits per suite
# from 0xc02b on (0 as tls.c, 1 skip, 2 other, 3 take); r[6] % 5 how the
# second client flight is damaged (one byte xored with r[7] | 1 at r[8..9]
# modulo its length, or if r[8] bit 7 is set at byte r[9] % 15 of the three
# record headers; a small-order share, no ChangeCipherSpec, the server's
# key, a wrong verify_data); r[10] bytes after the client's flight;
# r[11..14] the ticket lifetime. Real hellos are captured, then get such a random.
import socket
import subprocess


def hs12_random(*head):
    return bytes(head) + bytes(32 - len(head))


def with_random(hello, r):
    assert hello[0] == 22 and hello[5] == 1 and len(r) == 32
    return hello[:11] + r + hello[43:]


def py_hello12(ciphers=None, sni=None, no_ticket=False):
    """Python's ssl client (OpenSSL underneath), TLS 1.2 at most."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    if no_ticket:
        ctx.options |= ssl.OP_NO_TICKET
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(bio_in, bio_out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return bio_out.read()


def s_client_hello(*args):
    """The first record of openssl s_client -tls1_2 ARGS, caught on a
    local socket."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)
    cmd = ["openssl", "s_client", "-tls1_2", "-connect",
           "127.0.0.1:%d" % ls.getsockname()[1]] + list(args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        conn, _ = ls.accept()
        conn.settimeout(10)
        data = b""
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5],
                                                              "big"):
            d = conn.recv(65536)
            if not d:
                break
            data += d
        conn.close()
    finally:
        ls.close()
        proc.kill()
        proc.wait()
    return data


def ext(t, data):
    return struct.pack(">HH", t, len(data)) + data


def hello12(exts, suites=(0xc02f, 0xc030, 0xcca8), sid=b"", r=bytes(32)):
    """A TLS 1.2 ClientHello of our own making."""
    body = (b"\x03\x03" + r + lv(sid)
            + struct.pack(">H", 2 * len(suites))
            + b"".join(struct.pack(">H", s) for s in suites)
            + b"\x01\x00" + struct.pack(">H", len(b"".join(exts)))
            + b"".join(exts))
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(msg)) + msg


def sni_ext(name):
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    return ext(0x0000, struct.pack(">H", len(entry)) + entry)


def groups_ext(*g):
    return ext(0x000a, struct.pack(">H", 2 * len(g))
               + b"".join(struct.pack(">H", x) for x in g))


def sigalgs_ext(*a):
    return ext(0x000d, struct.pack(">H", 2 * len(a))
               + b"".join(struct.pack(">H", x) for x in a))


BASE12 = [groups_ext(0x001d, 0x0017), ext(0x000b, b"\x01\x00"),
          sigalgs_ext(0x0403, 0x0804, 0x0401), ext(0x0017, b""),
          ext(0x0023, b"")]

# real hellos, each with a random choosing the server they meet
put("hs12", "python-default", with_random(py_hello12(), hs12_random()))
put("hs12", "python-sni-tickets", with_random(
    py_hello12(sni="www.example.com"),
    hs12_random(0x18, 0x01, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0x1c, 0x20)))
put("hs12", "python-chacha-server-pref", with_random(
    py_hello12("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-RSA-AES256-GCM-SHA384"),
    hs12_random(0x69, 0x04, 0, 0x81, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0)))
put("hs12", "python-aes256-ticket-room", with_random(
    py_hello12("ECDHE-RSA-AES256-GCM-SHA384"),
    hs12_random(0x08, 0x04, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                0xff)))
put("hs12", "python-no-ticket", with_random(
    py_hello12(no_ticket=True),
    hs12_random(0x48, 0x00, 0, 0, 0, 0, 4, 0, 0, 0, 1)))
put("hs12", "openssl-default", with_random(
    s_client_hello(), hs12_random(0x18, 0, 0, 0, 0, 0, 0, 0x01, 0x80, 2)))
put("hs12", "openssl-status-sni", with_random(
    s_client_hello("-status", "-servername", "example.com"),
    hs12_random(0x08, 0x08, 0, 0, 0, 0, 0, 0x01, 0, 0x2c)))
put("hs12", "openssl-sigalgs-sha384", with_random(
    s_client_hello("-sigalgs", "RSA+SHA384:RSA-PSS+SHA256"),
    hs12_random(0x18, 0x02, 0, 0, 0, 0, 3)))
put("hs12", "openssl-p256-first", with_random(
    s_client_hello("-groups", "P-256:X25519"), hs12_random()))
# changed by hand
put("hs12", "made-grease", hello12(
    [ext(0x0a0a, b""), groups_ext(0x2a2a, 0x11ec, 0x001d),
     ext(0x002b, b"\x04\x1a\x1a\x03\x03"), ext(0xff01, b"\x00")]
    + BASE12[1:],
    suites=(0x3a3a, 0xcca8, 0xc02f, 0xc030),
    r=hs12_random(0x09, 0, 0xc0, 0x02, 0xff, 0xff)))
put("hs12", "made-sni-255", hello12(
    [sni_ext(b"a" * 251 + b".com")] + BASE12,
    r=hs12_random(0x28, 0x02, 0, 0, 0, 0, 0, 0x02, 0x80, 13)))
put("hs12", "made-versions-13", hello12(
    [ext(0x002b, b"\x04\x03\x04\x03\x03")] + BASE12))
put("hs12", "made-fallback-scsv", hello12(
    BASE12, suites=(0xc02f, 0x5600)))
put("hs12", "made-session-id", hello12(BASE12, sid=b"\x55" * 32))
put("hs12", "made-ticket-offered", hello12(
    BASE12[:4] + [ext(0x0023, b"\x42" * 40)]))
put("hs12", "made-other-first", hello12(
    BASE12, suites=(0x009c, 0xc02f),
    r=hs12_random(0, 0x03, 0, 0, 0x80)))

# client flights (raw mode) and Finished contents (sealed mode)
CKE12 = (b"\x16\x03\x03\x00\x25\x10\x00\x00\x21\x20" + bytes(range(1, 33)))
CCS12 = b"\x14\x03\x03\x00\x01\x01"
put("hs12", "flight-gcm", CKE12 + CCS12 + b"\x16\x03\x03\x00\x28"
    + bytes(8) + b"\xa5" * 32)
put("hs12", "flight-chacha-small-order", CKE12[:10] + bytes(32) + CCS12
    + b"\x16\x03\x03\x00\x20" + b"\x5a" * 32)
put("hs12", "finished-content", b"\x14\x00\x00\x0c" + b"\x3c" * 12)
put("hs12", "flight-empty-cke", b"\x16\x03\x03\x00\x00" + CCS12
    + b"\x16\x03\x03\x00\x28" + bytes(40))
put("hs12", "made-short-hello", b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03")
