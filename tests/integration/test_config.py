"""Integration tests for stud's configuration: the --config file (every key,
round trip through -t, precedence, syntax, errors), -t/--test, and what
ships around the binary: the LSB init script, make install, and the docs
(-h, stud.8 and --default-config in step).

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider \
          tests/integration/test_config.py
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from backend import HTTP_BODY, free_port
from harness import (REPO_ROOT, STUD_BIN, Detached, alive,
                     assert_one_line_error, client_context, http_get,
                     read_pidfile, run_stud, run_stud_reaped, tls_connect,
                     recv_all, wait_until, which)


def _body(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no header/body separator in response %r" % raw[:200]
    return body


def _default_config():
    r = run_stud(["--default-config"])
    assert r.returncode == 0, r.stderr
    return r.stdout


def _settings(text):
    """The non-comment, non-blank lines of a configuration text."""
    return [l for l in text.splitlines()
            if l.strip() and not l.lstrip().startswith("#")]


def _effective(args):
    """Run stud -t ARGS; return the printed key = value lines as a dict
    (pem-file as a list).  Fails unless -t succeeds."""
    r = run_stud(list(args) + ["-t"])
    assert r.returncode == 0, "stud -t failed: %s" % r.stderr
    out = {"pem-file": []}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition(" = ")
        assert sep, "not a 'key = value' line: %r" % line
        if k == "pem-file":
            out[k].append(v)
        else:
            assert k not in out, "key %s printed twice" % k
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# the default configuration
# ---------------------------------------------------------------------------
def test_default_config_round_trip(certs, tmp_path):
    """stud --config=default.conf -t PEM prints exactly the settings of
    --default-config plus the PEM line."""
    text = _default_config()
    conf = tmp_path / "default.conf"
    conf.write_text(text)
    r = run_stud(["--config=%s" % conf, "-t", certs.rsa_pem])
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr
    want = _settings(text) + ['pem-file = "%s"' % certs.rsa_pem]
    assert r.stdout.splitlines() == want


def test_effective_config_with_quotes_reads_back(certs, tmp_path):
    """-t prints a value holding '"' bare (the config syntax has no escape
    inside quotes), so its output, read back as a config file, gives the
    same settings."""
    args = ["--pidfile=%s/a\"b.pid" % tmp_path, "--syslog-facility=local0",
            "-t", certs.rsa_pem]
    r = run_stud(args)
    assert r.returncode == 0, r.stderr
    assert 'pidfile = %s/a"b.pid' % tmp_path in r.stdout.splitlines()
    conf = tmp_path / "effective.conf"
    conf.write_text(r.stdout)
    again = run_stud(["--config=%s" % conf, "-t"])
    assert again.returncode == 0, again.stderr
    assert again.stdout == r.stdout


@pytest.mark.parametrize("value", ["a\nb", '"starts-with-quote',
                                   'has"quote # and hash'])
def test_unwritable_values_refused(certs, value):
    """A value no config file could hold (a line break; a '"' that could
    only be written bare, next to a '#' or at the start) is refused with
    one line naming the option."""
    r = run_stud(["--pidfile=" + value, "-t", certs.rsa_pem])
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "--pidfile" in r.stderr and "line break" in r.stderr


def test_default_config_every_key_accepted(certs, tmp_path):
    """The whole default config plus a pem-file line is a valid config on
    its own; every key of it is one stud knows."""
    text = _default_config()
    keys = [l.split("=", 1)[0].strip() for l in _settings(text)]
    assert len(keys) >= 20 and len(set(keys)) == len(keys), keys
    conf = tmp_path / "full.conf"
    conf.write_text(text + '\npem-file = "%s"\n' % certs.rsa_pem)
    r = run_stud(["--config=%s" % conf, "-t"])
    assert r.returncode == 0, r.stderr
    printed = [l.split(" = ", 1)[0] for l in r.stdout.splitlines()]
    assert printed == keys + ["pem-file"]
    # and each key alone, set to its default, is accepted too
    for line in _settings(text):
        one = tmp_path / "one.conf"
        one.write_text(line + '\npem-file = "%s"\n' % certs.rsa_pem)
        r = run_stud(["--config=%s" % one, "-t"])
        assert r.returncode == 0, "%r: %s" % (line, r.stderr)


# ---------------------------------------------------------------------------
# precedence and syntax
# ---------------------------------------------------------------------------
def test_config_precedence_worker_count(stud_args, backend, certs, tmp_path):
    be = backend("http")
    conf = tmp_path / "w.conf"
    conf.write_text("workers = 2\n")
    common = ["-f", "127.0.0.1,0", "-b", "127.0.0.1,%d" % be.port,
              certs.rsa_pem]
    # -t agrees with what really runs
    assert _effective(["-n", "3", "--config=%s" % conf] + common)[
        "workers"] == "2"
    assert _effective(["--config=%s" % conf, "-n", "3"] + common)[
        "workers"] == "3"
    s = stud_args("-n", "3", "--config=%s" % conf, *common)
    s.wait_workers(2)
    s2 = stud_args("--config=%s" % conf, "-n", "3", *common)
    s2.wait_workers(3)
    raw, _ = http_get(s2.port)
    assert _body(raw) == HTTP_BODY


def test_config_boolean_turned_off_by_file(certs, tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("prefer-server-ciphers = off\n")
    assert _effective(["-O", "--config=%s" % conf, certs.rsa_pem])[
        "prefer-server-ciphers"] == "off"
    assert _effective(["--config=%s" % conf, "-O", certs.rsa_pem])[
        "prefer-server-ciphers"] == "on"


def test_config_file_off_really_applies(start_stud, backend, tmp_path):
    """prefer-server-ciphers = off after -O takes effect on handshakes,
    not just in the -t output."""
    be = backend("http")
    server_order = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
    client_order = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
    conf = tmp_path / "off.conf"
    conf.write_text("prefer-server-ciphers = off\n")
    got = {}
    for name, extra in (("on", ["-O"]),
                        ("off", ["-O", "--config=%s" % conf])):
        s = start_stud(be.port, "-c", server_order, *extra)
        ctx = client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(client_order)
        with tls_connect(s.port, ctx=ctx) as c:
            got[name] = c.cipher()[0]
        s.stop()
    assert got == {"on": "ECDHE-RSA-AES128-GCM-SHA256",
                   "off": "ECDHE-RSA-AES256-GCM-SHA384"}


@pytest.mark.parametrize("value,want", [
    ("on", "on"), ("off", "off"), ("yes", "on"), ("no", "off"),
    ("true", "on"), ("false", "off"), ("1", "on"), ("0", "off")])
def test_config_boolean_spellings(certs, tmp_path, value, want):
    conf = tmp_path / "b.conf"
    # start from the opposite so that the file visibly changes the value
    opposite = "off" if want == "on" else "on"
    conf.write_text("prefer-server-ciphers = %s\nquiet = %s\n"
                    "prefer-server-ciphers = %s\nquiet = %s\n"
                    % (opposite, opposite, value, value))
    eff = _effective(["--config=%s" % conf, certs.rsa_pem])
    assert eff["prefer-server-ciphers"] == want
    assert eff["quiet"] == want


def test_config_comments(certs, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(
        "# a comment line\n"
        "    # an indented comment: workers = 9\n"
        "\t# a tab-indented one\n"
        "\n"
        "workers = 2   # a comment after a value\n"
        "backlog = 55# no space before it\n"
        'ciphers = "ECDHE+AESGCM"  # after a quoted value\n'
        'syslog-facility = "local#1"\n')
    r = run_stud(["--config=%s" % conf, "-t", certs.rsa_pem])
    # a '#' inside quotes is part of the value: unknown facility
    assert_one_line_error(r, "local#1")
    conf.write_text(conf.read_text().replace('syslog-facility = "local#1"',
                                             'syslog-facility = "local1"'))
    eff = _effective(["--config=%s" % conf, certs.rsa_pem])
    assert eff["workers"] == "2"
    assert eff["backlog"] == "55"
    assert eff["ciphers"] == '"ECDHE+AESGCM"'
    assert eff["syslog-facility"] == '"local1"'


def test_config_quoted_pem_path_with_space(stud_args, backend, certs,
                                           tmp_path):
    d = tmp_path / "dir with space"
    d.mkdir()
    pem = d / "my cert.pem"
    shutil.copy(certs.ec_pem, pem)
    be = backend("http")
    conf = tmp_path / "q.conf"
    conf.write_text('pem-file = "%s"\nfrontend = "[127.0.0.1]:0"\n'
                    'backend = "[127.0.0.1]:%d"\n' % (pem, be.port))
    s = stud_args("--config=%s" % conf)
    ctx = client_context(cafile=certs.ec_crt)
    with tls_connect(s.port, ctx=ctx) as c:
        der = c.getpeercert(binary_form=True)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw, _ = recv_all(c, limit=1 << 20)
    assert der == ssl.PEM_cert_to_DER_cert(certs.ec_crt.read_text())
    assert _body(raw) == HTTP_BODY


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
CONFIG_ERRORS = [
    # id, file text, line number, tokens the error line must hold
    ("bad-number", "workers = 2\n\nworkers = abc\n", 3, ["abc", "workers"]),
    ("out-of-range", "backlog = 0\n", 1, ["backlog", "0"]),
    ("bad-bool", "# c\nquiet = maybe\n", 2, ["maybe", "quiet"]),
    ("bad-address", "frontend = nocomma\n", 1, ["nocomma", "frontend"]),
    ("missing-equals", "workers 2\n", 1, ["'='", "workers"]),
    ("unterminated-quote", 'ciphers = "ALL\n', 1, ["unterminated",
                                                  "ciphers"]),
    ("text-after-quote", 'ciphers = "ALL" extra\n', 1, ["ciphers"]),
    ("unknown-key", "workers = 1\nno-such-key = 1\n", 2, ["no-such-key"]),
    ("config-in-file", "config = other.conf\n", 1, ["config"]),
    ("test-in-file", "test = on\n", 1, ["test"]),
]


@pytest.mark.parametrize("case", [c[1:] for c in CONFIG_ERRORS],
                         ids=[c[0] for c in CONFIG_ERRORS])
def test_config_errors(certs, tmp_path, case):
    text, lineno, tokens = case
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    r = run_stud(["--config=%s" % conf, "-f", "127.0.0.1,0", certs.rsa_pem])
    line = assert_one_line_error(r, "%s:%d:" % (conf, lineno), *tokens)
    assert r.returncode == 1, line


def test_config_missing_file(certs, tmp_path):
    missing = tmp_path / "nope.conf"
    r = run_stud(["--config=%s" % missing, certs.rsa_pem])
    assert_one_line_error(r, str(missing))


# ---------------------------------------------------------------------------
# -t / --test
# ---------------------------------------------------------------------------
def test_test_mode_binds_nothing(certs, tmp_path):
    port = free_port()
    args = ["-t", "-n", "4", "-f", "127.0.0.1,%d" % port,
            "-b", "127.0.0.1,1", certs.rsa_pem]
    r, left = run_stud_reaped(args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "stud: configuration OK", \
        r.stderr
    assert 'frontend = "[127.0.0.1]:%d"' % port in r.stdout.splitlines()
    assert left == [], "stud -t left processes running: %r" % left
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # with the port taken, -t still succeeds: it does not try to bind
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        args[4] = "127.0.0.1,%d" % busy.getsockname()[1]
        r = run_stud(args)
        assert r.returncode == 0, r.stderr
        assert "configuration OK" in r.stderr
    finally:
        busy.close()


@pytest.mark.parametrize("what", ["malformed-pem", "key-mismatch",
                                  "bad-value-cli", "bad-value-file"])
def test_test_mode_bad_configuration(certs, tmp_path, what):
    args = ["-t", "-f", "127.0.0.1,0"]
    if what == "malformed-pem":
        args.append(certs.malformed_pem)
        token = certs.malformed_pem.name
    elif what == "key-mismatch":
        args.append(certs.mismatched_pem)
        token = certs.mismatched_pem.name
    elif what == "bad-value-cli":
        args += ["-k", "-5", certs.rsa_pem]
        token = "-5"
    else:
        conf = tmp_path / "k.conf"
        conf.write_text("keepalive = forever\n")
        args += ["--config=%s" % conf, certs.rsa_pem]
        token = "forever"
    r = run_stud(args)
    line = assert_one_line_error(r, token)
    assert "configuration OK" not in r.stderr
    assert r.stdout == "", "configuration printed although it is bad"
    assert line


# ---------------------------------------------------------------------------
# init script
# ---------------------------------------------------------------------------
@pytest.fixture
def pid_cleanup():
    """Register pidfiles; whatever they name at teardown is stopped."""
    files = []
    seen = {}

    def watch(path):
        files.append(Path(path))

    def note():
        for f in files:
            pid = read_pidfile(f)
            if pid and pid not in seen and alive(pid):
                seen[pid] = Detached(pid)
                seen[pid].workers()
        return seen

    watch.note = note
    yield watch
    note()
    for d in seen.values():
        d.stop()


def _init(action, env, *names):
    r = subprocess.run(["sh", str(REPO_ROOT / "init.stud"), action] +
                       list(names), env=env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    return r


def test_init_script(certs, backend, tmp_path, pid_cleanup):
    be = backend("http")
    confdir, rundir = tmp_path / "conf", tmp_path / "run"
    confdir.mkdir()
    ports = {}
    for name in ("alpha", "beta"):
        ports[name] = free_port()
        (confdir / (name + ".conf")).write_text(
            'frontend = "[127.0.0.1]:%d"\nbackend = "[127.0.0.1]:%d"\n'
            'pem-file = "%s"\nworkers = 1\n' % (ports[name], be.port,
                                               certs.rsa_pem))
        pid_cleanup(rundir / (name + ".pid"))
    env = dict(os.environ, STUD_DAEMON=STUD_BIN, STUD_CONFDIR=str(confdir),
               STUD_RUNDIR=str(rundir), STUD_STOP_WAIT="10")

    def pidfiles():
        pid_cleanup.note()
        got = {n: read_pidfile(rundir / (n + ".pid")) for n in ports}
        return got if all(got.values()) else None

    r = _init("start", env)
    pids = wait_until(pidfiles, 5.0)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pids, "pidfiles missing in %s: %r" % (
        rundir, os.listdir(rundir) if rundir.exists() else None)
    for name, pid in pids.items():
        assert alive(pid), name
        raw, _ = http_get(ports[name])
        assert _body(raw) == HTTP_BODY, name

    r = _init("status", env)
    assert r.returncode == 0, r.stdout + r.stderr
    for name, pid in pids.items():
        assert re.search(r"%s: running \(pid %d\)" % (name, pid), r.stdout), \
            r.stdout

    r = _init("reload", env)
    assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(0.5)             # let a SIGHUP do whatever it does
    for name, pid in pids.items():
        assert alive(pid), "%s (pid %d) died on reload" % (name, pid)
        assert read_pidfile(rundir / (name + ".pid")) == pid
        raw, _ = http_get(ports[name])
        assert _body(raw) == HTTP_BODY, name

    r = _init("stop", env)
    assert r.returncode == 0, r.stdout + r.stderr
    for name, pid in pids.items():
        assert wait_until(lambda: not alive(pid), 5.0), name
        assert not (rundir / (name + ".pid")).exists(), name
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ports[name]),
                                     timeout=5).close()

    r = _init("status", env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "not running" in r.stdout


# ---------------------------------------------------------------------------
# make install
# ---------------------------------------------------------------------------
def test_make_install(tmp_path):
    if which("make") is None:
        pytest.skip("make not installed")
    dest = tmp_path / "dest"
    cmd = ["make", "-C", str(REPO_ROOT), "--no-print-directory"]
    if (REPO_ROOT / "stud").exists():
        # install the binary that is there; do not rebuild it under tests
        # that may be running it
        cmd += ["-o", "stud"]
    cmd += ["install", "DESTDIR=%s" % dest, "PREFIX=/usr"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    binary = dest / "usr/bin/stud"
    man = dest / "usr/share/man/man8/stud.8"
    init = dest / "etc/init.d/stud"
    unit = dest / "lib/systemd/system/stud@.service"
    for f, mode in ((binary, 0o755), (man, 0o644), (init, 0o755),
                    (unit, 0o644)):
        assert f.is_file(), "%s not installed; found %r" % (
            f, sorted(str(p.relative_to(dest)) for p in dest.rglob("*")))
        assert f.stat().st_mode & 0o777 == mode, "%s mode %o" % (
            f, f.stat().st_mode & 0o777)
    assert binary.read_bytes() == (REPO_ROOT / "stud").read_bytes()
    v = subprocess.run([str(binary), "-V"], capture_output=True, text=True,
                       timeout=10)
    assert v.returncode == 0 and v.stdout.startswith("stud "), v
    assert man.read_bytes() == (REPO_ROOT / "stud.8").read_bytes()
    init_text = init.read_text()
    assert "@BINDIR@" not in init_text
    assert "DAEMON=${STUD_DAEMON:-/usr/bin/stud}" in init_text, init_text
    unit_text = unit.read_text()
    assert "@BINDIR@" not in unit_text
    lines = unit_text.splitlines()
    assert "Type=notify" in lines
    assert any(re.fullmatch(r"ExecReload=\S*kill -HUP \$MAINPID", l)
               for l in lines), unit_text
    assert any(l.startswith("ExecStart=/usr/bin/stud ") for l in lines), \
        unit_text


# ---------------------------------------------------------------------------
# docs in step
# ---------------------------------------------------------------------------
def _help_long_options():
    r = run_stud(["-h"])
    assert r.returncode == 0
    names = re.findall(r"^  (?:-\w, |    )--([a-z][a-z0-9-]*)", r.stdout,
                       re.M)
    assert len(names) >= 25, names
    return names


def _man_text():
    raw = (REPO_ROOT / "stud.8").read_text()
    # undo roff escapes: \- is a minus, \fX font changes
    return re.sub(r"\\f[BIRP]", "", raw).replace("\\-", "-")


def test_docs_every_option_in_man_page():
    man = _man_text()
    missing = [n for n in _help_long_options()
               if not re.search(r"--%s(?![\w-])" % re.escape(n), man)]
    assert missing == [], "options of stud -h missing from stud.8: %r" % (
        missing,)


def test_docs_every_option_in_default_config():
    # settings, and the commented-out example (pem-file has no default)
    keys = set(re.findall(r"^(?:# )?([a-z][a-z0-9-]*) = ",
                          _default_config(), re.M))
    skip = {"help", "version", "test", "config", "default-config"}
    missing = [n for n in _help_long_options()
               if n not in skip and n not in keys]
    assert missing == [], "options missing from --default-config: %r" % (
        missing,)


def test_man_page_renders_without_warnings():
    if which("man") is None:
        pytest.skip("man not installed (Debian package man-db)")
    env = dict(os.environ, MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-l", str(REPO_ROOT / "stud.8")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stderr.decode(errors="replace") == ""
    assert b"stud" in r.stdout and len(r.stdout) > 1000
