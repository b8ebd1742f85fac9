#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host-side helpers of the escape-test harness (tests/escape/run).

  traps.py serve DIR [HOST_IP]   plant the traps a sandboxed probe must not
                                 reach, write DIR/traps.env, serve until
                                 SIGTERM or until the parent exits, then
                                 remove everything it created
  traps.py pty CMD [ARGS...]     run CMD on a new pseudo-terminal (its
                                 controlling terminal), copy its output to
                                 stdout, exit with its status
  traps.py chroot DIR CMD [ARGS...]
                                 chroot into DIR without changing the working
                                 directory (which is then outside the root,
                                 as in CVE-2024-21626) and run CMD

The traps: TCP listeners on 127.0.0.1, ::1 and HOST_IP, a DNS-style UDP
responder on 127.0.0.1, an abstract and a path unix socket, a System V
shared memory segment and a POSIX one in /dev/shm ("another job's"). Every
listener greets with BANNER.
"""

import ctypes
import ctypes.util
import errno
import os
import pty
import secrets
import select
import signal
import socket
import sys
import time

BANNER = b"cordon-escape-trap\n"
IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0
PR_SET_PDEATHSIG = 1
LIFETIME_S = 900  # a harness that vanished without SIGTERM does not leave us behind


def listen_tcp(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(64)
    return s


class SysvSegment:
    """A segment that "another job" left behind, holding a token."""

    def __init__(self, token):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.libc.shmat.restype = ctypes.c_void_p
        self.libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        self.libc.shmdt.argtypes = [ctypes.c_void_p]
        self.shmid = -1
        for _ in range(16):
            key = 0x43000000 | secrets.randbits(24)
            shmid = self.libc.shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o644)
            if shmid >= 0:
                self.key, self.shmid = key, shmid
                break
            if ctypes.get_errno() != errno.EEXIST:
                raise OSError(ctypes.get_errno(), "shmget")
        if self.shmid < 0:
            raise OSError(errno.EEXIST, "shmget: no free key")
        addr = self.libc.shmat(self.shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            self.remove()
            raise OSError(ctypes.get_errno(), "shmat")
        ctypes.memmove(addr, token, len(token))
        self.libc.shmdt(ctypes.c_void_p(addr))

    def remove(self):
        if self.shmid >= 0:
            self.libc.shmctl(self.shmid, IPC_RMID, None)
            self.shmid = -1


def posix_shm(token):
    name = "cordon-escape-" + secrets.token_hex(8)
    fd = os.open("/dev/shm/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, token)
    except OSError:
        os.unlink("/dev/shm/" + name)
        raise
    finally:
        os.close(fd)
    return name


def serve(directory, host_ip):
    token = ("cordon-escape-" + secrets.token_hex(8)).encode()
    parent = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    undo = []  # whatever was created, undone in reverse order however we leave
    try:
        env, streams, udp = plant(directory, host_ip, token, undo)
        tmp = os.path.join(directory, "traps.env.tmp")
        with open(tmp, "w") as f:
            for k, v in env.items():
                f.write("%s=%s\n" % (k, v))
        os.rename(tmp, os.path.join(directory, "traps.env"))
        deadline = time.monotonic() + LIFETIME_S
        while not stop and os.getppid() == parent and time.monotonic() < deadline:
            try:
                ready, _, _ = select.select(streams + [udp], [], [], 1.0)
            except InterruptedError:
                continue
            for s in ready:
                answer(s, udp)
    finally:
        for fn in reversed(undo):
            try:
                fn()
            except OSError:
                pass


def plant(directory, host_ip, token, undo):
    env = {"TOKEN": token.decode(), "TRAPS_PID": os.getpid()}
    streams = []

    def keep(sock):
        undo.append(sock.close)
        return sock

    tcp4 = keep(listen_tcp(socket.AF_INET, "127.0.0.1"))
    streams.append(tcp4)
    env["TCP_PORT"] = tcp4.getsockname()[1]
    env["TCP6_PORT"] = ""
    if socket.has_ipv6:
        try:
            tcp6 = keep(listen_tcp(socket.AF_INET6, "::1"))
            streams.append(tcp6)
            env["TCP6_PORT"] = tcp6.getsockname()[1]
        except OSError:
            pass
    env["HOST_IP"], env["HOST_PORT"] = "", ""
    if host_ip:
        try:
            family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
            tcph = keep(listen_tcp(family, host_ip))
            streams.append(tcph)
            env["HOST_IP"], env["HOST_PORT"] = host_ip, tcph.getsockname()[1]
        except OSError:
            pass
    udp = keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    udp.bind(("127.0.0.1", 0))
    env["DNS_PORT"] = udp.getsockname()[1]
    abstract_name = "cordon-escape-" + secrets.token_hex(6)
    abstract = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    abstract.bind("\0" + abstract_name)
    abstract.listen(16)
    streams.append(abstract)
    env["ABSTRACT_NAME"] = abstract_name
    unix_path = os.path.join(directory, "trap.sock")
    path_sock = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    path_sock.bind(unix_path)
    undo.append(lambda: os.unlink(unix_path))
    os.chmod(unix_path, 0o666)
    path_sock.listen(16)
    streams.append(path_sock)
    env["UNIX_PATH"] = unix_path
    segment = SysvSegment(token + b"\n")
    undo.append(segment.remove)
    env["SHM_KEY"] = "0x%08x" % segment.key
    env["SHM_ID"] = segment.shmid
    shm_name = posix_shm(token + b"\n")
    undo.append(lambda: os.unlink("/dev/shm/" + shm_name))
    env["SHM_NAME"] = shm_name
    return env, streams, udp


def answer(s, udp):
    if s is udp:
        data, peer = udp.recvfrom(512)
        if len(data) >= 12:  # a DNS header: echo it back as an answer
            udp.sendto(data[:2] + bytes([data[2] | 0x80]) + data[3:], peer)
        return
    try:
        conn, _ = s.accept()
    except OSError:
        return
    try:
        conn.sendall(BANNER)
    except OSError:
        pass
    conn.close()


def run_pty(argv):
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    out = sys.stdout.buffer
    while True:
        try:
            data = os.read(master, 4096)
        except OSError as e:  # EIO once the child side is closed
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            break
        out.write(data.replace(b"\r\n", b"\n"))
    out.flush()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_chroot(directory, argv):
    os.chroot(directory)  # no chdir: the working directory stays outside
    os.execv(argv[0], argv)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "pty":
        return run_pty(sys.argv[2:])
    if len(sys.argv) >= 4 and sys.argv[1] == "chroot":
        run_chroot(sys.argv[2], sys.argv[3:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
