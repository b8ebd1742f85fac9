#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cordond's lifecycle against a real binary: configuration refused at start,
defaults and file modes, the socket (a second instance, a stale socket,
something else at its path, socket activation), SIGHUP, SIGTERM with
running and queued jobs, retention, and the process's own isolation.

Run as root: CORDOND_BIN=build/cordond CORDON_PROFILES=profiles
/usr/bin/python3 tests/daemon/test_lifecycle.py [-v] [TestClass.test_name]

Exits 77 (skipped) with a printed reason when not root or when cordond is
missing. Every test has its own temporary state directory, socket and a
configuration whose cgroup parent is cordon-test-lc-<pid>; tearDown stops
every cordond the test started (SIGTERM, then SIGKILL) and removes that
cgroup parent under every hierarchy, failing if anything was left in it.
"""

import ctypes
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

from cordon_client import CordonClient, CordonError, UnixHTTPConnection  # noqa: E402

CORDOND = os.environ.get("CORDOND_BIN", "")
PROFILES = os.environ.get("CORDON_PROFILES", os.path.join(ROOT, "profiles"))
CG_PARENT = f"cordon-test-lc-{os.getpid()}"
CG_ROOT = "/sys/fs/cgroup"
# Host uids of our own, away from the default range (0x70000000 + 1024) that
# `cordon run`, the integration tests and test_api.py lease from: a process
# with one of these uids can only be one of our jobs.
UID_BASE = 0x70000000 + 0x10000
UID_COUNT = 64
EX_CONFIG = 64


def cgroup_dirs():
    """Where our parent would be: every v1 hierarchy, the hybrid's unified
    tree, or the v2 root."""
    out = []
    if os.path.exists(os.path.join(CG_ROOT, "cgroup.controllers")):
        return [os.path.join(CG_ROOT, CG_PARENT)]  # pure v2
    seen = set()
    for name in sorted(os.listdir(CG_ROOT)):
        base = os.path.join(CG_ROOT, name)
        if os.path.islink(base) or not os.path.isdir(base):
            continue
        real = os.path.realpath(base)
        if real in seen:
            continue
        seen.add(real)
        out.append(os.path.join(base, CG_PARENT))
    return out


def procs_in(cg):
    pids = []
    for dirpath, _dirs, files in os.walk(cg):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    return pids


def remove_cgroup_tree(cg):
    """rmdir leaf directories first. Returns the pids that had to be killed."""
    killed = []
    deadline = time.monotonic() + 10
    while os.path.isdir(cg):
        busy = False
        for dirpath, _dirs, _files in os.walk(cg, topdown=False):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError:
                busy = True
        if not busy and not os.path.isdir(cg):
            break
        if time.monotonic() > deadline:
            pids = procs_in(cg)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed += pids
            if time.monotonic() > deadline + 5:
                break
        time.sleep(0.1)
    return killed


def uid_processes(uid):
    """Pids whose real, effective, saved or fs uid is @uid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:]:
                            out.append(int(name))
                        break
        except OSError:
            pass
    return out


def multipart(job, inputs):
    """(content type, body) of a job request, for raw connections."""
    boundary = "lc" + uuid.uuid4().hex
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="job"\r\n'
              "Content-Type: application/json\r\n\r\n").encode() + json.dumps(job).encode()
             + b"\r\n"]
    for name, data in inputs.items():
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                      f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n')
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


class Daemon:
    """One cordond process: a Popen, or a pid we forked ourselves."""

    def __init__(self, name, log_path, popen=None, pid=None):
        self.name = name
        self.log_path = log_path
        self.popen = popen
        self.pid = popen.pid if popen else pid
        self.returncode = None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        if self.popen:
            self.returncode = self.popen.poll()
            return self.returncode
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return self.returncode

    def signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class LifecycleTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cordon-lc-")
        self.sock = os.path.join(self.tmp, "cordond.sock")
        self.state = os.path.join(self.tmp, "state")
        self.config_path = os.path.join(self.tmp, "cordond.json")
        self.daemons = []
        self.cg_before = {d: os.path.isdir(d) for d in cgroup_dirs()}

    def tearDown(self):
        problems = []
        for d in self.daemons:
            if d.poll() is None:
                d.signal(signal.SIGTERM)
                if d.wait(40) is None:
                    problems.append(f"{d.name} (pid {d.pid}) ignored SIGTERM for 40 s")
                    d.signal(signal.SIGKILL)
                    d.wait(10)
            if d.popen:
                d.popen.wait()
        for d in self.daemons:
            text = d.log()
            if text:
                tail = "\n".join(text.splitlines()[-40:])
                print(f"--- {self.id()}: {d.name} (pid {d.pid}, exit {d.returncode})\n{tail}",
                      file=sys.stderr)
        for cg in cgroup_dirs():
            killed = remove_cgroup_tree(cg)
            if killed:
                problems.append(f"processes left in {cg}: {killed}")
            if os.path.isdir(cg):
                problems.append(f"cannot remove {cg}")
        # A test that started cordond without a configuration used the default
        # parent; remove it only when it was not there before.
        for cg, existed in getattr(self, "cg_default_before", {}).items():
            if not existed and os.path.isdir(cg):
                remove_cgroup_tree(cg)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(problems, [])

    # -- helpers ------------------------------------------------------

    def write_config(self, **keys):
        cfg = {"cgroup": {"parent": CG_PARENT}, "uid_base": UID_BASE, "uid_count": UID_COUNT}
        cfg.update(keys)
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        return self.config_path

    def argv(self, config=True, sock=None, state=None, profiles=None):
        args = [CORDOND]
        if config:
            args += ["--config", self.config_path if config is True else config]
        args += ["--socket", sock or self.sock, "--state-dir", state or self.state,
                 "--profiles-dir", profiles or PROFILES]
        return args

    def spawn(self, args, name="cordond"):
        log = os.path.join(self.tmp, f"{name}-{len(self.daemons)}.log")
        with open(log, "wb") as f:
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        d = Daemon(name, log, popen=p)
        self.daemons.append(d)
        return d

    def start(self, config=True, sock=None, state=None, profiles=None, name="cordond"):
        """Start cordond and wait until /v1/health answers."""
        d = self.spawn(self.argv(config, sock, state, profiles), name)
        self.wait_ready(d, sock or self.sock)
        return d

    def wait_ready(self, d, sock, timeout=20):
        client = CordonClient(sock, timeout=5)
        deadline = time.monotonic() + timeout
        while True:
            if d.poll() is not None:
                self.fail(f"{d.name} exited with {d.returncode} before it was ready:\n{d.log()}")
            try:
                if client.health()["status"] == "ok":
                    return client
            except CordonError:
                pass
            if time.monotonic() > deadline:
                self.fail(f"{d.name} not ready after {timeout} s:\n{d.log()}")
            time.sleep(0.05)

    def stop(self, d, timeout=30, expect=0):
        d.signal(signal.SIGTERM)
        rc = d.wait(timeout)
        self.assertIsNotNone(rc, f"{d.name} still running {timeout} s after SIGTERM:\n{d.log()}")
        self.assertEqual(rc, expect, d.log())
        return rc

    def client(self, sock=None):
        return CordonClient(sock or self.sock, timeout=30)

    def submit_sh(self, client, script, **kw):
        return client.submit("default", entry="job.sh", inputs={"job.sh": script.encode()},
                             **kw)["id"]

    def wait_state(self, client, job_id, state, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            job = client.job(job_id)
            if job["state"] == state or (state == "running" and job["state"] == "finished"):
                return job
            if time.monotonic() > deadline:
                self.fail(f"job {job_id} is {job['state']}, not {state}, after {timeout} s")
            time.sleep(0.05)

    def wait_finished(self, client, job_id, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            job = client.job(job_id, wait=min(10, max(1, int(deadline - time.monotonic()))))
            if job["state"] == "finished":
                return job
            if time.monotonic() > deadline:
                self.fail(f"job {job_id} not finished after {timeout} s: {job}")

    def audit(self, state=None):
        path = os.path.join(state or self.state, "audit", "audit.jsonl")
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def events(self, event, state=None, job=None):
        return [r for r in self.audit(state)
                if r["event"] == event and (job is None or r.get("job") == job)]

    def wait_for(self, what, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.05)


# ---------------------------------------------------------------------------


class TestConfigRefused(LifecycleTest):
    """1. A configuration cordond cannot use is refused before anything is
    created, with exit status 64 and the key or the file named."""

    def run_refused(self, args, must_name):
        t0 = time.monotonic()
        try:
            r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("cordond did not exit within 15 s on a bad configuration")
        elapsed = time.monotonic() - t0
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, EX_CONFIG, err)
        self.assertLess(elapsed, 5, "refusing a configuration took too long")
        for s in must_name:
            self.assertIn(s, err)
        self.assertFalse(os.path.lexists(self.sock), "a socket was created")
        self.assertFalse(os.path.lexists(self.state), "the state directory was created")
        self.assertEqual(r.stdout, b"")

    def test_bad_keys_and_values(self):
        cases = [
            ({"bogus": 1}, ['unknown key "bogus"']),
            ({"max_body": "12Q"}, ["max_body"]),
            ({"max_body": 1}, ["max_body", "out of range"]),
            ({"socket_mode": "0666"}, ["socket_mode"]),
            ({"socket_mode": 432}, ["socket_mode"]),
            ({"slots": 0}, ["slots"]),
            ({"slots": -1}, ["slots"]),
            ({"slots": "two"}, ["slots"]),
            ({"shutdown_grace": "soon"}, ["shutdown_grace"]),
            ({"retention": "0s"}, ["retention"]),
            ({"socket": "relative.sock"}, ["socket"]),
            ({"state_dir": "/var/lib/../lib/cordon"}, ["state_dir"]),
            ({"cgroup": {"parnet": "x"}}, ["cgroup"]),
            ({"cgroup": {"parent": "../escape"}}, ["cgroup.parent"]),
            ({"cgroup": {"mode": "v3"}}, ["cgroup.mode"]),
            ({"admins": {"uids": ["root"]}}, ["admins"]),
            ({"socket_group": "no-such-group-cordon-lc"}, ["socket_group"]),
        ]
        for keys, must in cases:
            with self.subTest(config=keys):
                path = self.write_config(**keys)
                self.run_refused(self.argv(), must + [path])

    def write_raw(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)
        return self.config_path

    def test_not_json(self):
        cases = [
            ('{"slots": 1,', ["line"]),
            ('{"slots": 1, "slots": 2}', ["slots"]),  # duplicate key
            ("[]", ["expected an object"]),
            ("", []),
        ]
        for text, must in cases:
            with self.subTest(text=text):
                path = self.write_raw(text)
                self.run_refused(self.argv(), must + [path])

    def test_config_path_symlink(self):
        real = self.write_config(slots=1)
        link = os.path.join(self.tmp, "link.json")
        os.symlink(real, link)
        self.run_refused(self.argv(config=link), [link])

    def test_config_path_not_regular(self):
        d = os.path.join(self.tmp, "dir.json")
        os.mkdir(d)
        self.run_refused(self.argv(config=d), [d, "not a regular file"])
        fifo = os.path.join(self.tmp, "fifo.json")
        os.mkfifo(fifo)
        self.run_refused(self.argv(config=fifo), [fifo])  # and does not block on it

    def test_config_others_may_change(self):
        """cordond.json decides the profiles directory and who may do what:
        one that someone other than root may write, or that is in a
        directory they may write, is refused, naming the path. Both were
        taken."""
        path = self.write_config(slots=1)
        must = "must be owned by root and not writable by group or others"
        os.chmod(path, 0o664)
        self.run_refused(self.argv(), [f"config: {path} {must}"])
        os.chmod(path, 0o644)
        os.chown(path, 65534, 65534)
        self.run_refused(self.argv(), [f"config: {path} {must}"])
        os.chown(path, 0, 0)
        os.chmod(self.tmp, 0o770)
        try:
            self.run_refused(self.argv(), [f"config: {self.tmp} {must}"])
        finally:
            os.chmod(self.tmp, 0o700)

    def test_config_path_missing(self):
        # An explicit --config must exist; only the default path is optional.
        missing = os.path.join(self.tmp, "missing.json")
        self.run_refused(self.argv(config=missing), [missing])

    def test_bad_arguments(self):
        self.run_refused([CORDOND, "--log-level", "loud", "--socket", self.sock], ["--log-level"])
        self.run_refused([CORDOND, "extra", "--socket", self.sock], ["unexpected argument"])

    def test_empty_path_flag(self):
        self.write_config(slots=1)
        self.run_refused(self.argv() + ["--state-dir", ""], ["--state-dir"])

    def test_no_config_file(self):
        if os.path.exists("/etc/cordon/cordond.json"):
            self.skipTest("/etc/cordon/cordond.json exists: cordond would read it without "
                          "--config")
        # Without a file the cgroup parent is the default "cordon".
        self.cg_default_before = {os.path.join(os.path.dirname(d), "cordon"):
                                  os.path.isdir(os.path.join(os.path.dirname(d), "cordon"))
                                  for d in cgroup_dirs()}
        self.assertFalse(os.path.exists(self.state))
        d = self.start(config=False)
        c = self.client()
        h = c.health()
        self.assertEqual(h["status"], "ok")
        self.assertIn(h["cgroup_mode"], ("v1", "v2"))
        self.assertEqual(h["slots"]["total"], os.cpu_count())
        self.assertEqual(h["queue"]["max"], 256)

        st = os.lstat(self.state)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        db = os.lstat(os.path.join(self.state, "jobs.db"))
        self.assertTrue(stat.S_ISREG(db.st_mode))
        self.assertEqual(stat.S_IMODE(db.st_mode), 0o600)
        for name in os.listdir(self.state):
            m = stat.S_IMODE(os.lstat(os.path.join(self.state, name)).st_mode)
            self.assertEqual(m & 0o077, 0, f"{name} is {oct(m)}")
        audit = os.lstat(os.path.join(self.state, "audit"))
        self.assertTrue(stat.S_ISDIR(audit.st_mode))
        self.assertEqual(stat.S_IMODE(audit.st_mode) & 0o077, 0)
        self.assertTrue(os.path.isfile(os.path.join(self.state, "audit", "audit.jsonl")))
        ev = [r["event"] for r in self.audit()]
        self.assertIn("config.loaded", ev)
        self.assertIn("profiles.loaded", ev)

        s = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(s.st_mode))
        self.assertEqual(stat.S_IMODE(s.st_mode), 0o660)
        self.assertEqual((s.st_uid, s.st_gid), (0, 0))

        self.stop(d)
        self.assertFalse(os.path.lexists(self.sock), "the socket was left after a clean stop")

    def test_socket_mode_and_group(self):
        self.write_config(socket_mode="0600", socket_group=0, slots=2)
        self.start()
        s = os.lstat(self.sock)
        self.assertEqual(stat.S_IMODE(s.st_mode), 0o600)
        self.assertEqual(self.client().health()["slots"]["total"], 2)

    def test_socket_parent_created(self):
        sock = os.path.join(self.tmp, "run", "cordon.sock")
        self.write_config()
        self.start(sock=sock)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) & 0o022, 0)
        self.assertTrue(stat.S_ISSOCK(os.lstat(sock).st_mode))


class TestSocketPath(LifecycleTest):
    """3. One cordond per socket; a stale socket is replaced; anything else
    at the path is refused and left alone."""

    def test_second_instance_refused(self):
        self.write_config(slots=1)
        a = self.start(name="first")
        c = self.client()
        ino = os.lstat(self.sock).st_ino
        b = self.spawn(self.argv(state=os.path.join(self.tmp, "state-b")), name="second")
        rc = b.wait(15)
        self.assertIsNotNone(rc, "the second cordond did not exit")
        self.assertNotEqual(rc, 0)
        self.assertIn("another cordond is listening", b.log())
        # The first one still owns its socket and serves.
        self.assertEqual(os.lstat(self.sock).st_ino, ino)
        self.assertEqual(c.health()["status"], "ok")
        self.assertIsNone(a.poll())

    def test_relative_path_flags(self):
        """Relative --socket, --state-dir and --profiles-dir are taken from
        the directory cordond starts in. A relative --state-dir was taken
        as it was, and every submission then failed with 400 ("input paths
        must be absolute")."""
        self.write_config(slots=1)
        os.makedirs(os.path.join(self.tmp, "prof"))
        shutil.copy(os.path.join(PROFILES, "default.json"), os.path.join(self.tmp, "prof"))
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            d = self.spawn([CORDOND, "--config", self.config_path, "--socket", "rel.sock",
                            "--state-dir", "./rel-state", "--profiles-dir", "prof"])
        finally:
            os.chdir(cwd)
        sock = os.path.join(self.tmp, "rel.sock")
        c = self.wait_ready(d, sock)
        job = self.wait_finished(c, self.submit_sh(c, "echo ran\n"))
        self.assertEqual(job["verdict"], "ok", job)
        self.assertEqual(c.stdout(job["id"])[0], b"ran\n")
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "rel-state", "audit")))
        self.stop(d)

    def test_second_instance_same_state_dir(self):
        """A second cordond started by mistake with the same configuration
        must not touch the first one's jobs: its running job is not failed as
        'supervisor_restart', its queued job runs once."""
        self.write_config(slots=1)
        a = self.start(name="first")
        c = self.client()
        running = self.submit_sh(c, "sleep 4\necho first\n")
        self.wait_state(c, running, "running")
        queued = self.submit_sh(c, "echo second\n")
        # The same socket too, or a socket of its own: refused either way,
        # before it touches the state.
        for name, sock in (("second", None), ("third", os.path.join(self.tmp, "third.sock"))):
            b = self.spawn(self.argv(sock=sock), name=name)
            rc = b.wait(60)
            self.assertIsNotNone(rc, f"the {name} cordond did not exit")
            self.assertNotEqual(rc, 0)
            self.assertIn(f"{self.state} is in use by another cordond (pid {a.pid})", b.log())
            self.assertIsNone(a.poll())
        self.assertFalse(os.path.lexists(os.path.join(self.tmp, "third.sock")))
        self.assertEqual(len(self.events("config.loaded")), 1)
        job = self.wait_finished(c, running)
        self.assertEqual((job["verdict"], job["reason"]), ("ok", None), job)
        job = self.wait_finished(c, queued)
        self.assertEqual(job["verdict"], "ok", job)
        self.assertEqual(c.stdout(queued)[0], b"second\n")
        self.assertEqual(len(self.events("job.started", job=queued)), 1,
                         "the queued job was started twice")
        self.assertEqual(len(self.events("job.finished", job=running)), 1)

    def test_stale_socket_replaced(self):
        # A socket bound and listened on by a process that was then killed.
        pid = os.fork()
        if pid == 0:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(self.sock)
                s.listen(1)
                time.sleep(60)
            finally:
                os._exit(0)
        self.wait_for("the stale socket", lambda: os.path.exists(self.sock))
        time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.chmod(self.sock, 0o640)
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode))
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self.assertRaises(ConnectionRefusedError):
            probe.connect(self.sock)
        probe.close()
        self.write_config()
        self.start()
        new = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(new.st_mode))
        # A new socket (the inode number may well be reused): cordond's mode.
        self.assertEqual(stat.S_IMODE(new.st_mode), 0o660)
        self.assertEqual(self.client().health()["status"], "ok")

    def test_not_a_socket_refused(self):
        self.write_config()
        target = os.path.join(self.tmp, "target")
        with open(target, "w") as f:
            f.write("keep me\n")
        for kind in ("file", "symlink", "dir"):
            with self.subTest(kind=kind):
                if kind == "file":
                    with open(self.sock, "w") as f:
                        f.write("not a socket\n")
                elif kind == "symlink":
                    os.symlink(target, self.sock)
                else:
                    os.mkdir(self.sock)
                d = self.spawn(self.argv(), name=f"over-{kind}")
                rc = d.wait(15)
                self.assertIsNotNone(rc, f"cordond did not exit over a {kind}")
                self.assertNotEqual(rc, 0)
                self.assertIn("exists and is not a socket", d.log())
                self.assertIn(self.sock, d.log())
                if kind == "file":
                    with open(self.sock) as f:
                        self.assertEqual(f.read(), "not a socket\n")
                    os.unlink(self.sock)
                elif kind == "symlink":
                    self.assertEqual(os.readlink(self.sock), target)
                    os.unlink(self.sock)
                else:
                    self.assertTrue(os.path.isdir(self.sock))
                    os.rmdir(self.sock)
                with open(target) as f:
                    self.assertEqual(f.read(), "keep me\n")


class TestSocketActivation(LifecycleTest):
    """4. sd_listen_fds(3): fd 3 when LISTEN_PID is cordond's own pid."""

    def activate(self, listen_pid_self, fds=1, name="activated"):
        """Fork; in the child put our listening socket(s) on fd 3 (and 4),
        set LISTEN_FDS and LISTEN_PID and exec cordond with --socket
        pointing at a path of its own."""
        own = os.path.join(self.tmp, "own.sock")
        listeners = []
        for i in range(fds):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.sock if i == 0 else f"{self.sock}.{i}")
            os.chmod(self.sock if i == 0 else f"{self.sock}.{i}", 0o666)
            s.listen(16)
            listeners.append(s)
        log = os.path.join(self.tmp, f"{name}.log")
        args = self.argv(sock=own)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                # Out of the way first: dup2(3, 3) would keep O_CLOEXEC.
                high = [os.dup(s.fileno()) for s in listeners]
                high = [fcntl.fcntl(h, fcntl.F_DUPFD_CLOEXEC, 100) for h in high]
                for i, h in enumerate(high):
                    os.dup2(h, 3 + i)  # inheritable
                    os.set_inheritable(3 + i, True)
                env = dict(os.environ)
                env["LISTEN_FDS"] = str(fds)
                env["LISTEN_PID"] = str(os.getpid() if listen_pid_self else parent)
                env["LISTEN_FDNAMES"] = "cordond.socket"
                os.execve(CORDOND, args, env)
            finally:
                os._exit(127)
        d = Daemon(name, log, pid=pid)
        self.daemons.append(d)
        return d, listeners, own

    def test_activated(self):
        self.write_config()
        d, listeners, own = self.activate(True)
        listeners[0].close()  # cordond holds its own copy, as under systemd
        c = self.wait_ready(d, self.sock)
        self.assertEqual(c.health()["status"], "ok")
        self.assertFalse(os.path.lexists(own), "cordond bound --socket under activation")
        # It neither re-permissions nor removes a socket it did not make.
        self.assertEqual(stat.S_IMODE(os.lstat(self.sock).st_mode), 0o666)
        self.stop(d)
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode),
                        "cordond removed the socket systemd made")

    def test_listen_pid_of_another_process(self):
        self.write_config()
        d, listeners, own = self.activate(False)
        c = self.wait_ready(d, own)
        self.assertEqual(c.health()["status"], "ok")
        # Nobody serves the activation socket: a request there gets no answer.
        conn = UnixHTTPConnection(self.sock, timeout=1.5)
        conn.request("GET", "/v1/health")
        with self.assertRaises(OSError):
            conn.getresponse()
        conn.close()
        self.stop(d)
        self.assertFalse(os.path.lexists(own), "cordond left the socket it bound")
        for s in listeners:
            s.close()

    def test_two_fds_refused(self):
        self.write_config()
        d, listeners, own = self.activate(True, fds=2)
        rc = d.wait(15)
        self.assertIsNotNone(rc, "cordond did not exit with two sockets")
        self.assertNotEqual(rc, 0)
        self.assertIn("expected one", d.log())
        self.assertFalse(os.path.lexists(own))
        for s in listeners:
            s.close()


class TestReload(LifecycleTest):
    """5. SIGHUP reloads the profiles; a set that does not load is refused whole."""

    def profile_names(self, c):
        return sorted(p["name"] for p in c.profiles())

    def test_sighup(self):
        prof = os.path.join(self.tmp, "profiles")
        shutil.copytree(PROFILES, prof)
        self.write_config(slots=1)
        d = self.start(profiles=prof)
        c = self.client()
        before = self.profile_names(c)
        self.assertIn("default", before)
        loaded = len(self.events("profiles.loaded"))
        self.assertEqual(loaded, 1)

        with open(os.path.join(PROFILES, "default.json")) as f:
            extra = json.load(f)
        extra["name"] = "lc-extra"
        extra["description"] = "added by test_lifecycle"
        extra["limits"]["default"]["wall"] = "30s"
        with open(os.path.join(prof, "lc-extra.json"), "w") as f:
            json.dump(extra, f)
        d.signal(signal.SIGHUP)
        self.wait_for("lc-extra in GET /v1/profiles",
                      lambda: "lc-extra" in self.profile_names(c))
        after = self.profile_names(c)
        self.assertEqual(after, sorted(before + ["lc-extra"]))
        recs = self.events("profiles.loaded")
        self.assertEqual(len(recs), loaded + 1)
        self.assertIn("lc-extra", recs[-1]["details"]["names"])
        self.assertEqual(recs[-1]["details"]["count"], len(after))
        self.assertIn("profiles reloaded", d.log())
        # The new profile is usable.
        job = c.submit("lc-extra", entry="job.sh", inputs={"job.sh": b"echo extra\n"})["id"]
        self.assertEqual(self.wait_finished(c, job)["verdict"], "ok")
        self.assertEqual(c.stdout(job)[0], b"extra\n")

        # A broken profile next to good ones: the whole new set is refused.
        broken = dict(extra, name="lc-broken", bogus_key=1)
        with open(os.path.join(prof, "lc-broken.json"), "w") as f:
            json.dump(broken, f)
        os.unlink(os.path.join(prof, "lc-extra.json"))  # would vanish if the set were taken
        log_before = d.log()
        d.signal(signal.SIGHUP)
        self.wait_for("the refusal in the log",
                      lambda: "profiles not reloaded" in d.log()[len(log_before):])
        new_log = d.log()[len(log_before):]
        self.assertIn("lc-broken", new_log)
        self.assertEqual(self.profile_names(c), after)
        self.assertEqual(len(self.events("profiles.loaded")), loaded + 1)
        self.assertEqual(c.health()["status"], "ok")
        job = c.submit("lc-extra", entry="job.sh", inputs={"job.sh": b"echo still\n"})["id"]
        self.assertEqual(self.wait_finished(c, job)["verdict"], "ok")
        with self.assertRaises(CordonError) as cm:
            c.submit("lc-broken", entry="job.sh", inputs={"job.sh": b"true\n"})
        self.assertEqual(cm.exception.code, "unknown_profile")

        # Fixed: the next SIGHUP takes the new set.
        os.unlink(os.path.join(prof, "lc-broken.json"))
        d.signal(signal.SIGHUP)
        self.wait_for("lc-extra gone", lambda: "lc-extra" not in self.profile_names(c))
        self.assertEqual(self.profile_names(c), before)
        self.assertEqual(len(self.events("profiles.loaded")), loaded + 2)
        self.assertIsNone(d.poll())


    def test_broken_profile_at_start(self):
        """A profile set that does not load stops the start (the socket it
        had bound is removed again)."""
        prof = os.path.join(self.tmp, "profiles")
        shutil.copytree(PROFILES, prof)
        with open(os.path.join(prof, "lc-broken.json"), "w") as f:
            f.write('{"name": "lc-broken", "bogus_key": 1}')
        self.write_config()
        d = self.spawn(self.argv(profiles=prof))
        rc = d.wait(15)
        self.assertIsNotNone(rc, "cordond did not exit")
        self.assertNotEqual(rc, 0)
        self.assertIn("lc-broken.json", d.log())
        self.assertFalse(os.path.lexists(self.sock), "a socket was left behind")


    def test_profiles_others_may_change(self):
        """A profile its group may write stops the start; a profiles
        directory others may write is refused on SIGHUP, the old set kept.
        Both were taken: whoever may write them loosens every later job."""
        prof = os.path.join(self.tmp, "profiles")
        shutil.copytree(PROFILES, prof)
        os.chmod(prof, 0o755)
        self.write_config(slots=1)
        victim = os.path.join(prof, "default.json")
        os.chmod(victim, 0o664)
        d = self.spawn(self.argv(profiles=prof))
        rc = d.wait(15)
        self.assertIsNotNone(rc, "cordond did not exit")
        self.assertNotEqual(rc, 0)
        self.assertIn(f"{victim} must be owned by root and not writable", d.log())
        self.assertFalse(os.path.lexists(self.sock), "a socket was left behind")

        os.chmod(victim, 0o644)
        d = self.start(profiles=prof)
        c = self.client()
        before = self.profile_names(c)
        os.chmod(prof, 0o777)
        log_before = d.log()
        d.signal(signal.SIGHUP)
        self.wait_for("the refusal in the log",
                      lambda: "profiles not reloaded" in d.log()[len(log_before):])
        self.assertIn(f"profiles: {prof} must be owned by root and not writable",
                      d.log()[len(log_before):])
        self.assertEqual(self.profile_names(c), before)
        os.chmod(prof, 0o755)
        self.assertIsNone(d.poll())

class TestStop(LifecycleTest):
    """6. SIGTERM: running jobs get shutdown_grace, then are cancelled."""

    def test_sigterm_waits_for_running_job(self):
        self.write_config(slots=2, shutdown_grace="20s")
        d = self.start()
        c = self.client()
        job = self.submit_sh(c, "sleep 4\necho done\n")
        self.wait_state(c, job, "running")
        # A connection opened before the signal stays usable while stopping.
        conn = UnixHTTPConnection(self.sock, timeout=10)
        conn.request("GET", "/v1/health")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)

        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        self.wait_for("the socket to go", lambda: not os.path.lexists(self.sock), timeout=5)
        # New connections are refused ...
        with self.assertRaises(CordonError) as cm:
            c.submit("default", entry="job.sh", inputs={"job.sh": b"true\n"})
        self.assertEqual(cm.exception.code, "connection_failed")
        # ... while one opened before is still served: health says stopping,
        # and a new job is refused 503 shutting_down.
        conn.request("GET", "/v1/health")
        r = conn.getresponse()
        self.assertEqual(json.loads(r.read())["status"], "stopping")
        ctype, body = multipart({"profile": "default", "entry": "job.sh"},
                                {"job.sh": b"true\n"})
        try:
            conn.request("POST", "/v1/jobs", body=body, headers={"Content-Type": ctype})
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the body was read, then closed: still readable
        r = conn.getresponse()
        answer = r.read()
        self.assertEqual(r.status, 503, answer)
        self.assertEqual(json.loads(answer)["code"], "shutting_down")
        conn.close()

        time.sleep(1)
        self.assertIsNone(d.poll(), "cordond did not wait for the running job")
        rc = d.wait(25)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, d.log())
        self.assertLess(elapsed, 15, "cordond waited much longer than the job")
        self.assertNotIn("jobs cancelled at shutdown", d.log())
        self.assertEqual(len(self.events("job.submitted")), 1)  # the 503 stored nothing

        self.start(name="restarted")
        j = self.client().job(job)
        self.assertEqual((j["state"], j["verdict"]), ("finished", "ok"), j)
        self.assertEqual(self.client().stdout(job)[0], b"done\n")

    def test_sigterm_cancels_after_grace(self):
        self.write_config(slots=2, shutdown_grace="1s")
        d = self.start()
        c = self.client()
        job = self.submit_sh(c, "sleep 30\necho never\n")
        self.wait_state(c, job, "running")
        started = self.events("job.started", job=job)
        self.assertEqual(len(started), 1)
        host_uid = started[0]["details"]["host_uid"]
        self.assertTrue(UID_BASE <= host_uid < UID_BASE + UID_COUNT, host_uid)
        self.wait_for("the job's processes", lambda: uid_processes(host_uid))

        t0 = time.monotonic()
        rc = self.stop(d, timeout=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0)
        self.assertLess(elapsed, 8, "cordond took too long past shutdown_grace")
        self.assertGreaterEqual(elapsed, 0.9, "cordond did not give the job its grace")
        self.assertIn("jobs cancelled at shutdown", d.log())
        self.assertEqual(uid_processes(host_uid), [],
                         "processes of the job's host uid outlived cordond")
        fin = self.events("job.finished", job=job)
        self.assertEqual([r["verdict"] for r in fin], ["cancelled"])

        self.start(name="restarted")
        j = self.client().job(job)
        self.assertEqual((j["state"], j["verdict"]), ("finished", "cancelled"), j)
        self.assertNotIn(b"never", self.client().stdout(job)[0])


class TestQueuedSurvive(LifecycleTest):
    """7. Queued jobs stay queued over a clean stop and run after the restart."""

    def test_queued_jobs_survive(self):
        self.write_config(slots=1, shutdown_grace=0)
        d = self.start()
        c = self.client()
        first = self.submit_sh(c, "sleep 30\n")
        self.wait_state(c, first, "running")
        queued = [self.submit_sh(c, f"echo queued-{i}\n") for i in range(2)]
        for i, q in enumerate(queued):
            j = c.job(q)
            self.assertEqual((j["state"], j["queue_position"]), ("queued", i + 1))

        # A long poll on a queued job must not hold up the stop.
        conn = UnixHTTPConnection(self.sock, timeout=30)
        conn.request("GET", f"/v1/jobs/{queued[0]}?wait=60")
        time.sleep(0.3)
        t0 = time.monotonic()
        self.stop(d, timeout=30)
        self.assertLess(time.monotonic() - t0, 10, "a long poll held up the stop")
        try:
            r = conn.getresponse()
            body = r.read()
            if r.status == 200:
                self.assertEqual(json.loads(body)["state"], "queued")
        except (OSError, http.client.HTTPException):
            pass  # the connection closed at exit: acceptable
        conn.close()
        self.assertEqual(self.events("job.started", job=queued[0]), [])
        self.assertEqual(self.events("job.started", job=queued[1]), [])

        self.start(name="restarted")
        c = self.client()
        self.assertEqual(c.job(first)["verdict"], "cancelled")
        jobs = [self.wait_finished(c, q) for q in queued]
        for i, j in enumerate(jobs):
            self.assertEqual(j["verdict"], "ok", j)
            self.assertEqual(c.stdout(queued[i])[0], f"queued-{i}\n".encode())
        self.assertLessEqual(jobs[0]["started"], jobs[1]["started"], "not run in their order")
        for q in queued:
            self.assertEqual(len(self.events("job.started", job=q)), 1)


    def test_failed_start_leaves_queued_jobs(self):
        """A restart that fails at the socket (someone listens there, or a
        file is in the way) neither runs nor cancels the queued jobs it
        found: they run once, after the next good start."""
        self.write_config(slots=1, shutdown_grace=0)
        d = self.start()
        c = self.client()
        first = self.submit_sh(c, "sleep 30\n")
        self.wait_state(c, first, "running")
        queued = self.submit_sh(c, "sleep 2\necho later\n")
        self.stop(d)
        self.write_config(slots=1, shutdown_grace="20s")
        for blocker in ("listener", "file"):
            with self.subTest(blocker=blocker):
                if blocker == "listener":
                    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    held.bind(self.sock)
                    held.listen(16)
                    expect = "another cordond is listening"
                else:
                    with open(self.sock, "w") as f:
                        f.write("in the way\n")
                    expect = "exists and is not a socket"
                t0 = time.monotonic()
                bad = self.spawn(self.argv(), name=f"blocked-by-{blocker}")
                rc = bad.wait(30)
                elapsed = time.monotonic() - t0
                if blocker == "listener":
                    held.close()
                os.unlink(self.sock)
                self.assertIsNotNone(rc)
                self.assertNotEqual(rc, 0)
                self.assertIn(expect, bad.log())
                self.assertEqual(self.events("job.started", job=queued), [],
                                 "a cordond that could not start ran a queued job")
                self.assertLess(elapsed, 5, "a failed start waited for jobs")
        self.start(name="restarted")
        c = self.client()
        j = self.wait_finished(c, queued)
        self.assertEqual(j["verdict"], "ok", j)
        self.assertEqual(c.stdout(queued)[0], b"later\n")
        self.assertEqual(len(self.events("job.started", job=queued)), 1)


class TestRetention(LifecycleTest):
    """8. Finished jobs are deleted `retention` after they finish; at start too."""

    def test_retention_at_start(self):
        self.write_config(slots=1, shutdown_grace=0)
        d = self.start()
        c = self.client()
        done = self.submit_sh(c, "echo old\n")
        self.assertEqual(self.wait_finished(c, done)["verdict"], "ok")
        self.stop(d)
        jobdir = os.path.join(self.state, "jobs", done)
        self.assertTrue(os.path.isdir(jobdir))

        # The default retention (7 days) keeps it over a restart.
        d = self.start(name="keeps")
        c = self.client()
        self.assertEqual(c.job(done)["verdict"], "ok")
        running = self.submit_sh(c, "sleep 30\n")
        self.wait_state(c, running, "running")
        queued = self.submit_sh(c, "sleep 1\necho young\n")  # stays queued: slots=1
        self.stop(d)  # grace 0: `running` is cancelled, `queued` stays queued
        self.assertEqual(self.events("job.started", job=queued), [])

        time.sleep(1.2)
        self.write_config(slots=1, retention="1s")
        self.start(name="expires")
        c = self.client()
        for job in (done, running):  # finished more than 1 s ago
            with self.subTest(job=job):
                with self.assertRaises(CordonError) as cm:
                    c.job(job)
                self.assertEqual(cm.exception.code, "job_not_found")
                self.assertFalse(os.path.exists(os.path.join(self.state, "jobs", job)))
                recs = self.events("job.deleted", job=job)
                self.assertEqual(len(recs), 1)
                self.assertEqual(recs[0]["details"]["by"], "retention")
        # A job that had not finished is never expired, however old: it runs now.
        j = self.wait_finished(c, queued)
        self.assertEqual(j["verdict"], "ok")
        self.assertEqual(c.stdout(queued)[0], b"young\n")
        self.assertEqual(self.events("job.deleted", job=queued), [])


    def test_retention_clears_a_backlog(self):
        """More expired jobs than one batch (100): the sweep goes on until
        none is left, rather than 100 a minute while the backlog grows."""
        self.write_config(slots=1, shutdown_grace=0, max_queued=300, max_queued_per_client=300,
                          rate_per_second=1000)
        d = self.start()
        c = self.client()
        running = self.submit_sh(c, "sleep 60\n")
        self.wait_state(c, running, "running")
        jobs = [self.submit_sh(c, "echo never\n") for _ in range(230)]
        for j in jobs:  # cancelled while queued: finished at once, never run
            c.cancel(j)
        for j in jobs[::50]:
            self.assertEqual(self.wait_finished(c, j)["verdict"], "cancelled")
        self.stop(d)
        self.assertEqual(len(os.listdir(os.path.join(self.state, "jobs"))), 231)

        time.sleep(1.2)
        self.write_config(slots=1, retention="1s")
        self.start(name="expires")
        c = self.client()
        self.assertEqual(c.jobs()["jobs"], [])
        self.assertEqual(os.listdir(os.path.join(self.state, "jobs")), [])
        self.assertEqual(len(self.events("job.deleted")), 231)


class TestIsolation(LifecycleTest):
    """9. cordond runs in a mount namespace of its own, with / private."""

    def test_mount_namespace(self):
        self.write_config()
        d = self.start()
        self.assertNotEqual(os.readlink(f"/proc/{d.pid}/ns/mnt"),
                            os.readlink("/proc/self/ns/mnt"))
        with open(f"/proc/{d.pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == "/":
                    opt = fields[6:fields.index("-")]
                    self.assertFalse([o for o in opt if o.startswith("shared:")],
                                     f"/ propagates to the host: {line}")
        with open(f"/proc/{d.pid}/status") as f:
            groups = [line.split()[1:] for line in f if line.startswith("Groups:")]
        self.assertEqual(groups, [[]], "supplementary groups were not dropped")

    def test_not_dumpable(self):
        """PR_SET_DUMPABLE 0 shows where a root caller without CAP_SYS_PTRACE
        opens /proc/<pid>/environ: allowed for a dumpable root process,
        refused for a non-dumpable one. Both controls must hold on this
        kernel before cordond is judged; otherwise there is no observable."""
        libc = ctypes.CDLL(None, use_errno=True)

        def drop_ptrace():
            if libc.prctl(24, 19, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_SYS_PTRACE
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")

        def readable(pid):
            r = subprocess.run(["/bin/cat", f"/proc/{pid}/environ"], preexec_fn=drop_ptrace,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return r.returncode == 0

        def control(dumpable):
            code = ("import ctypes, time\n"
                    f"ctypes.CDLL(None).prctl(4, {int(dumpable)}, 0, 0, 0)\n"
                    "print(flush=True)\ntime.sleep(30)\n")
            p = subprocess.Popen(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE)
            try:
                p.stdout.readline()
                return readable(p.pid)
            finally:
                p.kill()
                p.wait()
                p.stdout.close()

        dumpable, nondumpable = control(True), control(False)
        if not dumpable or nondumpable:
            # Mainline's commoncap check already refuses a caller whose
            # capabilities are not a superset of the target's (so both are
            # refused); some kernels allow both. Either way: nothing to see.
            self.skipTest("no observable for PR_SET_DUMPABLE on this kernel: a root caller "
                          "without CAP_SYS_PTRACE reading /proc/<pid>/environ of a dumpable / "
                          f"non-dumpable root process: {'allowed' if dumpable else 'refused'} / "
                          f"{'allowed' if nondumpable else 'refused'}")
        self.write_config()
        d = self.start()
        self.assertFalse(readable(d.pid), "cordond is dumpable")


def main():
    if os.geteuid() != 0:
        print("SKIP: cordond's lifecycle tests need root")
        sys.exit(77)
    if not CORDOND or not os.access(CORDOND, os.X_OK):
        print("SKIP: set CORDOND_BIN to a built cordond")
        sys.exit(77)
    if not os.path.isdir(PROFILES):
        print(f"SKIP: no profiles at {PROFILES} (set CORDON_PROFILES)")
        sys.exit(77)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
