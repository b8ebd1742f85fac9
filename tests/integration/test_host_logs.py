#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A job's own confinement must not write its data to the host's logs.

A seccomp filter's log and kill actions, and (from Landlock ABI 7, under
audit) a Landlock domain's denials, are logged by the kernel with the
process's name and a path, both the job's choice. Each test first shows on
the host, outside cordon, that the kernel logs what the job would try
(skipped with the reason where it does not), then that a job cannot.
Root; audit is switched on for the Landlock test and back off after.
"""
import ctypes
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

CORDON = os.environ.get("CORDON_BIN", "")

# Run with the marker as argv[1]: confine itself, then do what is refused.
SECCOMP_JOB = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, sys.argv[1].encode()[:15], 0, 0, 0)          # PR_SET_NAME
libc.prctl(38, 1, 0, 0, 0)                                  # PR_SET_NO_NEW_PRIVS
insns = [(0x20, 0, 0, 0),                                   # ld [nr]
         (0x15, 0, 1, 110),                                 # jeq getppid
         (0x06, 0, 0, 0x7ffc0000),                          # ret LOG
         (0x06, 0, 0, 0x7fff0000)]                          # ret ALLOW
buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in insns))
prog = struct.pack("=HxxxxxxQ", len(insns), ctypes.addressof(buf))
pbuf = ctypes.create_string_buffer(prog)
if libc.prctl(22, 2, pbuf, 0, 0) != 0:                      # PR_SET_SECCOMP, FILTER
    print("refused", os.strerror(ctypes.get_errno()))
    sys.exit(0)
for _ in range(3):
    os.getppid()
print("logged")
"""

LANDLOCK_JOB = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
d = os.path.join(sys.argv[2], sys.argv[1])
os.mkdir(d)
attr = ctypes.create_string_buffer(struct.pack("=Q", 1 << 8))  # MAKE_REG
fd = libc.syscall(444, attr, 8, 0)                            # create_ruleset
if fd < 0:
    print("no landlock", os.strerror(ctypes.get_errno()))
    sys.exit(3)
libc.prctl(38, 1, 0, 0, 0)
if libc.syscall(446, fd, 0) != 0:                             # restrict_self
    print("restrict", os.strerror(ctypes.get_errno()))
    sys.exit(3)
try:
    open(os.path.join(d, "f"), "w")
    print("created")
except PermissionError:
    print("denied")
"""


def audit_status(enable=None):
    """audit_enabled, or set it (AUDIT_SET) and return the old value."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)  # NETLINK_AUDIT
    try:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, 1000, 1, 1, 0))      # AUDIT_GET
        while True:
            d = s.recv(8192)
            if struct.unpack("=H", d[4:6])[0] == 1000:
                old = struct.unpack("=I", d[20:24])[0]
                break
        if enable is not None:
            body = struct.pack("=IIIIIIIII", 1, int(enable), 0, 0, 0, 0, 0, 0, 0)
            s.send(struct.pack("=IHHII", 16 + len(body), 1001, 5, 2, 0) + body)
            s.recv(8192)
        return old
    finally:
        s.close()


class Kmsg:
    """The kernel log from now on."""

    def __enter__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        return self

    def text(self):
        time.sleep(1)  # kauditd prints from its own thread
        out = []
        while True:
            try:
                out.append(os.read(self.fd, 8192).decode(errors="replace"))
            except BlockingIOError:
                return "".join(out)
            except BrokenPipeError:  # overwritten meanwhile: keep reading
                continue

    def __exit__(self, *exc):
        os.close(self.fd)


class HostLogTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        self.state = tempfile.mkdtemp(prefix="cordon-hostlog-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def marker(self):
        return "cdlog" + secrets.token_hex(5)

    def cordon(self, code, *args):
        return subprocess.run([CORDON, "run", "--state-dir", self.state, "--",
                               "/usr/bin/python3", "-c", code, *args],
                              capture_output=True, text=True, timeout=120)

    def host(self, code, *args):
        return subprocess.run([sys.executable, "-c", code, *args],
                              capture_output=True, text=True, timeout=120)

    def check(self, code, answer, job_args=(), host_args=()):
        """Run @code in a job, then on the host (the control), both in one
        fresh window of the kernel's print rate limit (10 records in 5 s):
        the control's records must show up, the job's must not."""
        mark, control = self.marker(), self.marker()
        time.sleep(5.5)
        with Kmsg() as k:
            job = self.cordon(code, mark, *job_args)
            bare = self.host(code, control, *host_args)
            log = k.text()
        if control not in log:
            self.skipTest(f"the host does not log this here (control said "
                          f"{bare.stdout.strip()!r}, nothing in the kernel log)")
        self.assertEqual(job.returncode, 0, job.stderr)
        self.assertEqual(job.stdout.strip(), answer)
        self.assertNotIn(mark, log)

    def test_seccomp_log_action_of_the_job(self):
        self.check(SECCOMP_JOB, "refused Operation not permitted")

    def test_landlock_denials_of_a_domain_the_job_made(self):
        old = audit_status(enable=True)
        self.addCleanup(audit_status, old)
        self.addCleanup(shutil.rmtree, "/tmp/" + "cdlog-host", True)
        os.mkdir("/tmp/cdlog-host")
        self.check(LANDLOCK_JOB, "denied", ("/tmp",), ("/tmp/cdlog-host",))


if __name__ == "__main__":
    if os.geteuid() != 0 or not CORDON:
        print("SKIP: needs root and CORDON_BIN")
        sys.exit(77)
    unittest.main(verbosity=2)
