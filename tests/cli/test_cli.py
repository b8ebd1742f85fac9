#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The cordon CLI against a real cordond (docs/cli.md).

Starts cordond with a temporary socket, state directory and cgroup parent,
runs every subcommand against it, and checks output, one-line errors and
exit statuses. Needs root (cordond does); exits 77 otherwise.

Environment: CORDON_BIN (the cordon binary), CORDOND_BIN, CORDON_PROFILES.
"""

import glob
import hashlib
import http.client
import concurrent.futures
import json
import os
import stat
import pty
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# The fake cordond runs as other uids too: a python they may execute.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
CORDON = os.environ.get("CORDON_BIN", "")
CORDOND = os.environ.get("CORDOND_BIN", "")
PROFILES = os.environ.get("CORDON_PROFILES", "")
FAKE_CORDOND = os.path.join(HERE, "fake_cordond.py")

# Peers without a passwd entry: SO_PEERCRED gives cordond the numbers.
GID = 64010  # the socket's group
SUB_UID = 64011  # listed under "submitters"
OTHER_UID = 64012  # listed nowhere: 403

CGROUP_PREFIX = "cordon-test-cli-%d" % os.getpid()
HANG_S = 120  # generous bound on anything that should end

# Exit statuses of docs/cli.md.
EX_USAGE, EX_REJECTED, EX_NOT_FOUND, EX_FORBIDDEN = 64, 65, 66, 67
EX_UNREACHABLE, EX_IO, EX_BUSY, EX_VERIFY = 69, 74, 75, 76
EX_TIMEOUT, EX_CANCELLED = 124, 123
EX_STILL_RUNNING = 119


class Daemon:
    """One cordond on its own socket, state directory and cgroup parent."""

    def __init__(self, name, profiles=None, **config):
        self.dir = tempfile.mkdtemp(prefix="cordon-cli-%s-" % name)
        os.chmod(self.dir, 0o755)  # the unprivileged peers reach the socket
        self.socket = os.path.join(self.dir, "cordon.sock")
        self.state = os.path.join(self.dir, "state")
        cfg = {
            "cgroup": {"parent": "%s-%s" % (CGROUP_PREFIX, name)},
            "submitters": {"uids": [SUB_UID]},
            "socket_mode": "0660",
            "socket_group": GID,
        }
        if os.environ.get("CORDON_TEST_CGROUP"):  # v1 or v2, as the other root tests
            cfg["cgroup"]["mode"] = os.environ["CORDON_TEST_CGROUP"]
        cfg.update(config)
        self.config = os.path.join(self.dir, "cordond.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "cordond.log"), "w+")
        self.proc = None
        try:
            self.proc = subprocess.Popen(
                [CORDOND, "--config", self.config, "--socket", self.socket,
                 "--state-dir", self.state, "--profiles-dir", profiles or PROFILES],
                stdout=self.log, stderr=subprocess.STDOUT)
            self._wait_ready()
        except BaseException:
            self.close()  # a failed start leaves nothing behind either
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cordond exited: " + self.log_text())
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                    return
            except OSError:
                time.sleep(0.05)  # a hang bound, not synchronisation
        raise RuntimeError("cordond did not come up: " + self.log_text())

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=HANG_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RecordingProxy:
    """A unix socket in front of cordond's that passes bytes both ways as
    they are, and keeps what clients sent and how much cordond answered."""

    def __init__(self, upstream, path):
        self.upstream = upstream
        self.path = path
        self.lock = threading.Lock()
        self.sent = bytearray()
        self.answered = 0
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._pump, args=(conn,), daemon=True).start()

    def _pump(self, client):
        with client, socket.socket(socket.AF_UNIX) as up:
            up.connect(self.upstream)
            while True:
                ready, _, _ = select.select([client, up], [], [], HANG_S)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        if s is client:
                            self.sent += data
                        else:
                            self.answered += len(data)
                    (up if s is client else client).sendall(data)

    def requests(self):
        """The request heads clients sent, each as a str."""
        with self.lock:
            text = bytes(self.sent).decode("latin-1")
        return [h for h in text.split("\r\n\r\n") if h.startswith(("GET ", "POST ", "DELETE "))]

    def close(self):
        self.srv.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("cordon", timeout=HANG_S)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(HANG_S)
        self.sock.connect(self.path)


def api_get(sock, path):
    """GET @path from cordond itself, not through the CLI: (status, JSON)."""
    conn = UnixHTTPConnection(sock)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def cgroup_dirs():
    """Every cgroup this run's daemons made, deepest first."""
    found = []
    for base in ["/sys/fs/cgroup"] + glob.glob("/sys/fs/cgroup/*"):
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        for top in glob.glob(os.path.join(base, CGROUP_PREFIX + "*")):
            for root, dirs, _ in os.walk(top):
                found += [os.path.join(root, d) for d in dirs]
            found.append(top)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def remove_cgroups():
    """Kill what is left in our cgroups and remove them. Returns leftovers."""
    for d in cgroup_dirs():
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
    deadline = time.monotonic() + 30
    while cgroup_dirs() and time.monotonic() < deadline:
        for d in cgroup_dirs():
            try:
                os.rmdir(d)
            except OSError:
                pass
        if cgroup_dirs():
            time.sleep(0.1)  # killed tasks leave their cgroup asynchronously
    return cgroup_dirs()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pty_run(sock, cwd, args, env=None, until=None, then=None):
    """Run the CLI with stdout and stderr on a terminal; returns (status, output).
    When @until appears in the output, call @then(proc)."""
    e = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    e.update({"CORDON_SOCKET": sock, "TERM": "xterm"})
    e.update(env or {})
    master, slave = pty.openpty()
    proc = subprocess.Popen([CORDON] + args, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=e, cwd=cwd)
    os.close(slave)
    out, deadline = b"", time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
            if until and until in out.decode(errors="replace"):
                then(proc)
                until = None
    os.close(master)
    return proc.wait(timeout=HANG_S), out.decode(errors="replace")


class CliTest(unittest.TestCase):
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("main")
        cls.work = tempfile.mkdtemp(prefix="cordon-cli-work-")
        os.chmod(cls.work, 0o755)

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    # helpers

    def cli(self, *args, user=None, env=None, sock=None, timeout=HANG_S, cwd=None):
        e = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CORDON_SOCKET")}
        e["CORDON_SOCKET"] = sock or self.daemon.socket
        if env:
            e.update(env)
        kw = {}
        if user is not None:
            kw = {"user": user, "group": GID, "extra_groups": []}
        return subprocess.run([CORDON] + list(args), capture_output=True, text=True,
                              env=e, timeout=timeout, cwd=cwd or self.work, **kw)

    def one_line_error(self, p, cmd, status, *needles):
        """A failure: exactly one line on stderr, naming the command, and the status."""
        self.assertEqual(p.returncode, status, p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("cordon %s: " % cmd), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        return lines[0]

    def script(self, name, text, mode=0o644):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def submit(self, text, *args, name="job.sh", wait=False, user=None):
        """Submit a shell job; returns (the finished or submitted job's id, process)."""
        path = self.script(name, text)
        argv = ["submit", "--profile", "default", "--entry", name] + list(args) + [path]
        if wait:
            argv.append("--wait")
        p = self.cli(*argv, user=user)
        ident = p.stdout.splitlines()[0] if p.stdout else ""
        return ident, p

    def finished(self, text, *args, **kw):
        ident, p = self.submit(text, *args, wait=True, **kw)
        self.assertRegex(ident, "^[0-9a-f]{32}$", p.stderr)
        return ident, p

    def job(self, ident):
        p = self.cli("status", ident, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def stored_artifact(self, ident, path):
        return os.path.join(self.daemon.state, "jobs", ident, "artifacts", path)

    # help and usage

    def test_help_for_every_subcommand(self):
        p = self.cli("--help")
        self.assertEqual(p.returncode, 0)
        for cmd in ("submit", "status", "wait", "logs", "artifacts", "cancel", "delete",
                    "list", "health", "run", "profiles", "audit"):
            self.assertIn("  " + cmd + " ", p.stdout)
        for cmd in ("submit", "status", "wait", "logs", "artifacts", "cancel", "delete",
                    "list", "health", "run", "profiles", "profile", "audit"):
            p = self.cli(cmd, "--help")
            self.assertEqual(p.returncode, 0, cmd)
            self.assertIn("Usage: cordon " + cmd, p.stdout)
            self.assertIn("Example", p.stdout, cmd)
        self.assertIn("Commands that work on this host's files", self.cli("--help").stdout)
        top = self.cli("--help").stdout
        self.assertLess(top.index("  profiles "), top.index("Commands that work on this host's"))
        self.assertIn("--local", self.cli("profiles", "--help").stdout)

    def test_usage_errors(self):
        p = self.cli("nosuch")
        self.assertEqual(p.returncode, EX_USAGE)
        self.one_line_error(self.cli("status"), "status", EX_USAGE, "expected one job ID")
        self.one_line_error(self.cli("status", "../x"), "status", EX_USAGE, "not a job id")
        self.one_line_error(self.cli("submit", "x"), "submit", EX_USAGE, "--profile")
        self.one_line_error(self.cli("submit", "--profile", "default", "--memory", "9X"),
                            "submit", EX_USAGE, "--memory")
        self.one_line_error(self.cli("submit", "--profile", "default", "--label", "novalue"),
                            "submit", EX_USAGE, "--label")
        self.one_line_error(self.cli("list", "--state", "bogus"), "list", EX_USAGE, "--state")
        self.one_line_error(self.cli("list", "--limit", "0"), "list", EX_USAGE, "--limit")
        self.one_line_error(self.cli("artifacts"), "artifacts", EX_USAGE)
        self.assertEqual(self.cli("list", "--bogus").returncode, EX_USAGE)
        # getopt's own messages name the command as ours do.
        for args, line in ((["list", "--bogus"], "cordon list: unrecognized option '--bogus'"),
                           (["wait", "ab", "--timeout"],
                            "cordon wait: option '--timeout' requires an argument"),
                           (["artifacts", "ab", "-x"], "cordon artifacts: invalid option -- 'x'"),
                           (["audit", "verify", "--bogus"],
                            "cordon audit verify: unrecognized option '--bogus'"),
                           (["profile", "check", "--bogus"],
                            "cordon profile check: unrecognized option '--bogus'")):
            p = self.cli(*args)
            self.assertEqual((p.returncode, p.stderr), (EX_USAGE, line + "\n"), args)

    # health, submit, status, wait, logs

    def test_health(self):
        p = self.cli("health")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("cordond ok at " + self.daemon.socket, p.stdout)
        self.assertNotIn("\x1b[", p.stdout)  # not a terminal: no colour
        self.assertRegex(p.stdout, r"slots +\d+ of 2 busy")
        h = json.loads(self.cli("health", "--json").stdout)
        self.assertEqual(h["status"], "ok")
        self.assertIn(h["cgroup_mode"], ("v1", "v2"))
        # A submitter: the status and version, none of the others' activity.
        p = self.cli("health", user=SUB_UID)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("cordond ok at ", p.stdout)
        self.assertNotIn("slots", p.stdout)
        self.assertNotIn("?", p.stdout)

    def test_submit_wait_status_logs(self):
        ident, p = self.submit("echo out; echo err >&2; exit 3", "--label", "k=v")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(ident, "^[0-9a-f]{32}$")
        self.assertEqual(p.stdout, ident + "\n")  # scripts capture the id

        p = self.cli("wait", ident)
        self.assertEqual(p.returncode, 3, p.stderr)  # the job's own exit code
        self.assertIn("finished: failed, exit 3", p.stdout)
        p = self.cli("wait", ident, "--json")
        self.assertEqual(p.returncode, 3)
        self.assertEqual(json.loads(p.stdout)["result"]["exit_code"], 3)

        job = self.job(ident)
        self.assertEqual((job["state"], job["verdict"], job["labels"]),
                         ("finished", "failed", {"k": "v"}))
        p = self.cli("status", ident)
        self.assertEqual(p.returncode, 0)  # status reports; it does not fail with the job
        self.assertIn("finished: failed, exit 3", p.stdout)
        self.assertIn("k=v", p.stdout)
        self.assertRegex(p.stdout, r"(?m)^profile +default$")

        self.assertEqual(self.cli("logs", ident).stdout, "out\n")
        self.assertEqual(self.cli("logs", ident, "--stderr").stdout, "err\n")

    def test_submit_wait_exit_statuses(self):
        _, p = self.finished("exit 0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("finished: ok", p.stdout)
        _, p = self.finished("sleep 30", "--wall", "1s")
        self.assertEqual(p.returncode, EX_TIMEOUT, p.stderr)
        self.assertIn("finished: timeout", p.stdout)
        _, p = self.finished("kill -KILL $$")
        self.assertEqual(p.returncode, 128 + signal.SIGKILL, p.stderr)

    def test_submit_refused_by_cordond(self):
        path = self.script("r.sh", "true")
        p = self.cli("submit", "--profile", "nosuch", "--entry", "r.sh", path)
        self.one_line_error(p, "submit", EX_REJECTED, "unknown_profile")
        p = self.cli("submit", "--profile", "default", "--entry", "r.sh", "--memory", "64G", path)
        self.one_line_error(p, "submit", EX_REJECTED, "--memory", "limit_exceeded")
        p = self.cli("submit", "--profile", "default", "--entry", "other.sh", path)
        self.one_line_error(p, "submit", EX_REJECTED, "invalid_request")

    def test_submit_inputs_and_directories(self):
        d = os.path.join(self.work, "inputs-dir")
        os.makedirs(d, exist_ok=True)
        for name, text in (("a.txt", "A"), ("b.txt", "B"), (".hidden", "H")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        ident, p = self.finished("ls /work; cat /work/a.txt /work/b.txt", d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.cli("logs", ident).stdout, "a.txt\nb.txt\njob.sh\nAB")

        before = len(json.loads(self.cli("list", "--json", "--limit", "500").stdout)["jobs"])
        os.makedirs(os.path.join(d, "sub"), exist_ok=True)
        _, p = self.submit("true", d)
        self.one_line_error(p, "submit", EX_USAGE, "input 1", "subdirectory")
        os.rmdir(os.path.join(d, "sub"))
        os.symlink("/etc/passwd", os.path.join(d, "link"))
        _, p = self.submit("true", d)
        self.one_line_error(p, "submit", EX_USAGE, "symlink")
        os.unlink(os.path.join(d, "link"))
        _, p = self.submit("true", os.path.join(self.work, "job.sh"))
        self.one_line_error(p, "submit", EX_USAGE, "same name")
        _, p = self.submit("true", os.path.join(self.work, "missing.txt"))
        self.one_line_error(p, "submit", EX_IO, "input 1")
        for bad in (".dotfile", "-dash", 'quo"te', "back\\slash", "ctl\x01", "pct%22x",
                    "pct%0ax"):
            _, p = self.submit("true", self.script(bad, "x"))
            self.one_line_error(p, "submit", EX_USAGE, "input 1", "rename")
        after = len(json.loads(self.cli("list", "--json", "--limit", "500").stdout)["jobs"])
        self.assertEqual(before, after)  # nothing was submitted

    def test_wait_timeout(self):
        ident, p = self.submit("sleep 60")
        self.assertEqual(p.returncode, 0, p.stderr)
        t0 = time.monotonic()
        p = self.cli("wait", ident, "--timeout", "2s")
        elapsed = time.monotonic() - t0
        line = self.one_line_error(p, "wait", EX_STILL_RUNNING, "it goes on",
                                   "'cordon cancel %s'" % ident)
        self.assertRegex(line, r"job %s is still (running|queued \(position \d+\)) after "
                               r"2\.0 s;" % ident)
        self.assertEqual(p.stdout, "")
        self.assertGreaterEqual(elapsed, 2.0)  # it waited that long, and then gave up
        job = self.job(ident)
        self.assertIn(job["state"], ("queued", "running"))  # untouched
        self.assertIsNone(job["verdict"])
        # --json: the job as it is; 0 asks once.
        p = self.cli("wait", ident, "--timeout", "0", "--json")
        self.assertEqual(p.returncode, EX_STILL_RUNNING, p.stderr)
        self.assertEqual(json.loads(p.stdout)["id"], ident)
        self.assertIn(json.loads(p.stdout)["state"], ("queued", "running"))
        # On a terminal: the live line, cleared, then the one line.
        status, out = pty_run(self.daemon.socket, self.work, ["wait", ident, "--timeout", "3s"])
        self.assertEqual(status, EX_STILL_RUNNING, out)
        self.assertRegex(out, r"job %s \x1b\[36mrunning\x1b\[0m, \d+(\.\d)? m?s" % ident[:12])
        self.assertIn("\r\x1b[Kcordon wait: job %s is still running after 3.0 s" % ident, out)
        # submit --wait --timeout: the id first, then the same.
        ident2, p = self.submit("sleep 60", "--timeout", "1s", wait=True)
        self.assertEqual(p.returncode, EX_STILL_RUNNING, p.stderr)
        self.assertEqual(p.stdout, ident2 + "\n")
        self.assertIn("job %s is still " % ident2, p.stderr)
        self.assertIsNone(self.job(ident2)["verdict"])
        for job_id in (ident, ident2):
            self.assertEqual(self.cli("cancel", job_id).returncode, 0)
        # A job that ends in time: its own status, as without --timeout.
        ident3, p = self.submit("exit 3")
        p = self.cli("wait", ident3, "--timeout", "2m")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("finished: failed, exit 3", p.stdout)
        for argv in (["wait", ident, "--timeout", "5x"], ["wait", ident, "--timeout", "-1s"],
                     ["wait", ident, "--timeout"]):
            self.assertEqual(self.cli(*argv).returncode, EX_USAGE, argv)
        self.one_line_error(self.cli("wait", ident, "--timeout", "soon"), "wait", EX_USAGE,
                            "--timeout")
        self.one_line_error(self.cli("submit", "--profile", "default", "--timeout", "1s"),
                            "submit", EX_USAGE, "--timeout", "--wait")

    def test_logs_follow(self):
        ident, p = self.submit("echo one; sleep 1; echo two; sleep 1; printf 'three\\033[2J\\n'")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("logs", ident, "--follow")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "one\ntwo\nthree\x1b[2J\n")  # raw bytes when not a terminal
        self.assertEqual(self.job(ident)["state"], "finished")

    def test_logs_follow_fetches_only_new_bytes(self):
        """Each poll asks for the bytes after those printed (Range), so a long
        output crosses the socket once. A proxy in front of cordond counts."""
        big = 200 * 1024
        ident, p = self.submit("head -c %d /dev/zero | tr '\\0' a\n"
                               "trap 'echo tail; exit 0' TERM\nsleep 300 & wait\n" % big)
        self.assertEqual(p.returncode, 0, p.stderr)
        sock = os.path.join(self.work, "proxy-%s.sock" % ident)
        proxy = RecordingProxy(self.daemon.socket, sock)
        self.addCleanup(proxy.close)
        e = dict(os.environ, CORDON_SOCKET=sock)
        with tempfile.TemporaryFile() as out:
            follow = subprocess.Popen([CORDON, "logs", ident, "--follow"], stdout=out,
                                      stderr=subprocess.PIPE, env=e)
            want = "Range: bytes=%d-" % big
            deadline = time.monotonic() + HANG_S
            while not any(want in r for r in proxy.requests()):
                self.assertLess(time.monotonic(), deadline, proxy.requests()[-3:])
                self.assertLess(proxy.answered, 2 * big, "the whole stream fetched again")
                if follow.poll() is not None:
                    self.fail("logs --follow ended early: %r" % follow.stderr.read())
                time.sleep(0.05)  # a hang bound: the CLI polls when it polls
            # It has printed the first part and asks for more: let the job end.
            self.assertEqual(self.cli("cancel", ident).returncode, 0)
            self.assertEqual(follow.wait(timeout=HANG_S), 0, follow.stderr.read())
            follow.stderr.close()
            out.seek(0)
            self.assertEqual(out.read(), b"a" * big + b"tail\n")
        # Each asks from where the one before left off: no Range while
        # nothing was printed, then never less than what was.
        gets = [r for r in proxy.requests() if r.startswith("GET /v1/jobs/%s/stdout" % ident)]
        starts = [int(m.group(1)) if m else 0
                  for m in (re.search(r"\r\nRange: bytes=(\d+)-(\r\n|$)", r) for r in gets)]
        self.assertEqual(starts, sorted(starts), gets)
        self.assertTrue(all(("Range:" in r) == (n > 0) for r, n in zip(gets, starts)), gets)
        self.assertIn(big, starts)
        # Refetching the whole stream would have sent it at least twice.
        self.assertLess(proxy.answered, big + 64 * 1024)

    # profiles

    def profiles_daemon(self):
        """A cordond whose profiles differ from the repository's: three, one
        with a control sequence in its description. Returns (daemon, dir)."""
        pdir = tempfile.mkdtemp(prefix="cordon-cli-profiles-")
        os.chmod(pdir, 0o755)
        self.addCleanup(shutil.rmtree, pdir, True)
        for name in ("default", "data-export"):
            shutil.copy(os.path.join(PROFILES, name + ".json"), pdir)
        with open(os.path.join(PROFILES, "default.json")) as f:
            odd = json.load(f)
        odd.update(name="odd", description="odd \x1b[2J desc")
        with open(os.path.join(pdir, "odd.json"), "w") as f:
            json.dump(odd, f)
        d = Daemon("profiles", profiles=pdir)
        self.addCleanup(d.close)
        return d, pdir

    def test_profiles_asks_cordond(self):
        d, pdir = self.profiles_daemon()
        p = self.cli("profiles", sock=d.socket)  # CORDON_SOCKET
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual([l.split()[0] for l in lines], ["PROFILE", "data-export", "default", "odd"])
        for col in ("IMAGE", "MEMORY", "CPUS", "WALL", "DESCRIPTION"):
            at = lines[0].index(col)
            for row in lines[1:]:  # aligned: each column starts where its header does
                self.assertEqual(row[at - 2:at], "  ", (col, row))
                self.assertNotEqual(row[at], " ", (col, row))
        self.assertRegex(lines[2], r"^default +host +1G \(max 2G\) +0\.5 \(max 1\) +5m \(max 1h\) "
                                   r"+A shell job")
        self.assertTrue(lines[3].endswith("odd \\x1b[2J desc"), lines[3])  # inert
        self.assertNotIn("\x1b", p.stdout)

        # --json: cordond's own document, field for field.
        p = self.cli("profiles", "--json", sock=d.socket)
        self.assertEqual(p.returncode, 0, p.stderr)
        status, doc = api_get(d.socket, "/v1/profiles")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(p.stdout), doc)
        self.assertEqual(doc["profiles"][2]["description"], "odd \x1b[2J desc")

        # --socket, before or after the command, wins over CORDON_SOCKET.
        for argv in (["profiles", "--socket", d.socket, "--json"],
                     ["--socket", d.socket, "profiles", "--json"]):
            p = self.cli(*argv)  # CORDON_SOCKET: the main cordond, five profiles
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual([x["name"] for x in json.loads(p.stdout)["profiles"]],
                             ["data-export", "default", "odd"], argv)
        self.assertEqual(len(json.loads(self.cli("profiles", "--json").stdout)["profiles"]),
                         len([n for n in os.listdir(PROFILES) if n.endswith(".json")]))
        # A submitter may list them too.
        self.assertEqual(self.cli("profiles", user=SUB_UID, sock=d.socket).returncode, 0)
        # Completion offers cordond's for submit, the local files for run.
        self.assertEqual(self.complete("submit", "--profile", "", sock=d.socket),
                         ["data-export", "default", "odd"])
        self.assertEqual(self.complete("run", "--profiles-dir", pdir, "--profile", "d",
                                       sock=self.daemon.socket), ["data-export", "default"])

    def test_profiles_local(self):
        d, pdir = self.profiles_daemon()
        p = self.cli("profiles", "--local", "--profiles-dir", pdir, "--json", sock=d.socket)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), api_get(d.socket, "/v1/profiles")[1])
        p = self.cli("profiles", "--local", "--profiles-dir", PROFILES, sock=d.socket + ".none")
        self.assertEqual(p.returncode, 0, p.stderr)  # no cordond needed
        self.assertEqual(sorted(l.split()[0] for l in p.stdout.splitlines()[1:]),
                         sorted(n[:-5] for n in os.listdir(PROFILES) if n.endswith(".json")))
        with open(os.path.join(pdir, "bad.json"), "w") as f:
            f.write('{"name": "bad", "colour": "red"}')
        p = self.cli("profiles", "--local", "--profiles-dir", pdir)
        self.one_line_error(p, "profiles", 1, "bad.json")
        self.one_line_error(self.cli("profiles", "--profiles-dir", pdir), "profiles", EX_USAGE,
                            "--local")
        self.one_line_error(self.cli("profiles", "--images-dir", pdir), "profiles", EX_USAGE,
                            "--local")
        self.one_line_error(self.cli("profiles", "--local", "--socket", d.socket), "profiles",
                            EX_USAGE, "--socket")
        self.one_line_error(self.cli("profiles", "x"), "profiles", EX_USAGE, "no arguments")
        p = self.cli("profile", "check", os.path.join(pdir, "odd.json"))
        self.assertEqual((p.returncode, p.stdout.strip()),
                         (0, '%s: valid profile "odd"' % os.path.join(pdir, "odd.json")))
        self.one_line_error(self.cli("profile", "check", os.path.join(pdir, "bad.json")),
                            "profile check", 1, "bad.json")

    # cancel, delete, list

    def test_cancel(self):
        ident, p = self.submit("sleep 60")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("cancel", ident)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ident, p.stdout)
        p = self.cli("wait", ident)
        self.assertEqual(p.returncode, EX_CANCELLED, p.stderr)
        self.assertIn("cancelled", p.stdout)
        self.one_line_error(self.cli("cancel", ident), "cancel", EX_REJECTED, "job_finished")

    def test_delete_and_not_found(self):
        ident, p = self.finished("true")
        p = self.cli("delete", ident)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "job %s deleted\n" % ident)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.state, "jobs", ident)))
        for cmd in (["status"], ["wait"], ["logs"], ["artifacts"], ["cancel"], ["delete"]):
            p = self.cli(*(cmd + [ident]))
            self.one_line_error(p, cmd[0], EX_NOT_FOUND, "job " + ident, "job_not_found")
        running, p = self.submit("sleep 60")
        p = self.cli("delete", running)  # cancelled first, then deleted
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.cli("status", running).returncode, EX_NOT_FOUND)

    def test_list(self):
        tag = "t%d" % time.monotonic_ns()
        first, _ = self.finished("true", "--label", "run=" + tag)
        second, _ = self.finished("exit 2", "--label", "run=" + tag)
        doc = json.loads(self.cli("list", "--label", "run=" + tag, "--json").stdout)
        self.assertEqual([j["id"] for j in doc["jobs"]], [second, first])  # newest first
        self.assertIsNone(doc["next"])

        p = self.cli("list", "--label", "run=" + tag)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        header = lines[0]
        for col in ("STATE", "RESULT", "PROFILE", "CREATED", "DURATION", "LABELS"):
            at = header.index(col)
            for row in lines[1:]:  # aligned: each column starts where its header does
                self.assertNotEqual(row[at - 2:at], "", row)
                self.assertEqual(row[at - 2:at], "  ", (col, row))
                self.assertNotEqual(row[at], " ", (col, row))
        self.assertIn("failed (2)", lines[1])
        self.assertNotIn("\x1b[", p.stdout)

        p = self.cli("list", "--label", "run=" + tag, "--limit", "1", "--json")
        doc = json.loads(p.stdout)
        self.assertEqual([j["id"] for j in doc["jobs"]], [second])
        self.assertIsNotNone(doc["next"])
        p = self.cli("list", "--label", "run=" + tag, "--limit", "1")
        self.assertIn("more: cordon list --before " + doc["next"], p.stderr)
        p = self.cli("list", "--label", "run=" + tag, "--before", doc["next"], "--json")
        self.assertEqual([j["id"] for j in json.loads(p.stdout)["jobs"]], [first])
        # A cursor goes into the query as it is: nothing that would end it.
        for bad in ("", "1&owner=0", "1%26x", "1 2", "X-1"):
            p = self.cli("list", "--before", bad)
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertIn("--before", p.stderr, bad)

        doc = json.loads(self.cli("list", "--state", "finished", "--json").stdout)
        self.assertTrue(all(j["state"] == "finished" for j in doc["jobs"]))
        p = self.cli("list", "--all", "--label", "run=" + tag)
        self.assertIn("OWNER", p.stdout.splitlines()[0])

    def test_job_text_is_escaped(self):
        tag = "e%d" % time.monotonic_ns()
        ident, p = self.finished("true", "--label", "run=" + tag, "--label", "x=a\x1b[2Jb")
        self.assertEqual(p.returncode, 0, p.stderr)
        for args in (["list", "--label", "run=" + tag], ["status", ident]):
            out = self.cli(*args).stdout
            self.assertNotIn("\x1b", out)
            self.assertIn("x=a\\x1b[2Jb", out)
        self.assertEqual(self.job(ident)["labels"]["x"], "a\x1b[2Jb")  # --json: as it is

    def test_names_in_a_locale_that_is_not_utf8(self):
        """Where the locale is not UTF-8, the terminal may read the
        continuation bytes 0x80-0x9f of UTF-8 as C1 controls: U+201B is
        e2 80 9b, and 0x9b is CSI. Labels and artifact names then show
        every byte from 0x80 on as \\xNN, as logs show them as '?'; in a
        UTF-8 locale the character is kept."""
        tag = "l%d" % time.monotonic_ns()
        ident, p = self.finished("printf x > \"/out/n$(printf '\\342\\200\\233')2J\"", "--label",
                                 "run=" + tag, "--label", "x=v\u201b2J")
        self.assertEqual(p.returncode, 0, p.stderr)
        base = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
        for lang, label, name in (("C", b"x=v\\xe2\\x80\\x9b2J", b"n\\xe2\\x80\\x9b2J"),
                                  ("C.UTF-8", "x=v\u201b2J".encode(), "n\u201b2J".encode())):
            env = dict(base, LANG=lang, CORDON_SOCKET=self.daemon.socket)
            for args, want in ((["status", ident], label),
                               (["list", "--label", "run=" + tag], label),
                               (["artifacts", ident], name)):
                p = subprocess.run([CORDON] + args, capture_output=True, timeout=HANG_S, env=env)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(want, p.stdout, (lang, args))
                if lang == "C":
                    self.assertTrue(all(b < 0x80 for b in p.stdout), (args, p.stdout))

    def test_json_output_is_ascii(self):
        """--json escapes C1 controls (U+009B is CSI to a terminal) and
        bidirectional overrides as it escapes C0 ones: every byte is ASCII,
        and the document reads back the same."""
        tag = "a%d" % time.monotonic_ns()
        value = "a\u009b31mb\u202ec\u0085d\u00e9"
        ident, p = self.finished("true", "--label", "run=" + tag, "--label", "x=" + value)
        self.assertEqual(p.returncode, 0, p.stderr)
        for args in (["status", ident, "--json"], ["wait", ident, "--json"],
                     ["list", "--label", "run=" + tag, "--json"]):
            p = subprocess.run([CORDON] + args, capture_output=True, timeout=HANG_S,
                               env=dict(os.environ, CORDON_SOCKET=self.daemon.socket))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(all(b < 0x80 for b in p.stdout), (args, p.stdout))
            doc = json.loads(p.stdout)
            job = doc["jobs"][0] if "jobs" in doc else doc
            self.assertEqual(job["labels"]["x"], value, args)

    # artifacts

    OUT_JOB = ("mkdir -p /out/sub; echo alpha > /out/a.txt; printf 'x,y\\n1,2\\n' > /out/sub/b.csv;"
               " ln -s /etc/passwd /out/link")

    def test_artifacts_list_and_fetch(self):
        ident, p = self.finished(self.OUT_JOB)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("artifacts", ident)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^PATH +SIZE +TYPE +SHA-256$")
        self.assertRegex(p.stdout, r"(?m)^link +- +refused: symlink")
        self.assertRegex(p.stdout, r"(?m)^sub/b\.csv +8 B ")
        manifest = json.loads(self.cli("artifacts", ident, "--json").stdout)
        self.assertEqual(manifest["job"], ident)
        taken = {e["path"]: e for e in manifest["artifacts"] if "sha256" in e}
        self.assertEqual(set(taken), {"a.txt", "sub/b.csv"})

        p = self.cli("artifacts", ident, "sub/b.csv")
        self.assertEqual((p.returncode, p.stdout), (0, "x,y\n1,2\n"), p.stderr)
        one = os.path.join(self.work, "one-%s.csv" % ident)
        p = self.cli("artifacts", ident, "sub/b.csv", "-o", one)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sha256(one), taken["sub/b.csv"]["sha256"])
        p = self.cli("artifacts", ident, "sub/b.csv", "-o", one)  # never overwritten
        self.one_line_error(p, "artifacts", EX_IO, "exists")
        self.one_line_error(self.cli("artifacts", ident, "nosuch.txt"), "artifacts",
                            EX_NOT_FOUND, "no such artifact")
        self.one_line_error(self.cli("artifacts", ident, "link"), "artifacts", EX_NOT_FOUND,
                            "refused")

        out = os.path.join(self.work, "all-" + ident)
        p = self.cli("artifacts", ident, "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 artifacts", p.stdout)
        for path, e in taken.items():
            self.assertEqual(sha256(os.path.join(out, path)), e["sha256"])
            # Owner only: a job's output is often PHI.
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, path)).st_mode), 0o600)
        for d in (out, os.path.join(out, "sub")):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(one).st_mode), 0o600)
        self.assertFalse(os.path.lexists(os.path.join(out, "link")))
        p = self.cli("artifacts", ident, "-o", out)  # again: DIR is not empty
        self.assertEqual(p.returncode, EX_IO)
        self.assertIn("-o: the directory must be empty", p.stderr)

    def test_artifacts_of_unfinished_job(self):
        ident, p = self.submit("sleep 60")
        p = self.cli("artifacts", ident)
        self.one_line_error(p, "artifacts", EX_REJECTED, "job_not_finished", "cordon wait")
        self.assertEqual(self.cli("cancel", ident).returncode, 0)

    def test_tampered_artifact_is_refused(self):
        ident, p = self.finished("printf 'id,value\\n1,42\\n' > /out/data.csv; echo ok > /out/b.txt")
        stored = self.stored_artifact(ident, "data.csv")
        with open(stored, "r+b") as f:  # same size, other bytes: served with the old ETag
            f.write(b"id,value\n1,99\n")

        out = os.path.join(self.work, "tampered-" + ident)
        p = self.cli("artifacts", ident, "-o", out)
        self.assertEqual(p.returncode, EX_VERIFY, p.stderr)
        self.assertIn("artifact data.csv: SHA-256 mismatch", p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertFalse(os.path.lexists(os.path.join(out, "data.csv")))  # removed
        with open(os.path.join(out, "b.txt")) as f:
            self.assertEqual(f.read(), "ok\n")  # the rest was fetched

        one = os.path.join(self.work, "tampered-one-" + ident)
        p = self.cli("artifacts", ident, "data.csv", "-o", one)
        self.one_line_error(p, "artifacts", EX_VERIFY, "SHA-256 mismatch")
        self.assertFalse(os.path.lexists(one))
        p = self.cli("artifacts", ident, "data.csv")
        self.assertEqual(p.returncode, EX_VERIFY)

    def test_unsafe_manifest_names_are_refused(self):
        ident, p = self.finished("echo safe > /out/a.txt")
        db = sqlite3.connect(os.path.join(self.daemon.state, "jobs.db"), timeout=30)
        with db:
            (text,) = db.execute("SELECT result_json FROM jobs WHERE id = ?", (ident,)).fetchone()
            result = json.loads(text)
            good = result["artifacts"][0]
            for bad in ("../escaped.txt", "/tmp/abs-%s.txt" % ident, "sub/../../up.txt"):
                result["artifacts"].append(dict(good, path=bad))
            db.execute("UPDATE jobs SET result_json = ? WHERE id = ?",
                       (json.dumps(result), ident))
        db.close()
        parent = os.path.join(self.work, "unsafe-" + ident)
        out = os.path.join(parent, "out")
        os.makedirs(out)
        p = self.cli("artifacts", ident, "-o", out)
        self.assertEqual(p.returncode, EX_VERIFY, p.stderr)
        self.assertEqual(p.stderr.count("refused"), 3, p.stderr)
        self.assertEqual(sorted(os.listdir(parent)), ["out"])
        self.assertEqual(os.listdir(out), ["a.txt"])
        self.assertFalse(os.path.exists("/tmp/abs-%s.txt" % ident))

    def test_repository_directories_are_not_fetched(self):
        """A job's .git/config (core.fsmonitor), .hg/hgrc or .jj/repo/config.toml
        names commands that git, hg or jj runs as the admin in the downloaded tree, which is
        the admin's own (git trusts it): a shell prompt runs git on every
        cd. cordond refuses such names (bad_name, in any case, a directory
        with what is in it), and the HEAD of a bare repository laid out
        under another name (its core.pager runs on git log); the others are
        fetched."""
        ident, p = self.finished(
            "mkdir -p /out/.git/objects /out/.git/refs /out/sub/.Hg /out/up/.GIT;"
            " echo 'ref: refs/heads/main' > /out/.git/HEAD; echo x > /out/.git/objects/k;"
            " echo x > /out/.git/refs/k; echo x > /out/up/.GIT/config;"
            " printf '[core]\\n\\tfsmonitor = \"touch %s/pwned-$$; false\"\\n' > /out/.git/config;"
            " echo '[extensions]' > /out/sub/.Hg/hgrc; echo 'gitdir: /tmp' > /out/sub/.git;"
            " mkdir -p /out/sub/.jj/repo; echo '[ui]' > /out/sub/.jj/repo/config.toml;"
            " mkdir -p /out/db/objects /out/db/refs; echo 'ref: refs/heads/main' > /out/db/HEAD;"
            " echo x > /out/db/objects/k; echo x > /out/db/refs/k;"
            " printf '[core]\\n\\tpager = \"touch %s/pwned-pager\"\\n' > /out/db/config;"
            " echo fine > /out/ok.txt; echo fine > /out/sub/.gitignore" % (self.work, self.work))
        self.assertEqual(p.returncode, 0, p.stderr)
        out = os.path.join(self.work, "vcs-" + ident)
        p = self.cli("artifacts", ident, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        refused = {e["path"]: e.get("refused") for e in json.loads(p.stdout)["artifacts"]}
        for path in (".git", "sub/.Hg", "sub/.git", "up/.GIT", "sub/.jj", "db/HEAD"):
            self.assertEqual(refused.get(path), "bad_name", (path, refused))
        self.assertFalse([k for k in refused if k.startswith(".git/")], refused)
        p = self.cli("artifacts", ident, "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        found = sorted(os.path.relpath(os.path.join(r, f), out)
                       for r, _, files in os.walk(out) for f in files)
        self.assertEqual(found, ["db/config", "db/objects/k", "db/refs/k", "ok.txt",
                                 "sub/.gitignore"])
        # What a shell prompt does on cd (git: scripts/setup installs it).
        self.assertIsNotNone(shutil.which("git"), "git is missing: run scripts/setup")
        env = {k: v for k, v in os.environ.items() if k not in ("PAGER", "GIT_PAGER")}
        env["GIT_CEILING_DIRECTORIES"] = self.work
        subprocess.run(["git", "-C", out, "status"], capture_output=True, timeout=HANG_S,
                       env=env)
        # The pager git log would run in db/: not the job's, as no repository is there.
        p = subprocess.run(["git", "-C", os.path.join(out, "db"), "var", "GIT_PAGER"],
                           capture_output=True, text=True, timeout=HANG_S, env=env)
        self.assertNotIn("pwned", p.stdout)
        self.assertEqual(glob.glob(os.path.join(self.work, "pwned-*")), [])
        one = os.path.join(self.work, "config-" + ident)
        p = self.cli("artifacts", ident, ".git/config", "-o", one)
        self.assertEqual(p.returncode, EX_NOT_FOUND, p.stderr)
        self.assertFalse(os.path.lexists(one))

    def test_symlink_in_the_way_is_refused(self):
        """-o DIR must be empty (or absent): a job's files land only in what
        the download makes, never merged into an existing tree, through a
        symlink planted there or into a home directory's .ssh. Before, DIR
        was entered whatever it held (links were not followed, but a job
        could add .ssh/authorized_keys where there was none)."""
        ident, p = self.finished(self.OUT_JOB)
        elsewhere = tempfile.mkdtemp(dir=self.work)
        out = os.path.join(self.work, "planted-" + ident)
        os.makedirs(out)
        os.symlink(elsewhere, os.path.join(out, "sub"))
        os.symlink(os.path.join(elsewhere, "a.txt"), os.path.join(out, "a.txt"))
        p = self.cli("artifacts", ident, "-o", out)
        self.one_line_error(p, "artifacts", EX_IO, "-o: the directory must be empty")
        self.assertEqual(os.listdir(elsewhere), [])  # nothing written through the links
        home = os.path.join(self.work, "home-" + ident)
        os.makedirs(os.path.join(home, ".ssh"))
        p = self.cli("artifacts", ident, "-o", home)
        self.assertEqual(p.returncode, EX_IO, p.stderr)
        self.assertEqual(os.listdir(home), [".ssh"])
        self.assertEqual(os.listdir(os.path.join(home, ".ssh")), [])

    def test_output_directory_others_can_write_is_refused(self):
        """An existing DIR for artifacts (-o, run --out) must be the
        caller's (or root's) and writable by no one else: its owner, or
        anyone who may write it, could swap a verified file afterwards.
        `run --out link/` does not follow the symlink (O_NOFOLLOW would,
        with the slash)."""
        ident, p = self.finished(self.OUT_JOB)
        self.assertEqual(p.returncode, 0, p.stderr)
        base = tempfile.mkdtemp(dir=self.work)
        dirs = {}
        for name, owner, mode, needle in (
                ("theirs", OTHER_UID, 0o777, "belongs to uid %d" % OTHER_UID),
                ("theirs-private", OTHER_UID, 0o700, "belongs to uid %d" % OTHER_UID),
                ("shared", 0, 0o777, "(mode 0777)"), ("group", 0, 0o770, "(mode 0770)")):
            d = dirs[name] = os.path.join(base, name)
            os.mkdir(d)
            os.chown(d, owner, GID)
            os.chmod(d, mode)
            p = self.cli("artifacts", ident, "-o", d)
            self.one_line_error(p, "artifacts", EX_IO, "-o: the directory", needle, "refused")
            self.assertEqual(os.listdir(d), [])
        script = self.script("out.sh", "true")
        p = self.cli("submit", "--profile", "default", "--entry", "out.sh", "-o", dirs["theirs"],
                     script)
        self.one_line_error(p, "submit", EX_IO, "belongs to uid %d" % OTHER_UID)
        self.assertEqual(p.stdout, "")  # refused before the job was sent
        # One's own, private, named with a slash: as before.
        mine = os.path.join(base, "mine")
        os.mkdir(mine, 0o700)
        p = self.cli("artifacts", ident, "-o", mine + "/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(os.listdir(mine)), ["a.txt", "sub"])

        target = os.path.join(base, "target")
        os.mkdir(target, 0o700)
        link = os.path.join(base, "link")
        os.symlink(target, link)
        for out, needle in ((dirs["theirs"], "belongs to uid %d" % OTHER_UID),
                            (dirs["shared"], "(mode 0777)"), (link, "a symlink"),
                            (link + "/", "a symlink"), (link + "//", "a symlink")):
            p = self.cli("run", "--profiles-dir", PROFILES, "--state-dir",
                         os.path.join(base, "state"), "--profile", "default", "--out", out,
                         "--", "/bin/sh", "-c", "echo x > /out/a")
            self.one_line_error(p, "run", EX_USAGE, "--out: ", needle, "refused")
        self.assertEqual(os.listdir(target), [])
        for d in dirs.values():
            self.assertEqual(os.listdir(d), [])

    def test_data_export_end_to_end(self):
        """The depot's flow: an R export over inputs, waited for, fetched, verified."""
        if not shutil.which("Rscript"):
            self.skipTest("no Rscript on this host")
        data = os.path.join(self.work, "export-data")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "cohort.csv"), "w") as f:
            f.write("id,age\n1,34\n2,51\n3,47\n")
        with open(os.path.join(data, "sites.csv"), "w") as f:
            f.write("site\nA\nB\n")
        entry = self.script("export.R", (
            'd <- read.csv("cohort.csv")\n'
            's <- read.csv("sites.csv")\n'
            'write.csv(data.frame(n = nrow(d), mean_age = mean(d$age), sites = nrow(s)),\n'
            '          "/out/summary.csv", row.names = FALSE)\n'
            'dir.create("/out/detail")\n'
            'write.csv(d[d$age > 40, ], "/out/detail/over40.csv", row.names = FALSE)\n'
            'cat("exported", nrow(d), "rows\\n")\n'))
        out = os.path.join(self.work, "export-out")
        p = self.cli("submit", "--profile", "data-export", "--entry", "export.R",
                     "--label", "study=s42", "--memory", "512M", "--wall", "2m",
                     "--wait", "-o", out, entry, data)
        self.assertEqual(p.returncode, 0, p.stderr)
        ident = p.stdout.splitlines()[0]
        self.assertIn("finished: ok, exit 0", p.stdout)
        self.assertIn("2 artifacts", p.stdout)
        with open(os.path.join(out, "summary.csv")) as f:
            self.assertEqual(f.read(), '"n","mean_age","sites"\n3,44,2\n')
        with open(os.path.join(out, "detail", "over40.csv")) as f:
            self.assertEqual(f.read(), '"id","age"\n2,51\n3,47\n')
        manifest = json.loads(self.cli("artifacts", ident, "--json").stdout)["artifacts"]
        for e in manifest:
            self.assertEqual(sha256(os.path.join(out, e["path"])), e["sha256"])
        self.assertEqual(self.cli("logs", ident).stdout, "exported 3 rows\n")
        job = self.job(ident)
        self.assertEqual(job["labels"], {"study": "s42"})
        self.assertEqual(job["result"]["limits"]["memory_bytes"], 512 << 20)

        p = self.cli("submit", "--profile", "data-export", "--entry", "export.R", "--wait",
                     "-o", out, "--json", entry, data)  # into the same DIR: not empty
        self.assertEqual(p.returncode, EX_IO, p.stderr)
        self.assertIn("-o: the directory must be empty", p.stderr)
        self.assertEqual(p.stdout, "")  # refused before the job was sent

    # who may call, and where cordond is

    def test_wrong_socket(self):
        bad = os.path.join(self.work, "nowhere", "cordon.sock")
        p = self.cli("health", "--socket", bad)
        self.assertEqual(p.stderr, "cordon health: cannot reach cordond at %s: no such file "
                                   "(is cordond running?)\n" % bad)
        self.assertEqual(p.returncode, EX_UNREACHABLE)
        p = self.cli("list", sock=bad)  # CORDON_SOCKET
        self.one_line_error(p, "list", EX_UNREACHABLE, bad)
        p = self.cli("list", "--socket", self.daemon.socket, sock=bad)  # the flag wins
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("--socket", self.daemon.socket, "health", sock=bad)  # before the command
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("--socket=" + bad, "health")
        self.one_line_error(p, "health", EX_UNREACHABLE, bad)
        self.assertEqual(self.cli("--socket", bad).returncode, EX_USAGE)

    def test_unloadable_libcurl(self):
        """libcurl is loaded when a subcommand first talks to cordond
        (src/cli/curl-load.c). One that cannot be loaded gives one line
        with the loader's reason; it used to say only "cannot initialise
        libcurl"."""
        lib = os.path.join(self.work, "badcurl")
        os.makedirs(lib, exist_ok=True)
        with open(os.path.join(lib, "libcurl.so.4"), "w") as f:
            f.write("not a library\n")
        p = self.cli("health", env={"LD_LIBRARY_PATH": lib})
        self.one_line_error(p, "health", EX_IO, "cannot initialise libcurl: ", "libcurl.so.4",
                            "file too short")

    def test_daemon_down(self):
        d = Daemon("down")
        try:
            self.assertEqual(self.cli("health", sock=d.socket).returncode, 0)
            d.kill(signal.SIGKILL)  # the socket file stays, nobody listens
            for cmd in (["health"], ["list"], ["status", "ab" * 16], ["profiles"]):
                p = self.cli(*cmd, sock=d.socket)
                self.one_line_error(p, cmd[0], EX_UNREACHABLE,
                                    "cannot reach cordond at " + d.socket,
                                    "(is cordond running?)")
        finally:
            d.close()

    def test_forbidden(self):
        for cmd in (["list"], ["health"], ["status", "ab" * 16], ["profiles"]):
            p = self.cli(*cmd, user=OTHER_UID)
            self.one_line_error(p, cmd[0], EX_FORBIDDEN, "forbidden", "uid %d" % OTHER_UID)

    def test_submitter_sees_only_its_own(self):
        root_job, _ = self.finished("true")
        ident, p = self.finished("id -u > /out/who.txt", user=SUB_UID)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("status", root_job, user=SUB_UID)
        self.one_line_error(p, "status", EX_NOT_FOUND, "job_not_found")
        jobs = json.loads(self.cli("list", "--all", "--json", user=SUB_UID).stdout)["jobs"]
        self.assertEqual({j["owner_uid"] for j in jobs}, {SUB_UID})
        self.assertIn(ident, [j["id"] for j in jobs])
        # An admin (root) sees it with --all, not without.
        mine = json.loads(self.cli("list", "--json", "--limit", "500").stdout)["jobs"]
        self.assertNotIn(ident, [j["id"] for j in mine])
        everyone = json.loads(self.cli("list", "--all", "--json", "--limit", "500").stdout)
        self.assertIn(ident, [j["id"] for j in everyone["jobs"]])

    # terminals

    def test_colour_only_on_a_terminal_and_never_with_no_color(self):
        self.finished("exit 0")
        status, out = pty_run(self.daemon.socket, self.work, ["list", "--limit", "3"])
        self.assertEqual(status, 0, out)
        self.assertIn("\x1b[1mID", out)
        status, out = pty_run(self.daemon.socket, self.work, ["list", "--limit", "3"],
                              env={"NO_COLOR": "1"})
        self.assertEqual(status, 0, out)
        self.assertNotIn("\x1b[", out)
        self.assertRegex(out, r"  \d+(\.\d)? m?s ago  ")  # human times on a terminal
        status, out = pty_run(self.daemon.socket, self.work, ["profiles"])
        self.assertEqual(status, 0, out)
        self.assertIn("\x1b[1mPROFILE\x1b[0m", out)

    def test_live_wait_line_and_interrupt(self):
        ident, p = self.submit("sleep 60")
        self.assertEqual(p.returncode, 0, p.stderr)
        status, out = pty_run(self.daemon.socket, self.work, ["wait", ident],
                              until="running\x1b[0m, ",
                              then=lambda proc: proc.send_signal(signal.SIGINT))
        self.assertEqual(status, 130, out)
        self.assertIn("\r\x1b[Kjob %s \x1b[36mrunning\x1b[0m, " % ident[:12], out)
        # State, then the time so far.
        self.assertRegex(out, r"job %s \x1b\[36mrunning\x1b\[0m, \d+(\.\d)? m?s" % ident[:12])
        self.assertIn("interrupted; job %s goes on" % ident, out)
        self.assertEqual(self.job(ident)["state"], "running")
        self.assertEqual(self.cli("cancel", ident).returncode, 0)

    def test_logs_escape_controls_on_a_terminal(self):
        ident, _ = self.finished("printf 'a\\033]0;title\\007b\\n'")
        status, out = pty_run(self.daemon.socket, self.work, ["logs", ident])
        self.assertEqual(status, 0, out)
        self.assertIn("a^[]0;title^Gb", out)
        self.assertNotIn("\x1b]", out)

    def test_logs_cannot_hide_or_reorder_text_on_a_terminal(self):
        """A carriage return inside a line would let the job print over what
        it printed before (a forged verdict); a right-to-left override would
        reorder it. Both are shown, in a UTF-8 locale, where the override
        would otherwise pass as a character."""
        ident, _ = self.finished(
            "printf 'error: disk full\\rall good      \\nx \\342\\200\\256cba\\r\\n'")
        status, out = pty_run(self.daemon.socket, self.work, ["logs", ident],
                              env={"LANG": "C.UTF-8", "LC_ALL": ""})
        self.assertEqual(status, 0, out)
        self.assertIn("error: disk full^Mall good", out)
        self.assertIn("x ?cba\r", out)
        self.assertNotIn("\u202e", out)


    def complete(self, *words, sock=None):
        """What contrib/bash-completion/cordon offers after @words (the last is
        the word being completed), with bash-completion's helpers stubbed."""
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "contrib", "bash-completion", "cordon")
        words = ["cordon"] + list(words)
        script = (
            '_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; '
            'prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); '
            'cword=$COMP_CWORD; }\n'
            '_filedir() { COMPREPLY=(FILES); }\n'
            'source "$1"; shift\n'
            'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
            '_cordon; printf "%s\\n" "${COMPREPLY[@]}"\n')
        env = dict(os.environ, CORDON_SOCKET=sock or self.daemon.socket,
                   PATH=os.path.dirname(CORDON) + ":" + os.environ.get("PATH", ""))
        p = subprocess.run(["bash", "-c", script, "bash", src] + words, capture_output=True,
                           text=True, env=env, timeout=HANG_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.split()

    def test_bash_completion(self):
        self.assertEqual(self.complete("li"), ["list"])
        self.assertIn("--profile", self.complete("submit", "--pro"))
        self.assertIn("--follow", self.complete("logs", "x", "--f"))
        self.assertEqual(self.complete("list", "--state", "r"), ["running"])
        ident, _ = self.finished("echo x > /out/made.txt")
        self.assertIn(ident, self.complete("status", ident[:6]))
        self.assertEqual(self.complete("artifacts", ident, "m"), ["made.txt"])
        self.assertEqual(self.complete("submit", "--profile", "default", ""), ["FILES"])
        self.assertEqual(sorted(self.complete("audit", "")), ["repair", "verify"])
        self.assertEqual(sorted(self.complete("audit", "--state-dir", "/x", "")),
                         ["repair", "verify"])


class HostileServerTest(unittest.TestCase):
    """Not cordond: a server on the socket that answers every GET with a
    job whose strings carry terminal escape sequences. The CLI prints such
    fields only as printable ASCII ('?' otherwise)."""

    EVIL = "\x1b]0;PWNED\x07\x1b[31m"

    def setUp(self):
        import http.server
        import socketserver
        import threading

        ident = "0" * 32
        job = {"id": ident, "state": "finished", "verdict": "ok" + self.EVIL,
               "reason": self.EVIL, "profile": "default", "owner_uid": 0,
               "created": "2026-01-01T00:00:00.000Z" + self.EVIL, "started": None,
               "finished": None, "labels": {}, "queue_position": None,
               "result": {"signal": "SIGKILL" + self.EVIL, "exit_code": None}}
        body = json.dumps(job).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

        self.tmp = tempfile.mkdtemp(prefix="cordon-cli-hostile-")
        self.sock = os.path.join(self.tmp, "s.sock")
        self.server = socketserver.ThreadingUnixStreamServer(self.sock, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.ident = ident

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_strings_from_the_server_reach_no_terminal_raw(self):
        env = dict(os.environ, CORDON_SOCKET=self.sock)
        for args in (["status", self.ident], ["wait", self.ident]):
            p = subprocess.run([CORDON] + args, capture_output=True, text=True, env=env,
                               timeout=HANG_S)
            self.assertNotIn("\x1b", p.stdout + p.stderr, args)
            self.assertIn("?", p.stdout + p.stderr, args)


class FakeCordondTest(unittest.TestCase):
    """The CLI against fake_cordond.py: a server that answers what cordond
    never would. Each fake runs in a directory of its own, as a uid of the
    test's choosing, and is killed in tearDown."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cordon-cli-fake-")
        os.chmod(self.tmp, 0o755)
        self.fakes = []
        self.addCleanup(self._stop)

    def _stop(self):
        for proc in self.fakes:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=HANG_S)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fake(self, scenario, user=0, name="fake"):
        """Start fake_cordond.py SCENARIO as @user; returns its directory
        (the socket is DIR/s.sock)."""
        d = os.path.join(self.tmp, name)
        os.mkdir(d, 0o755)
        os.chown(d, user, GID)
        sock = os.path.join(d, "s.sock")
        kw = {"user": user, "group": GID, "extra_groups": []} if user else {}
        proc = subprocess.Popen([PYTHON, FAKE_CORDOND, sock,
                                 scenario, d], stdin=subprocess.DEVNULL, **kw)
        self.fakes.append(proc)
        deadline = time.monotonic() + HANG_S
        while True:
            self.assertIsNone(proc.poll(), "fake_cordond.py %s exited" % scenario)
            self.assertLess(time.monotonic(), deadline)
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                    break
            except OSError:
                time.sleep(0.05)  # a hang bound, not synchronisation
        return d

    def requests(self, d):
        """The request lines the fake in @d read, in order."""
        try:
            with open(os.path.join(d, "requests.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def cli(self, d, *args, user=None, timeout=HANG_S, **kw):
        e = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        e["CORDON_SOCKET"] = os.path.join(d, "s.sock")
        if user is not None:
            kw.update(user=user, group=GID, extra_groups=[])
        return subprocess.run([CORDON] + list(args), capture_output=True, text=True, env=e,
                              timeout=timeout, cwd=self.tmp, **kw)

    def one_line_error(self, p, cmd, status, *needles):
        self.assertEqual(p.returncode, status, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.startswith("cordon %s: " % cmd), p.stderr)
        for n in needles:
            self.assertIn(n, p.stderr)

    ID = "0" * 32

    def test_socket_served_by_another_user_is_refused(self):
        """Whoever binds the socket path first would get every upload and
        answer every status: the CLI sends nothing to a socket served by
        anyone but root or the caller's own uid (SO_PEERCRED)."""
        d = self.fake("record", user=OTHER_UID)
        secret = os.path.join(self.tmp, "secret.csv")
        with open(secret, "w") as f:
            f.write("patient_id,diagnosis\n")
        p = self.cli(d, "submit", "--profile", "default", "--entry", "secret.csv", secret)
        self.one_line_error(p, "submit", EX_UNREACHABLE, "served by uid %d" % OTHER_UID,
                            "nothing was sent")
        self.assertEqual(p.stdout, "")
        for args, user in ((["status", self.ID], None), (["health"], None),
                           (["status", self.ID], SUB_UID)):
            p = self.cli(d, *args, user=user)
            self.one_line_error(p, args[0], EX_UNREACHABLE, "served by uid %d" % OTHER_UID)
        self.assertEqual(self.requests(d), [])
        self.assertFalse(os.path.exists(os.path.join(d, "capture.bin")))
        # The caller's own uid may serve it (a forwarded socket), and root.
        own = self.fake("record", user=SUB_UID, name="own")
        p = self.cli(own, "status", self.ID, user=SUB_UID)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.requests(own), ["GET /v1/jobs/" + self.ID])
        root = self.fake("record", name="root")
        p = self.cli(root, "submit", "--profile", "default", "--entry", "secret.csv", secret,
                     user=SUB_UID)
        self.assertEqual((p.returncode, p.stdout), (0, self.ID + "\n"), p.stderr)

    def test_wait_timeout_when_cordond_does_not_answer(self):
        """--timeout bounds each poll, not only the loop: a cordond that
        holds the answer back is given the time left (and 2 s), then exit
        119 as for a job still running. It used to wait 60 s more, then
        exit 69."""
        d = self.fake("stall")
        runs = (["wait", self.ID, "--timeout", "2s"],
                ["wait", self.ID, "--timeout", "1s", "--json"],
                ["wait", self.ID, "--timeout", "0"])
        # All at once, each on its own connection: each waits out its own
        # bound (4, 3 and 2 s), which they need not do one after the other.
        with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
            done = list(pool.map(lambda args: self.cli(d, *args, timeout=50), runs))  # a hang bound
        for args, p in zip(runs, done):
            with self.subTest(args=args):
                self.one_line_error(p, "wait", EX_STILL_RUNNING, "did not answer within",
                                    "the job goes on")
                self.assertEqual(p.stdout, "")  # --json: no job to show

    def test_polls_answered_at_once_are_spaced_out(self):
        """A cordond that answers ?wait= at once: `wait` and `logs -f` poll
        a few times a second (250 ms apart, doubling), not thousands."""
        # `logs -f` polls a fake of its own while `wait` polls the other:
        # each is counted alone, and the two 3 s need not come one after
        # the other.
        d = self.fake("running")
        f = self.fake("running", name="follow")
        e = dict(os.environ, CORDON_SOCKET=os.path.join(f, "s.sock"))
        follow = subprocess.Popen([CORDON, "logs", "-f", self.ID], env=e, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + HANG_S
            while not self.requests(f):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)  # a hang bound
            first = time.monotonic()

            p = self.cli(d, "wait", self.ID, "--timeout", "3s")
            self.one_line_error(p, "wait", EX_STILL_RUNNING, "is still running")
            # 250 ms, doubling: about 5 in 3 s. Without the pauses, tens of thousands.
            self.assertLess(len(self.requests(d)), 50)

            time.sleep(max(0, first + 3 - time.monotonic()))  # what it asks in 3 s
            follow.send_signal(signal.SIGINT)
            out, err = follow.communicate(timeout=HANG_S)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.communicate()
        self.assertEqual(follow.returncode, 130, err)
        self.assertLess(len(self.requests(f)), 100)

    def test_wait_for_a_rejected_job(self):
        """A job a slot refused never ran: `wait` ends 65, as for a request
        cordond refused, not 64 (a usage error: nothing was sent)."""
        d = self.fake("rejected")
        p = self.cli(d, "wait", self.ID, timeout=60)  # a hang bound
        self.assertEqual(p.returncode, EX_REJECTED, p.stderr)
        self.assertIn("rejected", p.stdout + p.stderr)

    def test_state_that_is_not_a_state(self):
        """A job whose state is not one of cordond's: an error (70), not a
        loop waiting for "finished"."""
        d = self.fake("bad_state")
        for args in (["wait", self.ID], ["logs", "-f", self.ID]):
            p = self.cli(d, *args, timeout=60)  # a hang bound
            self.one_line_error(p, args[0], 70, "no valid state")


    def test_logs_end_at_the_count_the_result_reports(self):
        """A finished job's stream ends at the byte count its result
        reports (4 here): a stream that goes on after them (a byte a second,
        forever) is not waited for, and one that has more is refused."""
        d = self.fake("drip")
        for args in (["logs", self.ID], ["logs", "-f", self.ID]):
            p = self.cli(d, *args, timeout=60)  # a hang bound: it never ends otherwise
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "abcd", ""), args)
        d = self.fake("overlong", name="overlong")
        p = self.cli(d, "logs", self.ID, timeout=60)
        self.one_line_error(p, "logs", 70, "more than the 4 bytes the job's result reports")
        self.assertEqual(p.stdout, "")
        # Nothing written, the stream held open: nothing is asked for.
        d = self.fake("silent", name="silent")
        for args in (["logs", self.ID], ["logs", "-f", self.ID]):
            p = self.cli(d, *args, timeout=60)
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""), args)

    def test_upload_waits_for_the_go_ahead(self):
        """A submission's body waits for cordond's 100 Continue: cordond
        answers what it turns away on the headers (429, 503, 413) and closes
        with the rest unread, and a body sent into that close could end in a
        reset before the answer was read ("lost the connection", exit 69).
        The fake watches for body bytes before its 429; then the CLI sends
        the upload again, whole."""
        d = self.fake("turn_away")
        data = os.path.join(self.tmp, "data.csv")
        with open(data, "wb") as f:
            f.write(b"x" * 4096)  # libcurl asks on its own only over 1 MiB
        p = self.cli(d, "submit", "--profile", "default", "--entry", "data.csv", data)
        self.assertEqual((p.returncode, p.stdout), (0, self.ID + "\n"), p.stderr)
        self.assertEqual(self.requests(d), ["POST /v1/jobs turned away", "POST /v1/jobs"])
        with open(os.path.join(d, "capture.bin"), "rb") as f:
            self.assertEqual(f.read().count(b"x" * 4096), 1)  # sent whole, once

    def test_repository_paths_from_an_older_cordond(self):
        """A cordond older than the bad_name rules took a job's repository
        directories and a bare repository's HEAD (db/: HEAD, objects,
        refs): the CLI refuses each such path itself (76, any case, any
        depth, a plain .git file too), by name as well, and fetches the
        rest (a HEAD with no objects and refs beside it too); nothing of
        them is asked for."""
        d = self.fake("repository")
        out = os.path.join(self.tmp, "out")
        p = self.cli(d, "artifacts", self.ID, "-o", out)
        self.assertEqual(p.returncode, EX_VERIFY, p.stderr)
        self.assertEqual(p.stderr.count("a repository in the path (.git, .hg, .jj, ..., a bare "
                                        "repository's HEAD)"), 7, p.stderr)
        found = sorted(os.path.relpath(os.path.join(r, f), out)
                       for r, _, files in os.walk(out) for f in files)
        fetched = ["db/config", "db/objects/k", "db/refs/k", "ok.txt", "plain/HEAD"]
        self.assertEqual(found, fetched)
        for name in (".git/config", "db/HEAD"):
            one = os.path.join(self.tmp, "one")
            p = self.cli(d, "artifacts", self.ID, name, "-o", one)
            self.one_line_error(p, "artifacts", EX_VERIFY, "a repository in the path (.git, .hg")
            self.assertFalse(os.path.lexists(one))
        asked = sorted(r.split("/artifacts/")[1] for r in self.requests(d) if "/artifacts/" in r)
        self.assertEqual(asked, fetched)

    def test_artifact_larger_than_the_free_space(self):
        """A manifest size that cannot fit (2^62 bytes) is refused before a
        byte is fetched: a broken server fills no disk."""
        d = self.fake("huge")
        out = os.path.join(self.tmp, "out")
        p = self.cli(d, "artifacts", self.ID, "-o", out)
        self.assertEqual(p.returncode, EX_IO, p.stderr)
        self.assertIn("artifact big.bin: 4.0 EiB does not fit in %s (" % out, p.stderr)
        self.assertEqual(os.listdir(out), [])
        p = self.cli(d, "artifacts", self.ID, "big.bin", "-o", os.path.join(self.tmp, "one"))
        self.one_line_error(p, "artifacts", EX_IO, "-o: 4.0 EiB does not fit")
        self.assertFalse(os.path.lexists(os.path.join(self.tmp, "one")))
        self.assertNotIn("GET /v1/jobs/%s/artifacts/big.bin" % self.ID, self.requests(d))

    def test_no_unverified_file_under_its_name(self):
        """While an artifact arrives, nothing is seen under its name: it is
        written unnamed (O_TMPFILE) and linked once its SHA-256 matched.
        Where the file system has no O_TMPFILE (forced here by the
        cli_tmpfile fault), under a hidden name that is not its own."""
        d = self.fake("held")
        for n, (args, env) in enumerate(((["-o", "dir"], {}), (["a.txt", "-o", "one.txt"], {}),
                                         (["-o", "fdir"], {"CORDON_FAULT": "cli_tmpfile"}))):
            e = dict(os.environ, CORDON_SOCKET=os.path.join(d, "s.sock"), **env)
            proc = subprocess.Popen([CORDON, "artifacts", self.ID] + args, cwd=self.tmp, env=e,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.monotonic() + HANG_S
                while self.requests(d).count("held") <= n:
                    if proc.poll() is not None:
                        self.fail("cordon %s ended early: %s" % (args, proc.stderr.read()))
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)  # a hang bound
                # Half of it has arrived; the rest waits for the release.
                target = os.path.join(self.tmp, args[-1])
                if args[0] == "-o":
                    seen = os.listdir(target)
                    self.assertEqual(len(seen), 1 if env else 0, seen)
                    self.assertTrue(all(x.startswith(".cordon-") for x in seen), seen)
                else:
                    self.assertFalse(os.path.lexists(target))
                open(os.path.join(d, "release"), "w").close()
                out, err = proc.communicate(timeout=HANG_S)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            os.unlink(os.path.join(d, "release"))
            self.assertEqual(proc.returncode, 0, err)
            path = os.path.join(target, "a.txt") if args[0] == "-o" else target
            with open(path) as f:
                self.assertEqual(f.read(), "verified")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            if args[0] == "-o":
                self.assertEqual(os.listdir(target), ["a.txt"])  # no temporary left


    def test_artifacts_list_the_types_that_refused_a_file(self):
        """A file refused for its type is listed with its head's type, and
        with its tail's when the tail refused it (a CSV that ends as an
        executable); the list showed neither, only the reason. Types are
        shown only as printable tokens. A name cordond escaped is shown as
        it wrote it, not escaped twice."""
        d = self.fake("refusals")
        p = self.cli(d, "artifacts", self.ID)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        rows = {line.split()[0]: line for line in p.stdout.splitlines()[1:]}
        self.assertRegex(rows["a.txt"], r"^a\.txt +8 B +text/plain +[0-9a-f]{16}$")
        self.assertRegex(rows["link"], r"^link +- +refused: symlink +-$")
        self.assertRegex(rows["run.bin"], r"^run\.bin +- +refused: type_not_allowed "
                         r"\(application/x-executable\) +-$")
        self.assertRegex(rows["data.csv"], r"^data\.csv +- +refused: type_not_allowed "
                         r"\(text/csv, tail application/x-executable\) +-$")
        self.assertRegex(rows["odd.csv"], r"^odd\.csv +- +refused: type_not_allowed "
                         r"\(text/csv, tail \?\) +-$")
        # cordond's escape shown as it wrote it (was "bad\x5cxffutf").
        self.assertRegex(rows["bad\\xffutf"], r"^bad\\xffutf +- +refused: bad_name +-$")
        self.assertNotIn("\x1b", p.stdout)
        arts = json.loads(self.cli(d, "artifacts", self.ID, "--json").stdout)["artifacts"]
        self.assertEqual(arts[3]["tail_type"], "application/x-executable")

    def test_answers_of_the_wrong_shape(self):
        """A list whose "jobs" is not an array says so (it exited 70 without
        a word); a job id over 64 digits is not taken (a poll's path cut
        it, and its "?wait=", short)."""
        d = self.fake("no_jobs")
        self.one_line_error(self.cli(d, "list"), "list", 70, "no list of jobs")
        d = self.fake("long_id", name="long")
        entry = os.path.join(self.tmp, "s.sh")
        with open(entry, "w") as f:
            f.write("true\n")
        for wait in ([], ["--wait"]):
            p = self.cli(d, "submit", "--profile", "default", "--entry", "s.sh", entry, *wait)
            self.one_line_error(p, "submit", 70, "no valid job id")
            self.assertEqual(p.stdout, "")
        self.assertEqual(self.requests(d), ["POST /v1/jobs", "POST /v1/jobs"])


class OwnDaemonTest(unittest.TestCase):
    """A cordond of the test's own, configured by NAME and CONFIG, and an
    entry file holding ENTRY_TEXT."""
    NAME = ""
    CONFIG: dict = {}
    ENTRY_TEXT = ""

    def setUp(self):
        self.daemon = Daemon(self.NAME, **self.CONFIG)
        self.work = tempfile.mkdtemp(prefix="cordon-cli-%s-" % self.NAME)
        self.entry = os.path.join(self.work, "s.sh")
        with open(self.entry, "w") as f:
            f.write(self.ENTRY_TEXT)

    def tearDown(self):
        self.daemon.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def cli(self, *args):
        env = dict(os.environ, CORDON_SOCKET=self.daemon.socket)
        return subprocess.run([CORDON] + list(args), capture_output=True, text=True, env=env,
                              timeout=HANG_S)


class RateTest(OwnDaemonTest):
    """429 rate_limited: cordond turned the request away unread, so the CLI
    sends it again after Retry-After, for up to 10 s, then reports it."""
    NAME = "rate"
    CONFIG = {"rate_per_second": 1}
    ENTRY_TEXT = "echo waited\n"

    def test_waits_out_the_rate_limit(self):
        time.sleep(2.2)  # the bucket (burst 2) refills after the start's checks
        t0 = time.monotonic()
        runs = [self.cli("health", "--json") for _ in range(4)]
        self.assertEqual([p.returncode for p in runs], [0, 0, 0, 0],
                         [p.stderr for p in runs])
        self.assertGreater(time.monotonic() - t0, 1.0)  # it waited for a token
        # A submission (a multipart upload) is sent again whole.
        time.sleep(2.2)
        self.assertEqual(self.cli("health").returncode, 0)
        self.assertEqual(self.cli("health").returncode, 0)
        p = self.cli("submit", "--profile", "default", "--entry", "s.sh", "--wait",
                     self.entry)
        self.assertEqual(p.returncode, 0, p.stderr)
        job = p.stdout.split()[0]
        p = self.cli("logs", job)
        self.assertEqual((p.returncode, p.stdout), (0, "waited\n"), p.stderr)


class BusyTest(OwnDaemonTest):
    """429: a cordond with one slot and room for one queued job."""
    NAME = "busy"
    CONFIG = {"slots": 1, "max_queued": 1, "max_input": 4096}
    ENTRY_TEXT = "sleep 60"

    def submit(self):
        return self.cli("submit", "--profile", "default", "--entry", "s.sh", self.entry)

    def test_queue_full(self):
        running = self.submit().stdout.strip()
        deadline = time.monotonic() + HANG_S
        while json.loads(self.cli("status", running, "--json").stdout)["state"] != "running":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)  # a hang bound: the slot takes it when it takes it
        p = self.submit()
        self.assertEqual(p.returncode, 0, p.stderr)
        queued = p.stdout.strip()
        p = self.cli("status", queued)
        self.assertRegex(p.stdout, r"(?m)^state +queued, position 1$")
        p = self.cli("list")
        self.assertIn("queued #1", p.stdout)
        status, out = pty_run(self.daemon.socket, self.work, ["wait", queued],
                              until="position 1 in the queue",
                              then=lambda proc: proc.send_signal(signal.SIGINT))
        self.assertEqual(status, 130, out)
        self.assertIn("\x1b[2mqueued\x1b[0m, position 1 in the queue, ", out)
        # State, place in the queue, then the time so far.
        self.assertRegex(out, r"job %s \x1b\[2mqueued\x1b\[0m, position 1 in the queue, "
                              r"\d+(\.\d)? m?s" % queued[:12])

        p = self.submit()
        self.assertEqual(p.returncode, EX_BUSY, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertRegex(p.stderr, r"^cordon submit: .*\(queue_full; retry in \d+ s\)$")
        self.assertEqual(p.stdout, "")
        p = self.cli("health")
        self.assertIn("queue    1 of at most 1", p.stdout)
        self.assertEqual(self.cli("cancel", queued, running).returncode, 0)

    def test_input_too_large_is_refused_early(self):
        """cordond answers 413 while the upload is still being sent."""
        big = os.path.join(self.work, "big.bin")
        with open(big, "wb") as f:
            f.truncate(64 << 20)
        p = self.cli("submit", "--profile", "default", "--entry", "s.sh", self.entry, big)
        self.assertEqual(p.returncode, EX_REJECTED, p.stderr)
        self.assertEqual(p.stderr, "cordon submit: input 2: over 4096 bytes (input_too_large)\n")
        self.assertEqual(json.loads(self.cli("list", "--json").stdout)["jobs"], [])


class AuditVerifyTest(unittest.TestCase):
    """cordon audit verify on logs built here (docs/audit.md): a command on
    this host's files, no cordond."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cordon-cli-audit-")
        self.log = os.path.join(self.dir, "audit")  # what --state-dir self.dir names
        os.mkdir(self.log, 0o700)
        self.live = os.path.join(self.log, "audit.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def chain(self, n):
        """A valid chain of @n records in self.live (and an audit.lock);
        returns the anchor of its last record, "SEQ:HASH"."""
        prev, lines = "0" * 64, []
        for seq in range(1, n + 1):
            line = json.dumps({"seq": seq, "time": "2025-05-01T12:00:00.123Z",
                               "event": "job.started", "actor": {"uid": 0, "role": "admin"},
                               "job": "j%d" % seq, "profile": "host", "verdict": None,
                               "details": {"host_uid": 1000}, "prev": prev},
                              separators=(",", ":"))
            lines.append(line + "\n")
            prev = hashlib.sha256(line.encode()).hexdigest()
        with open(self.live, "w") as f:
            f.write("".join(lines))
        open(os.path.join(self.log, "audit.lock"), "w").close()
        for name in ("audit.jsonl", "audit.lock"):  # as cordon makes them, whatever the umask
            os.chmod(os.path.join(self.log, name), 0o600)
        return "%d:%s" % (n, prev)

    def line_hash(self, seq):
        with open(self.live, "rb") as f:
            return hashlib.sha256(f.read().split(b"\n")[seq - 1]).hexdigest()

    def verify(self, *args, timeout=HANG_S, **kw):
        return subprocess.run([CORDON, "audit", "verify"] + list(args), capture_output=True,
                              text=True, timeout=timeout, cwd=self.dir, **kw)

    def test_options_before_or_after_the_path(self):
        """The synopsis, FILE|DIR then options, is how it parses; "--" still
        ends the options."""
        anchor = self.chain(3)
        for args in ((self.log, "--json"), ("--json", self.log),
                     (self.live, "--anchor", anchor, "--json"),
                     ("--state-dir", self.dir, "--json"), ("--json", "--state-dir", self.dir),
                     (self.log, "--allow-pruned", "--json")):
            p = self.verify(*args)
            self.assertEqual(p.returncode, 0, (args, p.stderr))
            self.assertEqual(json.loads(p.stdout)["last_seq"], 3, args)
        p = self.verify(self.log, "--anchor", "3:" + "0" * 64)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("does not match the anchor", p.stdout)
        shutil.copy(self.live, os.path.join(self.dir, "-x.jsonl"))
        p = self.verify("--", "-x.jsonl")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("ok: 3 records"), p.stdout)
        self.assertEqual(self.verify("-x.jsonl").returncode, EX_USAGE)
        p = self.verify(self.log, "--json", self.live)
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertEqual(p.stderr, "cordon audit verify: expected at most one FILE or DIR\n")

    def test_long_line_is_named_not_buffered(self):
        """A line of 1 GiB (a sparse file, no newline): named as too long
        (1), and read without holding it, by verify's peak resident memory
        (an address-space limit would stop a sanitizer build, which reserves
        terabytes for its shadow). getline() held the whole line."""
        huge = os.path.join(self.dir, "huge.jsonl")
        with open(huge, "wb") as f:
            f.truncate(1 << 30)
        os.chmod(huge, 0o600)  # verify refuses a log file others may write
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: verify, its output on the pipe
            try:
                os.dup2(w, 1)
                os.dup2(w, 2)
                os.chdir(self.dir)
                os.execv(CORDON, [CORDON, "audit", "verify", huge])
            finally:
                os._exit(127)
        os.close(w)
        out = b""
        with os.fdopen(r, "rb") as f:
            while select.select([f], [], [], HANG_S)[0]:
                chunk = f.read1(65536)
                if not chunk:
                    break
                out += chunk
            else:
                os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 1, out)
        self.assertEqual(out, b"broken: line 1 of huge.jsonl is longer than 65536 bytes\n")
        self.assertLess(usage.ru_maxrss, 256 << 10, "verify's peak RSS, KiB")  # the line: 1 GiB

    def test_fifo_is_refused_not_waited_on(self):
        """A FIFO as audit.jsonl, or as FILE: exit 2 at once. verify used to
        wait for a writer forever, in DIR mode holding the shared lock on
        audit.lock that every append needs."""
        self.chain(2)
        os.unlink(self.live)
        os.mkfifo(self.live, 0o600)
        p = self.verify(self.log, timeout=30)  # a hang bound
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr, "cordon audit verify: audit: %s/audit.jsonl is not a "
                                   "regular file\n" % self.log)
        p = self.verify(self.live, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("audit.jsonl is not a file or directory", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_log_others_may_write_is_refused(self):
        """The log is evidence: verify reads a directory or a log file only
        as cordon's writers take it, root's or the caller's and not
        writable by group or others, and otherwise exits 2 naming it. It
        used to verify them as they were. A FILE is judged alone (it may be
        a copy anywhere)."""
        self.chain(2)
        for path, name in ((self.log, self.log), (self.live, "audit.jsonl")):
            os.chown(path, SUB_UID, -1)
            for arg in (self.log, path):
                p = self.verify(arg)
                self.assertEqual((p.returncode, p.stdout), (2, ""), (path, arg, p.stderr))
                self.assertIn("%s is owned by uid %d, not by root or the caller" % (name, SUB_UID),
                              p.stderr)
            os.chown(path, 0, -1)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o020)
            p = self.verify(self.log)
            self.assertEqual((p.returncode, p.stdout), (2, ""), (path, p.stderr))
            self.assertEqual(p.stderr, "cordon audit verify: audit: %s is writable by group or "
                             "others\n" % (path if path == self.log else self.live))
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o020)
        self.assertEqual(self.verify(self.log).returncode, 0)
        # A copy of the log, verified as the user who made it.
        os.chmod(self.dir, 0o711)
        for path in (self.log, self.live, os.path.join(self.log, "audit.lock")):
            os.chown(path, SUB_UID, -1)
        p = self.verify(self.log, user=SUB_UID, group=GID, extra_groups=[])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("ok: 2 records"), p.stdout)

    def test_output_says_whether_the_end_is_anchored(self):
        """Without --anchor an intact chain cannot show a removed or edited
        end, and the output says so, for an empty log too. In --json,
        "anchored" (kept) is "genesis", the chain starting at seq 1;
        "anchor_seq" is the --anchor record checked, null without one."""
        note = "note: without --anchor, a removed or edited end of the log cannot be detected\n"
        anchor = self.chain(3)
        head = anchor.split(":")[1]
        p = self.verify(self.log)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertEqual(p.stdout, "ok: 3 records, seq 1..3, last hash %s\nanchor: %s\n%s"
                         % (head, anchor, note))
        p = self.verify("--anchor", anchor, self.log)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertEqual(p.stdout, "ok: 3 records, seq 1..3, last hash %s\nanchor: %s\n"
                         % (head, anchor))
        rep = json.loads(self.verify("--json", self.log).stdout)
        self.assertEqual((rep["ok"], rep["genesis"], rep["anchored"], rep["anchor_seq"]),
                         (True, True, True, None), rep)
        rep = json.loads(self.verify("--json", "--anchor", "2:" + self.line_hash(2),
                                     self.log).stdout)
        self.assertEqual((rep["ok"], rep["anchor_seq"], rep["last_seq"]), (True, 2, 3), rep)

        open(self.live, "w").close()
        p = self.verify(self.log)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertEqual(p.stdout, "ok: 0 records: the log is empty\n" + note)
        rep = json.loads(self.verify("--json", self.log).stdout)
        self.assertEqual((rep["ok"], rep["records"], rep["genesis"], rep["anchor_seq"]),
                         (True, 0, False, None), rep)
        self.assertEqual(self.verify("--anchor", anchor, self.log).returncode, 1)


def stage_for_other_users():
    """The CLI and the fake cordond run as uids other than root, which may
    not reach the build tree (a clone under /root, mode 0700, on a fresh
    machine). Both are copied into a directory anyone may search, and the
    tests run the copies. Returns the directory, for main() to remove."""
    global CORDON, FAKE_CORDOND
    stage = tempfile.mkdtemp(prefix="cordon-test-cli-bin-")
    os.chmod(stage, 0o755)
    for src in (CORDON, FAKE_CORDOND):
        dst = os.path.join(stage, os.path.basename(src))
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o755)
    CORDON = os.path.join(stage, os.path.basename(CORDON))
    FAKE_CORDOND = os.path.join(stage, "fake_cordond.py")
    return stage


def main():
    if os.geteuid() != 0:
        print("SKIP: cordond needs root")
        return 77
    for name, value in (("CORDON_BIN", CORDON), ("CORDOND_BIN", CORDOND),
                        ("CORDON_PROFILES", PROFILES)):
        if not value:
            print("SKIP: %s is not set" % name)
            return 77
    stage = stage_for_other_users()
    try:
        result = unittest.main(argv=[sys.argv[0]] + sys.argv[1:], exit=False, verbosity=2).result
    finally:
        left = remove_cgroups()
        shutil.rmtree(stage, ignore_errors=True)
    if left:
        print("leftover cgroups:", left)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
