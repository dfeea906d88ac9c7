"""TLS scanners against stud's default configuration: testssl.sh (Debian
package testssl.sh, command `testssl`) and sslscan (package sslscan), both
aimed at a stud on a free loopback port with a throwaway RSA certificate
(the session's certs fixture), in front of the HTTP test backend.

testssl runs only what is asserted on (-p protocols, -U vulnerabilities,
-f forward secrecy), without DNS (--nodns none) and with short timeouts,
and its findings are read from its JSON file. sslscan lists every accepted
cipher, read from its XML file.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_scanners.py
"""

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from harness import which

TESTSSL = which("testssl") or which("testssl.sh")
SSLSCAN = which("sslscan")

# testssl ids that name a vulnerability; each must come out "OK"
VULNERABILITIES = [
    "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego",
    "secure_client_renego", "CRIME_TLS", "POODLE_SSL", "SWEET32", "FREAK",
    "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4", "fallback_SCSV",
]
BAD_SEVERITIES = {"LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"}


def _findings(path):
    data = json.loads(path.read_text())
    # --jsonfile writes a flat list; be lenient about a wrapping object
    if isinstance(data, dict):
        data = data.get("scanResult", data.get("findings", []))
    return data


@pytest.mark.skipif(TESTSSL is None,
                    reason="testssl not installed (Debian: testssl.sh)")
def test_testssl(start_stud, backend, tmp_path):
    be = backend("http")
    s = start_stud(be.port)
    out = tmp_path / "testssl.json"
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "batch",
           "--nodns", "none", "--sneaky", "--connect-timeout", "5",
           "--openssl-timeout", "5", "--jsonfile", str(out),
           "-p", "-U", "-f", "127.0.0.1:%d" % s.port]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300, cwd=str(tmp_path))
    text = (r.stdout + r.stderr).decode(errors="replace")
    assert out.exists(), "testssl wrote no JSON (rc %d):\n%s" % (
        r.returncode, text[-3000:])
    found = {}
    for f in _findings(out):
        found.setdefault(f["id"], f)
    report = "\n".join("%s %s: %s" % (f["id"], f["severity"], f["finding"])
                       for f in found.values())

    # the scan itself went through
    problems = [f for f in found.values()
                if f["id"] == "scanProblem" or f["severity"] in
                ("WARN", "FATAL")]
    assert not problems, "testssl could not scan:\n%s" % report

    # only TLS 1.2 and TLS 1.3
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert found[proto]["finding"].startswith("not offered"), report
    for proto in ("TLS1_2", "TLS1_3"):
        assert found[proto]["finding"].startswith("offered"), report

    # no vulnerability
    for v in VULNERABILITIES:
        assert v in found, "testssl did not report %s:\n%s" % (v, report)
        assert found[v]["severity"] == "OK", "%s: %s %s\n\n%s" % (
            v, found[v]["severity"], found[v]["finding"], report)
    bad = [f for f in found.values() if f["severity"] in BAD_SEVERITIES]
    assert not bad, "testssl findings:\n%s" % "\n".join(
        "%s %s: %s" % (f["id"], f["severity"], f["finding"]) for f in bad)

    # forward secrecy offered
    assert found["PFS"]["severity"] == "OK", report


@pytest.mark.skipif(SSLSCAN is None,
                    reason="sslscan not installed (Debian: sslscan)")
def test_sslscan(start_stud, backend, tmp_path):
    be = backend("http")
    s = start_stud(be.port)
    out = tmp_path / "sslscan.xml"
    r = subprocess.run([SSLSCAN, "--no-colour", "--xml=%s" % out,
                        "127.0.0.1:%d" % s.port], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    text = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and out.exists(), text[-3000:]
    test = ET.parse(out).getroot().find("ssltest")
    assert test is not None, text[-3000:]

    enabled = {"%s%s" % (p.get("type"), p.get("version"))
               for p in test.findall("protocol") if p.get("enabled") == "1"}
    assert enabled == {"tls1.2", "tls1.3"}, (enabled, text)

    # heartbleed on every protocol tried
    hb = test.findall("heartbleed")
    assert hb and all(h.get("vulnerable") == "0" for h in hb), text

    # client-initiated renegotiation: refused, or at least secure
    reneg = test.find("renegotiation")
    assert reneg is not None, text
    assert reneg.get("supported") == "0" or reneg.get("secure") == "1", text

    # compression (CRIME): off, where this sslscan can tell
    comp = test.find("compression")
    if comp is not None:
        assert comp.get("supported") == "0", text

    # every accepted cipher: forward secret (ECDHE/DHE key exchange, or
    # TLS 1.3 where every suite is), AEAD, and rated strong/acceptable
    ciphers = test.findall("cipher")
    assert ciphers, text
    for c in ciphers:
        name, version = c.get("cipher"), c.get("sslversion")
        assert version in ("TLSv1.2", "TLSv1.3"), (name, version)
        if version == "TLSv1.2":
            assert name.startswith(("ECDHE-", "DHE-")), (
                "non forward-secret cipher %s offered" % name)
        assert "GCM" in name or "CHACHA20" in name or "CCM" in name, (
            "non-AEAD cipher %s offered" % name)
        assert c.get("strength") in ("strong", "acceptable"), (
            name, c.get("strength"))
        if c.get("dhebits"):
            assert int(c.get("dhebits")) >= 2048, (name, c.get("dhebits"))
