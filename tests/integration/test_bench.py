"""The benchmark's own tools (tests/bench/), run small: `make bench` is the
measurement, and these tests check that it measures what it says. The load
generator's full handshakes offer no session and its resumptions are
resumed (counted by the load generator and by stud's own per-connection
log), idle mode holds its connections, the transfers move the bytes asked
for, the floor server answers, and bench.sh prints its table for stud, one
peer and the floor. They drive the build/bench tools that `make test` builds,
against the default build only (the tools do not depend on the variant).

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
          tests/integration/test_bench.py
"""

import os
import re
import socket
import subprocess

import pytest

from harness import REPO_ROOT, STUD_BIN, wait_until
from test_ops import _start_logging
from test_session import _kinds

BENCH = REPO_ROOT / "build" / "bench"
DEFAULT_BUILD = REPO_ROOT / "build" / "default" / "stud"

pytestmark = pytest.mark.skipif(
    os.path.realpath(STUD_BIN) != os.path.realpath(DEFAULT_BUILD),
    reason="the benchmark's tools are checked once, with the default build")


def _wait_port(port, proc):
    """Wait (bounded) until something accepts on port, or proc died."""
    def up():
        assert proc.poll() is None, proc.stderr.read().decode()
        with socket.socket() as c:
            return c.connect_ex(("127.0.0.1", port)) == 0
    assert wait_until(up, 10.0), "nothing listening on %d" % port


def _free_port():
    return int(subprocess.run([_tool("backend"), "-F"], capture_output=True,
                              text=True, timeout=10, check=True).stdout)


def _tool(name):
    path = BENCH / name
    assert os.access(path, os.X_OK), \
        "%s missing: `make bench-build` (make test runs it)" % path
    return str(path)


@pytest.fixture
def bench_backend():
    """The benchmark's backend (proto.h) on a free port; stopped after."""
    port = _free_port()
    p = subprocess.Popen([_tool("backend"), "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_port(port, p)
    yield port
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


def _loadgen(port, *args, timeout=60):
    """Run the load generator; its RESULT line as a dict of numbers."""
    r = subprocess.run([_tool("loadgen"), "-p", str(port), "-q"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, r.stdout + r.stderr
    return {k: (float(v) if re.fullmatch(r"[0-9.]+", v) else v)
            for k, v in re.findall(r"(\w+)=(\S+)", line[-1])}


def _logged_stud(start_stud, port, tmp_path, *extra):
    log = tmp_path / "stud.log"
    s = _start_logging(start_stud, port, log, "--log-level=2", *extra)
    return s, log


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_full_handshakes_offer_no_session(start_stud, bench_backend,
                                          tmp_path, version):
    """-m handshake: every connection a full handshake (stud's log says
    full-stud for each), no session offered, none resumed, no error."""
    s, log = _logged_stud(start_stud, bench_backend, tmp_path)
    r = _loadgen(s.port, "-m", "handshake", "-V", version, "-c", "8",
                 "-n", "200")
    assert r["handshakes"] == 200 and r["errors"] == 0, r
    assert r["offered"] == 0 and r["resumed"] == 0, r
    assert r["tls"] == float(version), r
    assert wait_until(lambda: len(_kinds(log)) == 200, 10.0)
    assert set(_kinds(log)) == {"full-stud"}


def test_resumption_offers_and_resumes(start_stud, bench_backend, tmp_path):
    """-m resume: each slot offers its last session ID; stud resumes them
    all (its log: one full handshake per slot, the rest resumed-stud)."""
    s, log = _logged_stud(start_stud, bench_backend, tmp_path)
    r = _loadgen(s.port, "-m", "resume", "-c", "4", "-n", "100")
    assert r["handshakes"] == 100 and r["errors"] == 0, r
    assert r["offered"] == 96 and r["resumed"] == 96, r
    assert wait_until(lambda: len(_kinds(log)) == 100, 10.0)
    kinds = _kinds(log)
    assert kinds.count("resumed-stud") == 96, kinds
    assert kinds.count("full-stud") == 4, kinds


def test_idle_holds_its_connections(start_stud, bench_backend):
    """-m idle: 300 connections made and held, all still answering after
    the hold; stud's worker has them open meanwhile."""
    s = start_stud(bench_backend)
    r = _loadgen(s.port, "-m", "idle", "-c", "300", "-d", "1")
    assert r["held"] == 300 and r["alive"] == 300 and r["errors"] == 0, r


@pytest.mark.parametrize("mode", ["download", "upload"])
def test_transfers_move_what_was_asked(start_stud, bench_backend, mode):
    """-m download / upload -s 8: two transactions of 8 MiB each way."""
    s = start_stud(bench_backend)
    r = _loadgen(s.port, "-m", mode, "-s", "8", "-n", "2")
    assert r["errors"] == 0 and r["ok"] == 2, r
    assert r["bytes"] == 2 * 8 * 1024 * 1024, r


def test_floor_server_answers(tmp_path, certs):
    """The floor reference (OpenSSL alone, no backend) takes the load
    generator's full handshakes and requests."""
    port = _free_port()
    p = subprocess.Popen([_tool("floor"), "-p", str(port), str(certs.rsa_pem)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port, p)
        r = _loadgen(port, "-m", "handshake", "-V", "1.2", "-c", "4",
                     "-n", "50")
        assert r["handshakes"] == 50 and r["errors"] == 0, r
    finally:
        p.terminate()
        p.wait(timeout=5)


@pytest.mark.skipif((os.cpu_count() or 1) < 2,
                    reason="bench.sh pins the terminator and the load to "
                           "two different CPUs")
def test_bench_prints_its_table(tmp_path):
    """bench.sh, small (1 s runs, 8 MiB, 100 idle connections, 400 held by
    4 workers), with stud, haproxy and the floor: the table has every
    scenario's rows, numbers in stud's and haproxy's columns, the ratio
    against haproxy, a verdict for each target, every offered session
    resumed with 2 workers, and every connection held."""
    out = tmp_path / "results.md"
    env = dict(os.environ, BENCH_SECS="1", BENCH_HS_REPS="1",
               BENCH_CONNS="8", BENCH_BULK_MIB="8", BENCH_BULK_REPS="1",
               BENCH_IDLE_CONNS="100", BENCH_MANY_CONNS="400",
               BENCH_TERMINATORS="stud haproxy floor",
               BENCH_SCENARIOS="rsa13 rsa12 ec13 resume1 resume2 down up "
                               "idle many",
               BENCH_RESULTS=str(out), STUD_BIN=str(DEFAULT_BUILD),
               STUD_SHARED_BIN=str(REPO_ROOT / "build" / "shared" / "stud"))
    r = subprocess.run(["bash", str(REPO_ROOT / "tests" / "bench" /
                                    "bench.sh")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    table = out.read_text()
    rows = [line.split("|")[1:-1] for line in table.splitlines()
            if line.startswith("| ") and "---" not in line][1:]
    cells = {(c[0].strip(), c[1].strip()): [x.strip() for x in c[2:]]
             for c in rows}
    number = re.compile(r"[0-9]+(\.[0-9]+)?$")
    for scen in ["full handshake, RSA-2048, TLS 1.3",
                 "full handshake, RSA-2048, TLS 1.2",
                 "full handshake, ECDSA P-256, TLS 1.3",
                 "TLS 1.2 session-ID resumption, 1 worker"]:
        unit = cells[(scen, "CPU µs/handshake")]
        assert number.match(unit[0]) and number.match(unit[2]), unit
        assert "(vs haproxy)" in unit[6] and unit[7].startswith("≤ 0.85: "), \
            unit
    for scen in ["download 8 MiB, one connection",
                 "upload 8 MiB, one connection"]:
        unit = cells[(scen, "CPU µs/MiB")]
        assert number.match(unit[0]) and "(vs haproxy)" in unit[6], unit
    resumed = [v for k, v in cells.items()
               if k[0].startswith("TLS 1.2 session-ID resumption, 2 workers")
               and k[1] == "resumed % (of offered)"]
    assert resumed and resumed[0][0] == "100.00", resumed
    assert resumed[0][7] == "100 %: met", resumed
    idle = [v for k, v in cells.items()
            if k[0].startswith("100 idle") and k[1] == "held"]
    assert idle and idle[0][0] == "100 of 100 (0 err)", idle
    many = cells[("400 concurrent connections, 4 workers", "held")]
    assert many[0] == "400 of 400 (0 err)" and many[7].endswith(": met"), many
