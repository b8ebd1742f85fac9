#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of cordond's HTTP API (docs/api.md), as root, real kernel.

Each test class starts its own cordond (some tests their own) with a
temporary configuration, state directory and socket (in a 0755 directory),
and the repository's profiles. It is stopped (SIGTERM, then SIGKILL) when the
class or test ends, whatever happened, and the class or test fails if
anything was left behind: a cordond process, a job cgroup or a process under
this run's cgroup parent (cordon-test-api-<pid>, removed afterwards in every
hierarchy), a partial upload.

Clients run as uids that exist nowhere (64001 ...), forked from this process
with setgroups/setresgid/setresuid, so that cordond's SO_PEERCRED sees them.

Every HTTP response the suite receives, through the Python client
(clients/python/cordon_client.py) or raw sockets, is checked against
docs/openapi.yaml: the status must be documented for the route (or in
x-cordon-any-request), the required headers present and valid, the media
type one the spec lists, and a JSON body valid against its schema.

    sudo CORDOND_BIN=build/cordond /usr/bin/python3 tests/daemon/test_api.py [-v] [Class.test_x]

Exits 77 (skipped) with a reason when not root or something it needs is
missing. /usr/bin/python3: python3-yaml and python3-jsonschema.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import copy
import csv
import hashlib
import http.client
import io
import json
import os
import pickle
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import unittest
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "clients" / "python"))

import cordon_client as cc  # noqa: E402

try:
    import yaml
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError as e:  # checked in main(): skip with the reason
    yaml = jsonschema = Draft202012Validator = None
    IMPORT_ERROR = str(e)
else:
    IMPORT_ERROR = None

CORDOND = os.environ.get("CORDOND_BIN") or str(REPO / "build" / "cordond")
CORDON = os.environ.get("CORDON_BIN") or str(Path(CORDOND).parent / "cordon")
PROFILES = os.environ.get("CORDON_PROFILES") or str(REPO / "profiles")
OPENAPI_PATH = REPO / "docs" / "openapi.yaml"

CG_ROOT = Path("/sys/fs/cgroup")
CG_PARENT = f"cordon-test-api-{os.getpid()}"

# Peers. The socket is root:GID_SOCK 0660: every test uid has that group,
# as its primary group or a supplementary one.
GID_SOCK = 64000
GID_SUBMIT_GROUP = 64010  # in submitters.groups
GID_ADMIN_GROUP = 64011   # in admins.groups
USERS = {
    # name: (uid, primary gid, supplementary groups)
    "a": (64001, GID_SOCK, []),                                # submitter by uid
    "b": (64002, 64002, [GID_SOCK]),                           # submitter by uid
    "norole": (64003, GID_SOCK, []),                           # no role at all
    "groupsub": (64004, 64004, [GID_SOCK, GID_SUBMIT_GROUP]),  # submitter by group
    "groupadmin": (64005, 64005, [GID_SOCK, GID_ADMIN_GROUP]), # admin by group
    "collide": (64001 + 256, GID_SOCK, []),                    # no role; a's uid + 256
}
UID_A, UID_B, UID_NOROLE = USERS["a"][0], USERS["b"][0], USERS["norole"][0]

BASE_CONFIG = {
    "socket_mode": "0660",
    "socket_group": GID_SOCK,
    "cgroup": {"parent": CG_PARENT},
    "admins": {"uids": [0], "groups": [GID_ADMIN_GROUP]},
    "submitters": {"uids": [UID_A, UID_B], "groups": [GID_SUBMIT_GROUP]},
    "shutdown_grace": "3s",
    "rate_per_second": 1000,
}

SLEEP_SH = "echo started\nexec sleep 300\n"

EXPORT_R = r"""
d <- read.csv("cohort.csv")
d$double <- d$x * 2
write.csv(d, "/out/x.csv", row.names = FALSE)
dir.create("/out/sub")
writeLines('{"rows": 3}', "/out/sub/meta.json")
writeLines(c("a,b", "1,2"), "/out/a b.csv")
writeLines(c("#!/bin/sh", "echo hi"), "/out/run.sh")
invisible(file.symlink("x.csv", "/out/link.csv"))
cat("rows:", nrow(d), "\n")
message("export done")
"""
COHORT_CSV = b"x\n1\n2\n3\n"


def _skip(reason: str) -> None:
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


# --------------------------------------------------------------------------
# docs/openapi.yaml

class OpenAPI:
    """Checks responses against docs/openapi.yaml."""

    URI = "urn:cordon:openapi"
    JSON_TYPES = ("application/json", "application/problem+json")

    def __init__(self, path: Path) -> None:
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.templates = []
        for tpl, item in self.doc["paths"].items():
            parts = []
            for seg in tpl.strip("/").split("/"):
                if seg == "{id}":
                    parts.append("[^/]+")
                elif seg == "{path}":
                    parts.append(".+")
                else:
                    parts.append(re.escape(seg))
            self.templates.append((re.compile("^/" + "/".join(parts) + "$"), tpl, item))
        # Literal templates first: /v1/jobs/{id}/artifacts.tar before {path}.
        self.templates.sort(key=lambda t: t[1].count("{"))
        self.seen: set = set()
        self._validators: dict = {}
        try:
            from referencing import Registry
            from referencing.jsonschema import DRAFT202012
            self._registry = Registry().with_resource(
                self.URI, DRAFT202012.create_resource(self.doc))
            self._resolver = None
        except ImportError:
            self._registry = None
            self._resolver = jsonschema.RefResolver(self.URI, self.doc,
                                                    store={self.URI: self.doc})

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
        return obj

    def _absolute(self, schema):
        """A copy of a schema fragment whose local $refs name the document."""
        if isinstance(schema, dict):
            return {k: (self.URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#")
                        else self._absolute(v)) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self._absolute(v) for v in schema]
        return schema

    def validate(self, instance, schema, where: str) -> None:
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            s = self._absolute(copy.deepcopy(schema))
            if self._registry is not None:
                v = Draft202012Validator(s, registry=self._registry)
            else:
                v = Draft202012Validator(s, resolver=self._resolver)
            self._validators[key] = v
        errors = list(v.iter_errors(instance))
        if errors:
            best = jsonschema.exceptions.best_match(errors)
            msgs = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
                    for e in [best] + [e for e in errors if e is not best][:4]]
            raise AssertionError(f"{where}: not valid per docs/openapi.yaml: " + " | ".join(msgs)
                                 + f"\n  instance: {json.dumps(instance)[:1500]}")

    def match(self, path: str):
        for rx, tpl, item in self.templates:
            if rx.match(path):
                return tpl, item
        return None, None

    @staticmethod
    def _norm_type(t: str) -> str:
        return ";".join(p.strip().lower() for p in t.split(";") if p.strip())

    def check(self, method: str, target: str, status: int, headers: dict, body: bytes) -> None:
        """Raise AssertionError unless the response is one openapi.yaml describes."""
        path = urllib.parse.urlsplit(target).path or "/"
        tpl, item = self.match(path)
        op = item.get(method.lower()) if item else None
        responses = dict(self.doc.get("x-cordon-any-request", {}))
        if op:
            responses.update(op["responses"])
        where = f"{method} {target[:120]} -> {status}"
        spec = responses.get(str(status))
        if spec is None:
            raise AssertionError(f"{where}: status {status} is not documented in docs/openapi.yaml "
                                 f"for {method} {tpl or path} (body: {body[:300]!r})")
        spec = self.deref(spec)
        for name, h in (spec.get("headers") or {}).items():
            h = self.deref(h)
            value = headers.get(name.lower())
            if value is None:
                if h.get("required"):
                    raise AssertionError(f"{where}: required header {name} missing "
                                         f"(headers: {headers})")
                continue
            if "schema" in h:
                self.validate(value, h["schema"], f"{where}: header {name}")
        content = spec.get("content")
        ctype = headers.get("content-type")
        if method.upper() == "HEAD":
            # RFC 9110 9.3.2: the headers a GET would have had, never a body.
            if body:
                raise AssertionError(f"{where}: a body in an answer to HEAD: {body[:200]!r}")
        elif not content:
            if body:
                raise AssertionError(f"{where}: a body where openapi.yaml documents none: "
                                     f"{body[:200]!r}")
        else:
            if ctype is None:
                raise AssertionError(f"{where}: no Content-Type")
            key = None
            for k in content:
                if k == "*/*" or self._norm_type(k) == self._norm_type(ctype) or (
                        ";" not in k and k.lower() == ctype.split(";")[0].strip().lower()):
                    key = k
                    break
            if key is None:
                raise AssertionError(f"{where}: Content-Type {ctype!r} is not one of "
                                     f"{list(content)}")
            media = key.split(";")[0].strip().lower()
            schema = content[key].get("schema")
            if media in self.JSON_TYPES and schema is not None:
                try:
                    doc = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    raise AssertionError(f"{where}: body is not JSON ({e}): {body[:200]!r}")
                self.validate(doc, schema, where)
                if media == "application/problem+json" and doc.get("status") != status:
                    raise AssertionError(f"{where}: problem status {doc.get('status')} is not "
                                         f"the HTTP status")
        self.seen.add((method.upper(), tpl or "(no route)", status))

    def documented(self):
        out = set()
        for tpl, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "delete", "patch"):
                    for status in op["responses"]:
                        out.add((method.upper(), tpl, int(status)))
        return out


OPENAPI: OpenAPI = None  # type: ignore  # loaded in main()


# --------------------------------------------------------------------------
# HTTP: every response is read whole, checked against openapi.yaml, kept

class Response:
    """A response read whole; mimics the parts of HTTPResponse the client uses."""

    def __init__(self, resp: http.client.HTTPResponse, body: bytes, method: str, target: str):
        self.status = resp.status
        self.reason = resp.reason
        self._headers = resp.getheaders()
        self.headers = {k.lower(): v for k, v in self._headers}
        self.body = body
        self._stream = io.BytesIO(body)
        self.method = method
        self.target = target

    def getheader(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def getheaders(self):
        return list(self._headers)

    def read(self, amt=None):
        return self._stream.read() if amt is None else self._stream.read(amt)

    def close(self):
        pass

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<{self.method} {self.target[:80]} -> {self.status} {self.body[:300]!r}>"


LAST: list = []  # [the last Response this process received]


def _checked(resp: http.client.HTTPResponse, method: str, target: str) -> Response:
    body = resp.read()
    r = Response(resp, body, method, target)
    OPENAPI.check(method, target, r.status, r.headers, body)
    LAST[:] = [r]
    return r


class RecordingConnection(cc.UnixHTTPConnection):
    """The client's connection, with every response checked against openapi.yaml."""

    _rec = ("?", "?")

    def putrequest(self, method, url, *args, **kwargs):
        self._rec = (method, url)
        return super().putrequest(method, url, *args, **kwargs)

    def getresponse(self):
        return _checked(super().getresponse(), *self._rec)


cc.UnixHTTPConnection = RecordingConnection  # the client builds its connections by this name


def request(sock: str, method: str, target: str, body: bytes = None, headers: dict = None,
            timeout: float = 60) -> Response:
    conn = RecordingConnection(sock, timeout=timeout)
    try:
        try:
            conn.request(method, target, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early (413, 429): the answer is still readable
        return conn.getresponse()
    finally:
        conn.close()


def expect_continue(d, ctype: str, length: int) -> socket.socket:
    """A socket to @d's cordond on which the head of an upload was sent
    with Expect: 100-continue, and no body yet."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(30)
        s.connect(d.sock)
        s.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                  f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n".encode())
    except BaseException:
        s.close()
        raise
    return s


def raw(sock: str, data: bytes, method: str, target: str, timeout: float = 30) -> Response:
    """Send @data as it is; read and check the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        return _checked(resp, method, target)
    finally:
        s.close()


class _Bytes:
    """An answer already read whole, for http.client.HTTPResponse to parse."""

    def __init__(self, data: bytes):
        self.data = data

    def makefile(self, mode):
        return io.BytesIO(self.data)


def multipart(parts, boundary: str = None):
    """parts: (name, filename or None, content type or None, bytes). Returns (ctype, body)."""
    b = boundary or "cordon-test-" + secrets.token_hex(12)
    out = bytearray()
    for name, filename, ctype, data in parts:
        out += b"--" + b.encode() + b"\r\n"
        disp = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
        if filename is not None:
            fn = filename if isinstance(filename, bytes) else filename.encode("utf-8")
            disp += b'; filename="' + fn + b'"'
        out += disp + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + b.encode() + b"--\r\n"
    return f"multipart/form-data; boundary={b}", bytes(out)


def job_bytes(job) -> bytes:
    if isinstance(job, bytes):
        return job
    if isinstance(job, str):
        return job.encode()
    return json.dumps(job).encode()


def submit_raw(sock: str, job, files=(), job_type="application/json", extra=()) -> Response:
    """POST /v1/jobs with a `job` part and file parts [(filename, bytes)]."""
    parts = [("job", None, job_type, job_bytes(job))]
    parts += [(f"input{i}", name, "application/octet-stream", data)
              for i, (name, data) in enumerate(files)]
    parts += list(extra)
    ctype, body = multipart(parts)
    return request(sock, "POST", "/v1/jobs", body, {"Content-Type": ctype})


# --------------------------------------------------------------------------
# Running code as another uid

class Child:
    """@fn run in a forked child as user @who; result() returns its value or
    raises what it raised (a CordonError as a CordonError)."""

    def __init__(self, who: str, fn, *args, **kwargs):
        uid, gid, groups = USERS[who]
        self.who = who
        rfd, wfd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(rfd)
                seen_before = set(OPENAPI.seen)
                try:
                    os.setgroups(groups)
                    os.setresgid(gid, gid, gid)
                    os.setresuid(uid, uid, uid)
                    out = ("ok", fn(*args, **kwargs))
                except cc.CordonError as e:
                    out = ("cordon", (type(e).__name__, e.status, e.code, e.title, e.detail,
                                      e.retry_after))
                except BaseException:
                    out = ("exc", traceback.format_exc())
                try:
                    payload = pickle.dumps((out, OPENAPI.seen - seen_before))
                except Exception:
                    payload = pickle.dumps((("exc", traceback.format_exc()), set()))
                with os.fdopen(wfd, "wb") as f:
                    f.write(payload)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid = pid
        self.rfd = rfd

    def result(self, timeout: float = 600):
        deadline = time.monotonic() + timeout
        data = bytearray()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(self.pid, signal.SIGKILL)
                    raise AssertionError(f"a child as {self.who} ran over {timeout}s")
                r, _, _ = select.select([self.rfd], [], [], left)
                if not r:
                    continue
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(self.rfd)
            os.waitpid(self.pid, 0)
        if not data:
            raise AssertionError(f"the child as {self.who} died without an answer")
        (kind, value), seen = pickle.loads(bytes(data))
        OPENAPI.seen |= seen
        if kind == "ok":
            return value
        if kind == "cordon":
            name, status, code, title, detail, retry = value
            if name == "CordonConnectionError":
                raise cc.CordonConnectionError(title, detail)
            if name == "CordonProtocolError":
                raise cc.CordonProtocolError(status, title, detail)
            raise cc.CordonError(status, code, title, detail, retry)
        raise AssertionError(f"in the child as {self.who}:\n{value}")


def as_user(who: str, fn, *args, **kwargs):
    return Child(who, fn, *args, **kwargs).result()


def socket_as(who: str, make, what: str) -> socket.socket:
    """The socket make() returns, made by user @who in a child (SO_PEERCRED
    is taken at connect() and at listen()), handed back to this process to
    hold as long as it needs."""
    uid, gid, groups = USERS[who]
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            mine.close()
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            s = make()
            socket.send_fds(theirs, [b"s"], [s.fileno()])
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        mine.settimeout(30)
        _, fds, _, _ = socket.recv_fds(mine, 1, 1)
    finally:
        mine.close()
        os.waitpid(pid, 0)
    if not fds:
        raise AssertionError(f"no {what} made as {who}")
    return socket.socket(fileno=fds[0])


def connect_as(who: str, path: str) -> socket.socket:
    """A connection to @path made by user @who."""
    def make():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s
    return socket_as(who, make, "connection")


def listen_as(who: str, path: str) -> socket.socket:
    """A socket listening at @path, bound and listened on by user @who
    (a client's SO_PEERCRED gives the credentials of whoever called
    listen()), to accept on here. @path's directory must be writable by
    @who; the socket is made mode 0777."""
    def make():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4)
        return s
    srv = socket_as(who, make, "socket")
    os.chmod(path, 0o777)
    srv.settimeout(60)  # a hang bound on accept() and recv()
    return srv


# --------------------------------------------------------------------------
# cgroups and processes

def hierarchies():
    """Where this run's cgroup parent may be: /sys/fs/cgroup (v2), or every
    v1 hierarchy and the unified one (hybrid)."""
    if (CG_ROOT / "cgroup.controllers").exists():
        return [CG_ROOT]
    out, seen = [], set()
    for e in sorted(CG_ROOT.iterdir()):
        try:
            st = os.stat(e)
        except OSError:
            continue
        if not e.is_dir() or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        out.append(e)
    return out


def leaf_cgroups(parent: str = CG_PARENT):
    out = []
    for h in hierarchies():
        top = h / parent
        if top.is_dir():
            for dirpath, dirnames, _ in os.walk(top):
                out += [str(Path(dirpath) / d) for d in dirnames]
    return out


def rmdir_retry(path) -> None:
    for _ in range(250):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16:  # EBUSY: a task is still being removed
                raise
            time.sleep(0.02)


def remove_cgroup_parent(parent: str = CG_PARENT) -> None:
    for h in hierarchies():
        top = h / parent
        if not top.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(top, topdown=False):
            for d in dirnames:
                rmdir_retry(Path(dirpath) / d)
        rmdir_retry(top)


def sweep_dead_parents() -> None:
    """Parents of earlier runs that were killed before their teardown."""
    for h in hierarchies():
        try:
            names = os.listdir(h)
        except OSError:
            continue
        for n in names:
            m = re.fullmatch(r"cordon-test-api-(\d+)", n)
            if m and not Path(f"/proc/{m.group(1)}").exists():
                try:
                    remove_cgroup_parent(n)
                except OSError:
                    pass


def processes():
    """(pid, real uid, cgroup lines, cmdline) of every process."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            status = (p / "status").read_text()
            cgroup = (p / "cgroup").read_text().splitlines()
            cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        m = re.search(r"^Uid:\s+(\d+)", status, re.M)
        yield int(p.name), int(m.group(1)) if m else -1, cgroup, cmdline


def in_our_cgroup(cgroup_lines) -> bool:
    return any(f"/{CG_PARENT}/" in line or line.endswith(f"/{CG_PARENT}") for line in cgroup_lines)


def job_processes(host_uid: int = None):
    """Processes in this run's cgroups; with @host_uid, also any process of
    that uid in no cordon cgroup at all (escaped)."""
    out = []
    for pid, uid, cg, cmd in processes():
        if in_our_cgroup(cg):
            out.append((pid, uid, cmd))
        elif host_uid is not None and uid == host_uid and not any("cordon" in l for l in cg):
            out.append((pid, uid, cmd))
    return out


def ended_children(parent: int):
    """Children of @parent that have exited and are not reaped yet: a
    sandbox's pid 1 once its job is over, before its supervisor looked."""
    out = []
    for p in Path("/proc").iterdir():
        try:
            status = (p / "status").read_text() if p.name.isdigit() else ""
        except OSError:
            continue
        if (re.search(r"^State:\s+Z", status, re.M)
                and re.search(rf"^PPid:\s+{parent}$", status, re.M)):
            out.append(int(p.name))
    return out


# --------------------------------------------------------------------------
# cordond

def _die_with_parent() -> None:
    """In cordond's child before exec: SIGTERM when this test process dies
    (a ctest timeout), so that no daemon outlives its run."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Daemon:
    """One cordond with its own temporary config, state directory and socket."""

    def __init__(self, fault: str = None, **overrides):
        self.fault = fault  # CORDON_FAULT for cordond (a -DCORDON_FAULT_INJECTION build)
        self.tmp = Path(tempfile.mkdtemp(prefix="cordon-api-", dir="/tmp"))
        os.chmod(self.tmp, 0o755)
        run = self.tmp / "run"
        run.mkdir()
        os.chmod(run, 0o755)
        self.sock = str(run / "cordon.sock")
        self.state = self.tmp / "state"
        self.config = dict(BASE_CONFIG)
        self.config.update(overrides)
        self.config_path = self.tmp / "cordond.json"
        self.config_path.write_text(json.dumps(self.config, indent=1))
        self.log_path = self.tmp / "cordond.log"
        self.proc = None
        self._log = None

    def start(self, timeout: float = 30) -> None:
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [CORDOND, "--config", str(self.config_path), "--socket", self.sock,
             "--state-dir", str(self.state), "--profiles-dir", PROFILES],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, CORDON_FAULT=self.fault) if self.fault else None,
            start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"cordond exited with {self.proc.returncode} at start:\n"
                                     + self.log_tail())
            if os.path.exists(self.sock):
                try:
                    r = request(self.sock, "GET", "/v1/health", timeout=5)
                    if r.status == 200:
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError(f"cordond not ready after {timeout}s:\n" + self.log_tail())
            time.sleep(0.01)  # cordond starts in tens of ms: every test waits for it

    def stop_timeout(self) -> float:
        grace = self.config.get("shutdown_grace", "30s")
        secs = int(grace[:-1]) if isinstance(grace, str) and grace.endswith("s") else 30
        return secs + 30

    def stop(self) -> list:
        """SIGTERM, then SIGKILL after the grace and 30 s. Returns problems."""
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout())
            except subprocess.TimeoutExpired:
                problems.append(f"cordond (pid {self.proc.pid}) did not stop on SIGTERM; killed")
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        return problems

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def leftovers(self, kill: bool = True) -> list:
        """What this daemon left behind; with @kill, its processes are killed."""
        problems = []
        for pid, uid, cg, cmd in processes():
            if "cordond" in cmd and str(self.tmp) in cmd:
                problems.append(f"cordond still running: pid {pid}: {cmd}")
                if kill:
                    os.kill(pid, signal.SIGKILL)
        for pid, uid, cmd in job_processes():
            problems.append(f"process left in {CG_PARENT}: pid {pid} uid {uid}: {cmd[:100]}")
            try:
                if kill:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        problems += [f"cgroup left: {p}" for p in leaf_cgroups()]
        jobs = self.state / "jobs"
        if jobs.is_dir():
            problems += [f"partial upload left: {n}" for n in os.listdir(jobs)
                         if n.endswith(".partial")]
        return problems

    def destroy(self) -> list:
        """Stop, check that nothing is left, remove everything. Returns problems."""
        problems = []
        try:
            problems += self.stop()
            # What is gone within 0.1 s of cordond's exit is not left
            # behind; most often nothing is there to wait for (every test
            # ends here: a fixed 0.1 s took 10 s of the suite).
            poll(lambda: not self.leftovers(kill=False), 0.1, 0.02)
            problems += self.leftovers()
        finally:
            try:
                remove_cgroup_parent()
            except OSError as e:
                problems.append(f"cannot remove the cgroup parent: {e}")
            if problems:
                print(f"\n--- cordond log ({self.log_path}):\n{self.log_tail()}", file=sys.stderr)
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # -- state on disk --

    def audit(self, event: str = None, job: str = None) -> list:
        path = self.state / "audit" / "audit.jsonl"
        out = []
        with open(path, encoding="ascii") as f:
            for line in f:
                rec = json.loads(line)
                if (event is None or rec["event"] == event) and (job is None or rec["job"] == job):
                    out.append(rec)
        return out

    def audit_text(self) -> str:
        return (self.state / "audit" / "audit.jsonl").read_text(encoding="ascii")

    def job_dir(self, job_id: str) -> Path:
        return self.state / "jobs" / job_id

    def job_entries(self) -> set:
        return set(os.listdir(self.state / "jobs"))

    def client(self, timeout: float = 60) -> cc.CordonClient:
        return cc.CordonClient(self.sock, timeout=timeout)


# -- job helpers (usable in a child: they take the daemon, not a client) --

def submit_sh(d: Daemon, script: str, labels=None, limits=None, name="job.sh") -> dict:
    return d.client().submit("default", entry=name, inputs={name: script.encode()},
                             labels=labels, limits=limits)


def wait_job(d: Daemon, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    c = d.client()
    while True:
        left = deadline - time.monotonic()
        j = c.job(job_id, wait=max(0, min(30, int(left))))
        if j["state"] == "finished":
            return j
        if time.monotonic() >= deadline:
            raise AssertionError(f"job {job_id} is still {j['state']} after {timeout}s")


def wait_running(d: Daemon, job_id: str, timeout: float = 60, marker: bytes = b"started") -> dict:
    """Until the job runs and its stdout has @marker (its payload is live)."""
    deadline = time.monotonic() + timeout
    c = d.client()
    while True:
        j = c.job(job_id)
        if j["state"] == "finished":
            raise AssertionError(f"job {job_id} finished ({j['verdict']}) while waited for")
        if j["state"] == "running" and (marker is None or marker in c.stdout(job_id)[0]):
            return j
        if time.monotonic() >= deadline:
            raise AssertionError(f"job {job_id} is still {j['state']} after {timeout}s")
        time.sleep(0.05)


def problem_of(test: unittest.TestCase, r: Response, status: int, code: str) -> dict:
    test.assertEqual(r.status, status, r)
    test.assertEqual(r.headers.get("content-type"), "application/problem+json", r)
    doc = r.json()
    test.assertEqual(doc["code"], code, r)
    test.assertEqual(doc["type"], f"urn:cordon:problem:{code}", r)
    return doc


def created_ms(job: dict) -> int:
    """A job's "created" (RFC 3339, to the millisecond) in ms since the epoch."""
    t = time.strptime(job["created"][:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int(job["created"][20:23])


def list_key(job: dict):
    """Where GET /v1/jobs puts a job: the larger, the earlier in the list."""
    return (created_ms(job), job["id"])


def poll(fn, timeout: float = 10, interval: float = 0.05):
    """fn() until it is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# Test bases

class DaemonTest(unittest.TestCase):
    """CONFIG: overrides for a daemon shared by the class (None: no shared
    daemon; tests start their own with self.start_daemon())."""

    CONFIG = None
    daemon: Daemon = None

    @classmethod
    def setUpClass(cls):
        if cls.CONFIG is None:
            return
        cls.daemon = Daemon(**cls.CONFIG)
        try:
            cls.daemon.start()
        except BaseException:
            cls.daemon.destroy()
            cls.daemon = None
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is None:
            return
        problems = cls.daemon.destroy()
        cls.daemon = None
        if problems:
            raise AssertionError("left behind:\n  " + "\n  ".join(problems))

    def held_daemon(self, release_at_end: bool = True, **config) -> tuple:
        """A daemon whose fault-held steps (cd_fault_wait) wait until the
        release file it returns is made. With @release_at_end it is made
        before the daemon stops, so that a failed test leaves nothing held."""
        release = os.path.join(tempfile.mkdtemp(prefix="cordon-release-"), "go")
        self.addCleanup(shutil.rmtree, os.path.dirname(release), True)
        os.environ["CORDON_FAULT_RELEASE"] = release
        self.addCleanup(os.environ.pop, "CORDON_FAULT_RELEASE", None)
        d = self.start_daemon(**config)
        if release_at_end:  # cleanups run last first: before the daemon's stop
            self.addCleanup(lambda: open(release, "w").close())
        return d, release

    def start_daemon(self, **config) -> Daemon:
        d = Daemon(**config)
        self.addCleanup(self._destroy, d)
        d.start()
        return d

    def _destroy(self, d: Daemon) -> None:
        problems = d.destroy()
        if problems:
            self.fail("left behind:\n  " + "\n  ".join(problems))

    def assert_nothing_stored(self, d: Daemon, jobs_before: set, submitted_before: int):
        self.assertTrue(poll(lambda: d.job_entries() == jobs_before, 5),
                        f"left in jobs/: {d.job_entries() - jobs_before}")
        self.assertEqual(len(d.audit("job.submitted")), submitted_before)

    def settle_jobs(self, d: Daemon) -> None:
        """Cancel whatever a test left queued or running; wait until it ended."""
        c = d.client()
        for state in ("queued", "running"):
            for j in c.jobs(state=state, limit=500)["jobs"]:
                try:
                    c.cancel(j["id"])
                except cc.CordonError as e:
                    if e.code != "job_finished":
                        raise
        for state in ("queued", "running"):
            for j in c.jobs(state=state, limit=500)["jobs"]:
                wait_job(d, j["id"], 60)


# --------------------------------------------------------------------------
# The API on one daemon

MAIN_CONFIG = dict(slots=2, max_queued=64, max_queued_per_client=32, max_body="8M",
                   max_inputs=4, max_input="4M", max_json=1024, max_url=512, max_header=4096,
                   output_max=4096)


def small_upload(boundary: str) -> tuple:
    """A one-file job's multipart upload: its Content-Type, its body, and
    the body chunk-encoded in one chunk."""
    ct, body = multipart([("job", None, "application/json",
                           job_bytes({"profile": "default", "entry": "job.sh"})),
                          ("f", "job.sh", None, b"echo hi\n")], boundary)
    return ct, body, f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


class ApiTest(DaemonTest):
    CONFIG = MAIN_CONFIG

    def tearDown(self):
        if self.daemon is not None and self.daemon.proc.poll() is None:
            self.settle_jobs(self.daemon)

    # -- service --

    def test_health(self):
        d = self.daemon
        h = d.client().health()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["slots"]["total"], 2)
        self.assertEqual(h["queue"]["max"], 64)
        self.assertEqual(h["cgroup_mode"],
                         "v2" if (CG_ROOT / "cgroup.controllers").exists() else "v1")
        # Submitters see the status and version, not other clients' activity.
        for who in ("a", "b", "groupsub"):
            self.assertEqual(set(as_user(who, lambda: d.client().health())), {"status", "version"},
                             who)
        self.assertEqual(as_user("groupadmin", lambda: d.client().health())["slots"]["total"], 2)
        r = request(d.sock, "GET", "/v1/health")
        self.assertEqual(r.headers.get("content-type"), "application/json")
        # The socket: the configured group and mode, in a 0755 directory.
        st = os.stat(d.sock)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, GID_SOCK, 0o660))

    def test_profiles(self):
        d = self.daemon
        profiles = as_user("a", lambda: d.client().profiles())
        names = sorted(p["name"] for p in profiles)
        self.assertEqual(names, sorted(p[:-5] for p in os.listdir(PROFILES) if p.endswith(".json")))
        de = next(p for p in profiles if p["name"] == "data-export")
        self.assertEqual(de["limits"]["max"]["memory"], "1G")
        self.assertIn("text/csv", de["artifacts"]["types"])
        self.assertEqual(de["network"], "none")
        self.assertTrue(de["work_readonly"])

    def test_metrics_admin_only(self):
        d = self.daemon
        text = d.client().metrics()
        for name in ("cordon_jobs_total{verdict=\"ok\"}", "cordon_queue_length",
                     "cordon_jobs_running", "cordon_launch_seconds_bucket",
                     "cordon_run_seconds_bucket", "cordon_requests_refused_total"):
            self.assertIn(name, text)
        self.assertIn("cordon_launch_seconds", as_user("groupadmin", lambda: d.client().metrics()))
        for who in ("a", "groupsub"):
            with self.assertRaises(cc.CordonError) as cm:
                as_user(who, lambda: d.client().metrics())
            self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"), who)
        # Refusals are counted by code.
        text = d.client().metrics()
        m = re.search(r'^cordon_requests_refused_total\{code="forbidden"\} (\d+)$', text, re.M)
        self.assertTrue(m and int(m.group(1)) >= 2, text)

    def test_unlisted_uid_is_refused_and_audited(self):
        d = self.daemon
        before_jobs = d.job_entries()
        before = len(d.audit("auth.refused"))

        def calls():
            out = []
            for method, target in (("GET", "/v1/health"), ("GET", "/v1/jobs"),
                                   ("GET", "/v1/profiles"), ("GET", "/metrics"),
                                   ("GET", "/v1/nope")):
                r = request(d.sock, method, target)
                out.append((r.status, r.json()["code"]))
            r = submit_raw(d.sock, {"profile": "default", "entry": "job.sh"},
                           [("job.sh", b"echo hi\n")])
            out.append((r.status, r.json()["code"]))
            return out

        for status, code in as_user("norole", calls):
            self.assertEqual((status, code), (403, "forbidden"))
        refused = d.audit("auth.refused")[before:]
        self.assertEqual(len(refused), 6, refused)
        for rec in refused:
            self.assertEqual(rec["actor"]["uid"], UID_NOROLE)
            self.assertEqual(rec["verdict"], "no_role")
            self.assertIsNone(rec["job"])
        self.assertEqual(d.job_entries(), before_jobs)

    # -- the whole life of a job --

    def test_data_export_job_end_to_end(self):
        d = self.daemon
        labels = {"course": "mus101", "requested_by": "secret-label-value-42"}

        def submit():
            j = d.client().submit("data-export", entry="export.R",
                                  inputs={"export.R": EXPORT_R.encode(), "cohort.csv": COHORT_CSV},
                                  labels=labels)
            return j, LAST[0].headers

        created, headers = as_user("a", submit)
        job_id = created["id"]
        self.assertEqual(created["state"], "queued")
        self.assertEqual(headers["location"], f"/v1/jobs/{job_id}")
        self.assertEqual(created["links"]["self"], f"/v1/jobs/{job_id}")
        # On disk (fsync'd) and audited before the 201.
        self.assertEqual((d.job_dir(job_id) / "inputs" / "export.R").read_bytes(),
                         EXPORT_R.encode())
        self.assertEqual((d.job_dir(job_id) / "inputs" / "cohort.csv").read_bytes(), COHORT_CSV)
        sub = d.audit("job.submitted", job_id)
        self.assertEqual(len(sub), 1)
        self.assertEqual(sub[0]["actor"]["uid"], UID_A)
        self.assertEqual(sub[0]["profile"], "data-export")
        self.assertEqual(sub[0]["details"]["inputs"], 2)
        self.assertEqual(sub[0]["details"]["labels"], 2)

        job = as_user("a", wait_job, d, job_id, 240)
        self.assertEqual(job["verdict"], "ok", job)
        # Finished: the inputs go (nothing serves them, and they are the
        # client's data); output and artifacts stay until the job's delete.
        self.assertFalse((d.job_dir(job_id) / "inputs").exists())
        self.assertTrue((d.job_dir(job_id) / "stdout").is_file())
        self.assertEqual(job["owner_uid"], UID_A)
        self.assertEqual(job["profile"], "data-export")
        self.assertEqual(job["labels"], labels)
        self.assertIsNone(job["reason"])
        self.assertIsNone(job["queue_position"])
        self.assertIsNotNone(job["started"])
        self.assertLessEqual(job["created"], job["started"])
        self.assertLessEqual(job["started"], job["finished"])
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertEqual(job["result"]["limits"]["memory_bytes"], 1 << 30)

        out, trunc = as_user("a", lambda: d.client().stdout(job_id))
        self.assertEqual(out, b"rows: 3 \n")
        self.assertFalse(trunc)
        err, trunc = as_user("a", lambda: d.client().stderr(job_id))
        self.assertIn(b"export done", err)
        self.assertFalse(trunc)

        manifest = as_user("a", lambda: d.client().artifacts(job_id))
        self.assertEqual(manifest["job"], job_id)
        taken = {e["path"]: e for e in manifest["artifacts"] if "sha256" in e}
        self.assertEqual(sorted(taken), ["a b.csv", "sub/meta.json", "x.csv"], manifest)
        self.assertEqual(taken["x.csv"]["type"], "text/csv")
        self.assertEqual(manifest["artifacts"], job["result"]["artifacts"])
        refused = {e["path"]: e for e in manifest["artifacts"] if "refused" in e}
        self.assertEqual(refused["run.sh"]["refused"], "type_not_allowed", manifest)
        self.assertEqual(refused["run.sh"]["type"], "text/x-shellscript")
        self.assertEqual(refused["link.csv"], {"path": "link.csv", "refused": "symlink"})

        for path, entry in taken.items():
            data, hdrs = as_user("a", lambda p=path: d.client().artifact(job_id, p))
            self.assertEqual(len(data), entry["size"])
            self.assertEqual(hdrs["etag"], '"%s"' % hashlib.sha256(data).hexdigest())
            self.assertEqual(hdrs["etag"], '"%s"' % entry["sha256"])
            self.assertTrue(hdrs["content-disposition"].startswith("attachment"))
            self.assertEqual(hdrs["x-content-type-options"], "nosniff")
            self.assertEqual(hdrs["content-security-policy"], "sandbox")
            self.assertEqual(hdrs["content-type"], entry["type"])
            self.assertEqual(data, (d.job_dir(job_id) / "artifacts" / path).read_bytes())
        rows = list(csv.reader(io.StringIO(
            as_user("a", lambda: d.client().artifact(job_id, "x.csv"))[0].decode())))
        self.assertEqual(rows, [["x", "double"], ["1", "2"], ["2", "4"], ["3", "6"]])

        def tar():
            buf = io.BytesIO()
            n = d.client().artifacts_tar(job_id, buf)
            return n, buf.getvalue(), LAST[0].headers

        n, blob, hdrs = as_user("a", tar)
        self.assertEqual(n, len(blob))
        self.assertEqual(hdrs["content-type"], "application/x-tar")
        self.assertTrue(hdrs["content-disposition"].startswith("attachment"))
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
            self.assertTrue(all(m.isfile() for m in t.getmembers()))
        self.assertEqual(sorted(members), sorted(taken))
        for path, data in members.items():
            self.assertEqual(hashlib.sha256(data).hexdigest(), taken[path]["sha256"], path)

        # Unknown or refused paths are not artifacts; escaping ones are not
        # even routed (a ".." segment, as such or escaped, is 400).
        for target, status, code in (
                (f"/v1/jobs/{job_id}/artifacts/nope.csv", 404, "artifact_not_found"),
                (f"/v1/jobs/{job_id}/artifacts/run.sh", 404, "artifact_not_found"),
                (f"/v1/jobs/{job_id}/artifacts/link.csv", 404, "artifact_not_found"),
                (f"/v1/jobs/{job_id}/artifacts/sub", 404, "artifact_not_found"),
                (f"/v1/jobs/{job_id}/artifacts/sub//x.csv", 404, "artifact_not_found"),
                (f"/v1/jobs/{job_id}/artifacts/sub/../x.csv", 400, "bad_request"),
                (f"/v1/jobs/{job_id}/artifacts/../../inputs/export.R", 400, "bad_request"),
                (f"/v1/jobs/{job_id}/artifacts/..%2F..%2Finputs%2Fexport.R", 400, "bad_request")):
            r = as_user("a", raw, d.sock, f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n".encode(), "GET", target)
            problem_of(self, r, status, code)
        r = request(d.sock, "GET", f"/v1/jobs/{job_id}/artifacts/x%zz.csv")
        problem_of(self, r, 400, "bad_request")

        # The audit log: started (with the host uid), finished, reads.
        started = d.audit("job.started", job_id)
        self.assertEqual(len(started), 1)
        self.assertGreaterEqual(started[0]["details"]["host_uid"], 65536)
        fin = d.audit("job.finished", job_id)
        self.assertEqual([r["verdict"] for r in fin], ["ok"])
        reads = d.audit("artifact.read", job_id)
        self.assertEqual(len(reads), 5)  # three files, x.csv again, the tar
        self.assertTrue(all(r["actor"]["uid"] == UID_A for r in reads))
        # Content, names and labels never go to the log.
        text = d.audit_text()
        for secret in ("secret-label-value-42", "export.R", "cohort.csv", "a b.csv", "meta.json"):
            self.assertNotIn(secret, text)

    def test_wait(self):
        d = self.daemon
        j = as_user("a", submit_sh, d, SLEEP_SH)
        as_user("a", wait_running, d, j["id"])
        t0 = time.monotonic()
        job = as_user("a", lambda: d.client().job(j["id"], wait=2))
        elapsed = time.monotonic() - t0
        self.assertEqual(job["state"], "running")
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 10)
        for bad in ("61", "-1", "x", "1.5"):
            problem_of(self, request(d.sock, "GET", f"/v1/jobs/{j['id']}?wait={bad}"),
                       400, "bad_request")
        # A wait ends when the job does, not at its deadline.
        quick = as_user("a", submit_sh, d, "echo quick\n")
        t0 = time.monotonic()
        job = as_user("a", lambda: d.client().job(quick["id"], wait=60))
        self.assertEqual((job["state"], job["verdict"]), ("finished", "ok"))
        self.assertLess(time.monotonic() - t0, 30)
        as_user("a", lambda: d.client().cancel(j["id"]))
        job = as_user("a", wait_job, d, j["id"])
        self.assertEqual(job["verdict"], "cancelled")

    def test_list_filters_and_paging(self):
        d = self.daemon
        tag = secrets.token_hex(4)

        def submit_five():
            return [submit_sh(d, f"echo {i}\n", labels={"batch": tag, "i": str(i),
                                                         "k": f"a={i}"})["id"]
                    for i in range(5)]

        ids = as_user("b", submit_five)
        for i in ids:
            as_user("b", wait_job, d, i)

        def listing(**kw):
            return d.client().jobs(**kw)

        page = as_user("b", listing, label=f"batch={tag}")
        # Newest first: by creation time, then (the same millisecond) by id.
        self.assertEqual(sorted(page["jobs"], key=list_key, reverse=True), page["jobs"])
        self.assertEqual({j["id"] for j in page["jobs"]}, set(ids))
        # Submitted one after another: never listed before an earlier one.
        when = {j["id"]: created_ms(j) for j in page["jobs"]}
        self.assertEqual([when[i] for i in ids], sorted(when[i] for i in ids))
        order = [j["id"] for j in page["jobs"]]
        self.assertIsNone(page["next"])
        # Rows leave the artifact manifest out (it can be large); the job has it.
        self.assertEqual(page["jobs"][0]["result"]["verdict"], "ok")
        self.assertNotIn("artifacts", page["jobs"][0]["result"])
        self.assertIn("artifacts", as_user("b", lambda: d.client().job(ids[-1]))["result"])
        self.assertEqual([j["id"] for j in as_user("b", listing, label=f"batch={tag}",
                                                   state="finished")["jobs"]], order)
        self.assertEqual(as_user("b", listing, label=f"batch={tag}", state="queued")["jobs"], [])
        self.assertEqual(as_user("b", listing, label=f"batch={tag}", state="running")["jobs"], [])
        self.assertEqual([j["id"] for j in as_user("b", listing, label="i=3")["jobs"]][:1],
                         [ids[3]])
        self.assertEqual([j["id"] for j in as_user("b", listing, label="k=a=2")["jobs"]][:1],
                         [ids[2]])
        self.assertEqual(as_user("b", listing, label=f"batch={tag}x")["jobs"], [])

        # Paging: 2, 2, 1, then no further cursor.
        seen, before, pages = [], None, []
        while True:
            page = as_user("b", listing, label=f"batch={tag}", limit=2, before=before)
            pages.append(len(page["jobs"]))
            seen += [j["id"] for j in page["jobs"]]
            before = page["next"]
            if before is None:
                break
            self.assertLess(len(pages), 5)
        self.assertEqual(pages, [2, 2, 1])
        self.assertEqual(seen, order)
        # A page that ends exactly at the last job is the last page.
        page = as_user("b", listing, label=f"batch={tag}", limit=5)
        self.assertEqual(len(page["jobs"]), 5)
        self.assertIsNone(page["next"], "next must be null on the last page")
        # The client's iterator follows the cursors.
        self.assertEqual([j["id"] for j in as_user(
            "b", lambda: list(d.client().iter_jobs(label=f"batch={tag}", limit=2)))], order)

        # Admins see every owner, and may narrow by owner.
        mine = d.client().jobs(owner=UID_B, label=f"batch={tag}")["jobs"]
        self.assertEqual([j["id"] for j in mine], order)
        self.assertEqual(d.client().jobs(owner=UID_A, label=f"batch={tag}")["jobs"], [])

        for q in ("state=bogus", "limit=0", "limit=501", "limit=x", "before=abc", "before=-1",
                  "before=1234", f"before=-{ids[0]}", f"before=12-{ids[0]}x", "before=12-abc",
                  f"before=x-{ids[0]}", f"before=99999999999999999999-{ids[0]}",
                  "label=nokey", "label==x", "label=BAD KEY=1", "owner=x", "wait=1", "bogus=1",
                  f"label=batch={tag}&label=i=1", "limit=2&limit=3", "state"):
            r = request(d.sock, "GET", "/v1/jobs?" + q.replace(" ", "%20"))
            problem_of(self, r, 400, "bad_request")
        # A submitter may not ask for another owner's jobs.
        with self.assertRaises(cc.CordonError) as cm:
            as_user("b", listing, owner=UID_A)
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))
        self.assertEqual(len(as_user("b", listing, owner=UID_B, label=f"batch={tag}")["jobs"]), 5)

    def test_list_cursor_hides_others_activity(self):
        """The list cursor is the last job's own creation time and id: it
        moves with the caller's jobs only. It was the store's row number,
        shared by every client, so that a client saw from two cursors how
        many jobs others had submitted in between (threat-model.md, "one
        backend watching another's activity")."""
        d = self.daemon
        tag = secrets.token_hex(4)

        def submit(n):
            return [submit_sh(d, "true\n", labels={"cur": tag})["id"] for _ in range(n)]

        def first_page():
            return d.client().jobs(label=f"cur={tag}", limit=1)

        b_jobs = as_user("b", submit, 2)
        page = as_user("b", first_page)
        self.assertEqual(len(page["jobs"]), 1)
        last = page["jobs"][0]
        self.assertEqual(page["next"], f"{created_ms(last)}-{last['id']}")
        a_jobs = as_user("a", submit, 3)
        # Another client's jobs move nothing of the caller's list.
        again = as_user("b", first_page)
        self.assertEqual((again["jobs"][0]["id"], again["next"]), (last["id"], page["next"]))
        b_jobs += as_user("b", submit, 1)
        page2 = as_user("b", first_page)
        last2 = page2["jobs"][0]
        self.assertEqual(last2["id"], b_jobs[-1])
        # Nothing in it but that job's own creation time and id: no count
        # of anything, so a's three jobs are nowhere in it.
        self.assertEqual(page2["next"], f"{created_ms(last2)}-{last2['id']}")
        # And it still pages the caller's jobs, each once, in order.
        rest = as_user("b", lambda: list(d.client().iter_jobs(label=f"cur={tag}", limit=1,
                                                               before=page2["next"])))
        self.assertEqual([j["id"] for j in [last2] + rest],
                         [j["id"] for j in sorted(
                             [as_user("b", lambda i=i: d.client().job(i)) for i in b_jobs],
                             key=list_key, reverse=True)])
        for j in b_jobs:
            as_user("b", lambda j=j: d.client().delete(j))
        for j in a_jobs:
            as_user("a", lambda j=j: d.client().delete(j))

    def test_list_paging_survives_deletes(self):
        """A page's jobs deleted before the next page is asked (a clean-up
        that lists and deletes as it goes): the next page goes on below the
        deleted job; every job is seen exactly once. A cursor that names no
        job, or another client's, is only a position: it shows nothing of
        theirs."""
        d = self.daemon
        tag = secrets.token_hex(4)

        def run():
            c = d.client()
            ids = [submit_sh(d, "true\n", labels={"del": tag})["id"] for _ in range(5)]
            for i in ids:
                wait_job(d, i)
            order = [j["id"] for j in c.jobs(label=f"del={tag}")["jobs"]]
            seen, before = [], None
            while True:
                page = c.jobs(label=f"del={tag}", limit=2, before=before)
                seen += [j["id"] for j in page["jobs"]]
                for j in page["jobs"]:
                    c.delete(j["id"])
                before = page["next"]
                if before is None:
                    return ids, order, seen

        ids, order, seen = as_user("b", run)
        self.assertEqual(set(order), set(ids))
        self.assertEqual(seen, order)
        # a's cursor naming b's job: a's own jobs only, as from any position.
        def submit_one():
            return d.client().job(submit_sh(d, "true\n", labels={"del": tag})["id"])

        other = as_user("b", submit_one)
        mine = as_user("a", submit_one)
        far = f"{created_ms(other) + 10 ** 9}-{other['id']}"
        page = as_user("a", lambda: d.client().jobs(label=f"del={tag}", before=far))
        self.assertEqual([j["id"] for j in page["jobs"]], [mine["id"]])
        as_user("b", lambda: d.client().delete(other["id"]))
        as_user("a", lambda: d.client().delete(mine["id"]))

    def test_unknown_query_parameters(self):
        d = self.daemon
        j = as_user("a", submit_sh, d, "echo hi\n")
        as_user("a", wait_job, d, j["id"])
        for target in ("/v1/health?x=1", "/v1/profiles?verbose=1", f"/v1/jobs/{j['id']}?x=1",
                       f"/v1/jobs/{j['id']}?wait=1&wait=2", f"/v1/jobs/{j['id']}/stdout?offset=3",
                       f"/v1/jobs/{j['id']}/artifacts?x", "/metrics?name=x",
                       "/v1/health?a=%zz", f"/v1/jobs/{j['id']}%2"):
            problem_of(self, request(d.sock, "GET", target), 400, "bad_request")
        jobs_before = d.job_entries()
        ct, body = multipart([("job", None, "application/json",
                               job_bytes({"profile": "default", "entry": "j.sh"})),
                              ("f", "j.sh", None, b"echo\n")])
        problem_of(self, request(d.sock, "POST", "/v1/jobs?priority=1", body,
                                 {"Content-Type": ct}), 400, "bad_request")
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{j['id']}/cancel?force=1"),
                   400, "bad_request")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{j['id']}?now=1"),
                   400, "bad_request")
        self.assertEqual(d.job_entries(), jobs_before)
        self.assertEqual(as_user("a", lambda: d.client().job(j["id"]))["state"], "finished")

    def test_output_truncated(self):
        d = self.daemon
        j = as_user("a", submit_sh, d, "head -c 10000 /dev/zero | tr '\\0' a\necho tail >&2\n")
        job = as_user("a", wait_job, d, j["id"])
        self.assertEqual(job["verdict"], "ok", job)
        self.assertEqual(job["result"]["output"]["stdout_bytes"], 10000)
        self.assertTrue(job["result"]["output"]["stdout_truncated"])
        self.assertFalse(job["result"]["output"]["stderr_truncated"])
        out, trunc = as_user("a", lambda: d.client().stdout(j["id"]))
        self.assertEqual(out, b"a" * 4096)
        self.assertTrue(trunc)
        err, trunc = as_user("a", lambda: d.client().stderr(j["id"]))
        self.assertEqual(err, b"tail\n")
        self.assertFalse(trunc)
        r = request(d.sock, "GET", f"/v1/jobs/{j['id']}/stdout")
        self.assertEqual(r.headers["cordon-truncated"], "true")
        self.assertEqual(r.headers["content-type"], "application/octet-stream")
        # What the job wrote is served as an artifact is: never rendered.
        self.assertEqual(r.headers["content-disposition"], "attachment")
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertEqual(r.headers["content-security-policy"], "sandbox")
        # Ranges stop at what was kept, and still say it was cut.
        r = request(d.sock, "GET", f"/v1/jobs/{j['id']}/stdout", headers={"Range": "bytes=4000-"})
        self.assertEqual((r.status, r.body), (206, b"a" * 96), r)
        self.assertEqual(r.headers["content-range"], "bytes 4000-4095/4096")
        self.assertEqual(r.headers["cordon-truncated"], "true")
        r = request(d.sock, "GET", f"/v1/jobs/{j['id']}/stdout", headers={"Range": "bytes=4096-"})
        problem_of(self, r, 416, "range_not_satisfiable")
        self.assertEqual(r.headers["content-range"], "bytes */4096")
        self.assertEqual(r.headers["cordon-truncated"], "true")

    def test_output_of_exactly_the_cap_is_whole(self):
        """A job that writes exactly output_max bytes lost none: its result
        says stdout_truncated false, and so does Cordon-Truncated. The
        header used to say true for any file at the cap."""
        d = self.daemon
        j = as_user("a", submit_sh, d, "head -c 4096 /dev/zero | tr '\\0' a\n")["id"]
        job = as_user("a", wait_job, d, j)
        self.assertEqual(job["result"]["output"]["stdout_bytes"], 4096, job)
        self.assertFalse(job["result"]["output"]["stdout_truncated"])
        out, trunc = as_user("a", lambda: d.client().stdout(j))
        self.assertEqual((out, trunc), (b"a" * 4096, False))
        r = request(d.sock, "GET", f"/v1/jobs/{j}/stdout", headers={"Range": "bytes=4000-"})
        self.assertEqual((r.status, r.headers["cordon-truncated"]), (206, "false"))

    def test_output_ranges(self):
        d = self.daemon
        j = as_user("a", submit_sh, d, "printf 0123456789abcdef\nprintf err >&2\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, j)["verdict"], "ok")

        def get(rng, stream="stdout", **extra):
            headers = dict(extra, **({"Range": rng} if rng is not None else {}))
            return request(d.sock, "GET", f"/v1/jobs/{j}/{stream}", headers=headers)

        r = get(None)
        self.assertEqual((r.status, r.body), (200, b"0123456789abcdef"), r)
        self.assertEqual(r.headers["accept-ranges"], "bytes")
        self.assertNotIn("content-range", r.headers)
        for rng, body, crange in (("bytes=0-", b"0123456789abcdef", "0-15/16"),
                                  ("bytes=4-7", b"4567", "4-7/16"),
                                  ("bytes=10-", b"abcdef", "10-15/16"),
                                  ("bytes=10-1000", b"abcdef", "10-15/16"),
                                  ("bytes=15-15", b"f", "15-15/16"),
                                  ("bytes=0-0", b"0", "0-0/16"),
                                  ("bytes=1-2 \t", b"12", "1-2/16"),
                                  ("BYTES=2-3", b"23", "2-3/16")):
            with self.subTest(rng=rng):
                r = get(rng)
                self.assertEqual((r.status, r.body), (206, body), r)
                self.assertEqual(r.headers["content-range"], "bytes " + crange)
                self.assertEqual(r.headers["content-length"], str(len(body)))
                self.assertEqual(r.headers["cordon-truncated"], "false")
                self.assertEqual(r.headers["content-type"], "application/octet-stream")
        r = get("bytes=1-", "stderr")
        self.assertEqual((r.status, r.body, r.headers["content-range"]),
                         (206, b"rr", "bytes 1-2/3"), r)
        for rng in ("bytes=16-", "bytes=16-20", "bytes=100-"):
            with self.subTest(rng=rng):
                r = get(rng)
                problem_of(self, r, 416, "range_not_satisfiable")
                self.assertEqual(r.headers["content-range"], "bytes */16")
                self.assertEqual(r.headers["cordon-truncated"], "false")
        # Ranges this server does not take: refused, saying which it takes.
        for rng in ("bytes=abc", "bytes=5-3", "bytes=-5", "bytes=0-1,4-5", "bytes=0-1, 4-5",
                    "bytes=", "bytes=-", "bytes= 1-2", "bytes=1 -2", "bytes=+1-",
                    "bytes=18446744073709551616-", "bytes=1-x"):
            with self.subTest(rng=rng):
                doc = problem_of(self, get(rng), 400, "bad_request")
                self.assertIn("bytes=N-", doc["detail"])
        # Another unit, or a Range under If-Range (output has no validator):
        # ignored, the whole stream.
        for rng, extra in (("items=0-5", {}), ("bytes=4-7", {"If-Range": '"x"'})):
            with self.subTest(rng=rng, extra=extra):
                r = get(rng, **extra)
                self.assertEqual((r.status, r.body), (200, b"0123456789abcdef"), r)
        # Someone else's job: no such job, whatever the range.
        r = as_user("b", request, d.sock, "GET", f"/v1/jobs/{j}/stdout",
                    headers={"Range": "bytes=0-"})
        problem_of(self, r, 404, "job_not_found")

    def test_cancel_queued_and_running(self):
        d = self.daemon
        running = [as_user("a", submit_sh, d, SLEEP_SH)["id"] for _ in range(2)]
        for i in running:
            as_user("a", wait_running, d, i)
        queued = as_user("a", submit_sh, d, "echo never\n")["id"]
        job = as_user("a", lambda: d.client().job(queued))
        self.assertEqual(job["state"], "queued")
        self.assertEqual(job["queue_position"], 1)
        # Output of a queued job: empty; no range of it can be served.
        self.assertEqual(as_user("a", lambda: d.client().stdout(queued)), (b"", False))
        r = as_user("a", request, d.sock, "GET", f"/v1/jobs/{queued}/stdout",
                    headers={"Range": "bytes=0-"})
        problem_of(self, r, 416, "range_not_satisfiable")
        self.assertEqual(r.headers["content-range"], "bytes */0")

        # Cancel the queued one: finished at once, never started; its inputs
        # (the client's data, which nothing serves any more) are gone.
        self.assertTrue((d.job_dir(queued) / "inputs" / "job.sh").is_file())
        job = as_user("a", lambda: d.client().cancel(queued))
        self.assertEqual((job["state"], job["verdict"]), ("finished", "cancelled"))
        self.assertFalse((d.job_dir(queued) / "inputs").exists())
        self.assertIsNone(job["started"])
        self.assertIsNone(job["result"])
        self.assertEqual(as_user("a", lambda: d.client().artifacts(queued))["artifacts"], [])

        def tar_of(job_id):
            buf = io.BytesIO()
            d.client().artifacts_tar(job_id, buf)
            with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:") as t:
                return t.getnames()

        self.assertEqual(as_user("a", tar_of, queued), [])  # nothing collected: an empty tar
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().cancel(queued))
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "job_finished"))

        # Cancel a running one: SIGTERM, then it ends as cancelled.
        job = as_user("a", lambda: d.client().cancel(running[0]))
        self.assertIn(job["state"], ("running", "finished"))
        job = as_user("a", wait_job, d, running[0], 60)
        self.assertEqual(job["verdict"], "cancelled")
        self.assertEqual(job["result"]["verdict"], "cancelled")
        self.assertEqual(as_user("a", lambda: d.client().stdout(running[0]))[0], b"started\n")
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().cancel(running[0]))
        self.assertEqual(cm.exception.code, "job_finished")
        # An admin may cancel anyone's job.
        job = d.client().cancel(running[1])
        self.assertEqual(wait_job(d, running[1], 60)["verdict"], "cancelled")

        for i in (queued, running[0]):
            recs = d.audit("job.cancelled", i)
            self.assertEqual(len(recs), 1, i)
            self.assertEqual(recs[0]["actor"]["uid"], UID_A)
        self.assertEqual(d.audit("job.cancelled", running[1])[0]["actor"]["uid"], 0)
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", queued)], ["cancelled"])
        # The cancelled jobs' cgroups and processes are gone.
        self.assertEqual(leaf_cgroups(), [])
        self.assertEqual(job_processes(), [])
        # Cancel takes no body.
        r = request(d.sock, "POST", f"/v1/jobs/{queued}/cancel", b"x" * 10,
                    {"Content-Type": "text/plain"})
        problem_of(self, r, 400, "bad_request")

    def test_artifacts_of_unfinished_job(self):
        d = self.daemon
        j = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, j)
        for fn in (lambda: d.client().artifacts(j), lambda: d.client().artifact(j, "x.csv"),
                   lambda: d.client().artifacts_tar(j, io.BytesIO())):
            with self.assertRaises(cc.CordonError) as cm:
                as_user("a", fn)
            self.assertEqual((cm.exception.status, cm.exception.code), (409, "job_not_finished"))
        out, trunc = as_user("a", lambda: d.client().stdout(j))
        self.assertEqual(out, b"started\n")
        # A running job's stream: a range of what is there so far.
        r = as_user("a", request, d.sock, "GET", f"/v1/jobs/{j}/stdout",
                    headers={"Range": "bytes=3-"})
        self.assertEqual((r.status, r.body, r.headers["content-range"]),
                         (206, b"rted\n", "bytes 3-7/8"), r)
        as_user("a", lambda: d.client().cancel(j))
        as_user("a", wait_job, d, j)

    def test_delete(self):
        d = self.daemon
        # A finished job with artifacts.
        j = as_user("a", lambda: d.client().submit(
            "data-export", entry="export.R",
            inputs={"export.R": EXPORT_R.encode(), "cohort.csv": COHORT_CSV}))["id"]
        self.assertEqual(as_user("a", wait_job, d, j, 240)["verdict"], "ok")
        self.assertTrue((d.job_dir(j) / "artifacts" / "x.csv").is_file())
        self.assertEqual(as_user("a", lambda: (d.client().delete(j), LAST[0].status)),
                         (None, 204))
        self.assertFalse(d.job_dir(j).exists())
        self.assertFalse((d.state / "jobs" / f"{j}.partial").exists())
        for fn in (lambda: d.client().job(j), lambda: d.client().delete(j),
                   lambda: d.client().stdout(j), lambda: d.client().artifacts(j),
                   lambda: d.client().cancel(j)):
            with self.assertRaises(cc.CordonError) as cm:
                as_user("a", fn)
            self.assertEqual((cm.exception.status, cm.exception.code), (404, "job_not_found"))
        self.assertNotIn(j, [x["id"] for x in d.client().jobs(limit=500)["jobs"]])
        recs = d.audit("job.deleted", j)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["actor"]["uid"], UID_A)

        # A running job: cancelled, waited for, then deleted.
        r = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, r)
        t0 = time.monotonic()
        as_user("a", lambda: d.client().delete(r))
        self.assertLess(time.monotonic() - t0, 30)
        self.assertFalse(d.job_dir(r).exists())
        self.assertEqual(leaf_cgroups(), [])
        self.assertEqual(job_processes(), [])
        self.assertEqual([x["verdict"] for x in d.audit("job.finished", r)], ["cancelled"])
        self.assertEqual(len(d.audit("job.deleted", r)), 1)

        # A queued job.
        blockers = [as_user("a", submit_sh, d, SLEEP_SH)["id"] for _ in range(2)]
        q = as_user("a", submit_sh, d, "echo q\n")["id"]
        self.assertTrue(d.job_dir(q).is_dir())
        as_user("a", lambda: d.client().delete(q))
        self.assertFalse(d.job_dir(q).exists())
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().job(q))
        self.assertEqual(cm.exception.code, "job_not_found")
        # An admin deletes anyone's.
        for b in blockers:
            d.client().delete(b)
            self.assertFalse(d.job_dir(b).exists())

    def test_simultaneous_deletes_delete_once(self):
        """Four DELETEs of one running job: one 204, the rest 404, one record."""
        d = self.daemon
        j = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, j)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(
                lambda _: request(d.sock, "DELETE", f"/v1/jobs/{j}"), range(4)))
        self.assertEqual(sorted(r.status for r in answers), [204, 404, 404, 404])
        for r in answers:
            if r.status == 404:
                problem_of(self, r, 404, "job_not_found")
        self.assertFalse(d.job_dir(j).exists())
        self.assertEqual(len(d.audit("job.deleted", j)), 1)
        self.assertEqual([x["verdict"] for x in d.audit("job.finished", j)], ["cancelled"])
        self.assertEqual(leaf_cgroups(), [])

    # -- who sees what --

    def test_encoded_nul_never_cuts_a_path(self):
        """%00 stays as sent: /v1/jobs/ID%00/stdout is no path, not GET /v1/jobs/ID."""
        d = self.daemon
        job = submit_sh(d, "echo nul-test; echo x > '/out/a b.csv'\n")["id"]
        wait_job(d, job)
        for target in (f"/v1/jobs/{job}%00/stdout", f"/v1/jobs/{job}%00",
                       f"/v1/jobs/{job}/stdout%00", f"/v1/jobs?label=a%00b"):
            resp = request(d.sock, "GET", target)
            self.assertIn(resp.status, (400, 404), target)
            self.assertNotIn(job.encode(), resp.body, target)
        # Other escapes are still decoded.
        resp = request(d.sock, "GET", f"/v1/jobs/{job}/artifacts/a%20b.csv")
        self.assertEqual((resp.status, resp.body), (200, b"x\n"))

    def test_submitters_are_isolated(self):
        d = self.daemon
        mine = as_user("a", submit_sh, d, SLEEP_SH, labels={"owner": "a"})["id"]
        done = as_user("a", submit_sh, d, "echo a-secret\n", labels={"owner": "a"})["id"]
        as_user("a", wait_job, d, done)
        as_user("a", wait_running, d, mine)
        theirs = as_user("b", submit_sh, d, "echo b\n")["id"]
        as_user("b", wait_job, d, theirs)

        for target in (mine, done):
            for name, fn in (("job", lambda t=target: d.client().job(t)),
                             ("wait", lambda t=target: d.client().job(t, wait=1)),
                             ("stdout", lambda t=target: d.client().stdout(t)),
                             ("stderr", lambda t=target: d.client().stderr(t)),
                             ("artifacts", lambda t=target: d.client().artifacts(t)),
                             ("artifact", lambda t=target: d.client().artifact(t, "x.csv")),
                             ("tar", lambda t=target: d.client().artifacts_tar(t, io.BytesIO())),
                             ("cancel", lambda t=target: d.client().cancel(t)),
                             ("delete", lambda t=target: d.client().delete(t))):
                with self.assertRaises(cc.CordonError, msg=name) as cm:
                    as_user("b", fn)
                self.assertEqual((cm.exception.status, cm.exception.code),
                                 (404, "job_not_found"), name)
        listed = [j["id"] for j in as_user("b", lambda: d.client().jobs(limit=500))["jobs"]]
        self.assertIn(theirs, listed)
        self.assertNotIn(mine, listed)
        self.assertNotIn(done, listed)
        self.assertEqual(as_user("b", lambda: d.client().jobs(label="owner=a"))["jobs"], [])
        self.assertTrue(all(j["owner_uid"] == UID_B
                            for j in as_user("b", lambda: d.client().jobs(limit=500))["jobs"]))
        # A's jobs are untouched; A does not see B's either.
        self.assertEqual(as_user("a", lambda: d.client().job(mine))["state"], "running")
        self.assertTrue(d.job_dir(done).is_dir())
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().job(theirs))
        self.assertEqual(cm.exception.code, "job_not_found")
        # A submitter by group is a submitter of its own.
        with self.assertRaises(cc.CordonError) as cm:
            as_user("groupsub", lambda: d.client().job(done))
        self.assertEqual(cm.exception.code, "job_not_found")
        self.assertEqual(as_user("groupsub", lambda: d.client().jobs())["jobs"], [])
        g = as_user("groupsub", submit_sh, d, "echo g\n")["id"]
        self.assertEqual(as_user("groupsub", wait_job, d, g)["owner_uid"], USERS["groupsub"][0])
        self.assertEqual([j["id"] for j in as_user("groupsub", lambda: d.client().jobs())["jobs"]],
                         [g])
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().job(g))
        self.assertEqual(cm.exception.code, "job_not_found")
        # Admins see all.
        admin = [j["id"] for j in d.client().jobs(limit=500)["jobs"]]
        self.assertTrue({mine, done, theirs} <= set(admin))
        self.assertEqual(d.client().job(done)["owner_uid"], UID_A)
        self.assertEqual(as_user("groupadmin", lambda: d.client().job(done))["owner_uid"], UID_A)
        self.assertEqual(d.client().stdout(done)[0], b"a-secret\n")
        as_user("a", lambda: d.client().cancel(mine))
        as_user("a", wait_job, d, mine)

    # -- refusals --

    def test_submit_refusals(self):
        d = self.daemon
        sh = [("job.sh", b"echo hi\n")]
        ok = {"profile": "default", "entry": "job.sh"}
        cases = [
            # (job part, files, status, code)
            (b"{not json", sh, 400, "invalid_json"),
            (b"", sh, 400, "invalid_json"),
            (b'["profile"]', sh, 400, "invalid_json"),
            ({**ok, "colour": "red"}, sh, 400, "invalid_json"),
            ({**ok, "inputs": ["job.sh"]}, sh, 400, "invalid_json"),
            (b'{"profile": "default", "entry": "job.sh", "entry": "job.sh"}', sh, 400,
             "invalid_json"),
            (b'{"profile": "default", "entry": "job.sh", "labels": {"a": "1", "a": "2"}}', sh, 400,
             "invalid_json"),
            ({**ok, "limits": {"memory": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}, sh,
             400, "invalid_json"),
            ({"profile": 5, "entry": "job.sh"}, sh, 400, "invalid_json"),
            ({"entry": "job.sh"}, sh, 400, "invalid_json"),
            ({**ok, "labels": ["a"]}, sh, 400, "invalid_json"),
            ({**ok, "entry": "../job.sh"}, sh, 400, "invalid_request"),
            ({**ok, "entry": "-job.sh"}, sh, 400, "invalid_request"),
            ({**ok, "entry": "/work/job.sh"}, sh, 400, "invalid_request"),
            ({**ok, "entry": "missing.sh"}, sh, 400, "invalid_request"),
            # No inputs at all: the entry is among none of them either.
            ({**ok, "entry": "python3"}, [], 400, "invalid_request"),
            ({"profile": "default"}, sh, 400, "invalid_request"),
            ({**ok, "labels": {"Bad Key": "x"}}, sh, 400, "invalid_request"),
            ({**ok, "labels": {"": "x"}}, sh, 400, "invalid_request"),
            ({**ok, "labels": {"k" * 65: "x"}}, sh, 400, "invalid_request"),
            ({**ok, "labels": {"k": "v" * 257}}, sh, 400, "invalid_request"),
            ({**ok, "labels": {"k": 5}}, sh, 400, "invalid_request"),
            ({**ok, "labels": {f"k{i}": "v" for i in range(17)}}, sh, 400, "invalid_request"),
            ({**ok, "limits": {"memory": "lots"}}, sh, 400, "invalid_request"),
            ({**ok, "limits": {"wall": "-5s"}}, sh, 400, "invalid_request"),
            ({**ok, "limits": {"colour": "1"}}, sh, 400, "invalid_request"),
            ({**ok, "limits": {"memory": "3G"}}, sh, 400, "limit_exceeded"),
            ({"profile": "data-export", "entry": "job.R", "limits": {"memory": "2G"}},
             [("job.R", b"1\n")], 400, "limit_exceeded"),
            ({"profile": "nope", "entry": "job.sh"}, sh, 400, "unknown_profile"),
            ({"profile": "../default", "entry": "job.sh"}, sh, 400, "invalid_request"),
            (ok, [("../x", b"1")], 400, "bad_input_name"),
            (ok, [("-x", b"1")], 400, "bad_input_name"),
            (ok, [(".x", b"1")], 400, "bad_input_name"),
            (ok, [("..", b"1")], 400, "bad_input_name"),
            (ok, [("a/b", b"1")], 400, "bad_input_name"),
            (ok, [(b"\xff.sh", b"1")], 400, "bad_input_name"),
            (ok, [("x" * 256, b"1")], 400, "bad_input_name"),
            # HTML5 form encoding (curl, browsers) sends '"', LF and CR as
            # %22, %0A, %0D and leaves '%' alone: such a name is ambiguous.
            (ok, sh + [("secretname%22x.csv", b"1")], 400, "bad_input_name"),
            (ok, sh + [("secretname%0ax.csv", b"1")], 400, "bad_input_name"),
            (ok, sh + [("secretname%0Dx.csv", b"1")], 400, "bad_input_name"),
            (ok, sh + [(b'secretname\\"x.csv', b"1")], 400, "bad_input_name"),
            (ok, sh + [("100%.csv", b"1"), ("%41%2F%20.csv", b"2")], 201, None),
            (ok, sh + [("job.sh", b"echo again\n")], 400, "duplicate_input"),
        ]
        if not Path("/opt/quarto/bin/quarto").exists():
            cases.append(({"profile": "quarto", "entry": "r.qmd"}, [("r.qmd", b"# x\n")], 400,
                          "profile_unavailable"))
        for job, files, status, code in cases:
            with self.subTest(job=job_bytes(job)[:80], files=[f[0] for f in files]):
                jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
                r = as_user("a", submit_raw, d.sock, job, files)
                if status == 201:
                    self.assertEqual(r.status, 201, r)
                    names = sorted(os.listdir(d.job_dir(r.json()["id"]) / "inputs"))
                    self.assertEqual(names, sorted(f[0] for f in files))
                    d.client().delete(r.json()["id"])
                    continue
                doc = problem_of(self, r, status, code)
                # The detail never repeats request content.
                for s in ("nope", "missing.sh", "Bad Key", "colour", "lots", "\xff", "x" * 100,
                          "secretname"):
                    if s.encode() in job_bytes(job) or any(s.encode() in (
                            f[0] if isinstance(f[0], bytes) else f[0].encode()) for f in files):
                        self.assertNotIn(s, doc.get("detail", ""), doc)
                self.assert_nothing_stored(d, jobs_before, sub_before)

    def test_multipart_refusals(self):
        d = self.daemon
        ok_job = job_bytes({"profile": "default", "entry": "job.sh"})
        sh = ("f", "job.sh", "application/octet-stream", b"echo hi\n")
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))

        def post(parts, ctype=None, boundary=None):
            ct, body = multipart(parts, boundary)
            return request(d.sock, "POST", "/v1/jobs", body, {"Content-Type": ctype or ct})

        # No job part; two job parts; a field that is neither.
        problem_of(self, post([sh]), 400, "bad_request")
        problem_of(self, post([("job", None, "application/json", ok_job)] * 2 + [sh]), 400,
                   "bad_request")
        problem_of(self, post([("job", None, "application/json", ok_job), sh,
                               ("comment", None, None, b"hello")]), 400, "bad_request")
        # A job part without a content type is JSON; one with another type is refused.
        r = post([("job", None, None, ok_job), sh])
        self.assertEqual(r.status, 201, r)
        d.client().delete(r.json()["id"])
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        problem_of(self, post([("job", None, "text/plain", ok_job), sh]), 415,
                   "unsupported_media_type")
        # Not multipart at all.
        for ctype, body in (("application/json", ok_job), ("text/plain", b"hello"),
                            ("application/x-www-form-urlencoded", b"job=1")):
            r = request(d.sock, "POST", "/v1/jobs", body, {"Content-Type": ctype})
            problem_of(self, r, 415, "unsupported_media_type")
        r = request(d.sock, "POST", "/v1/jobs", ok_job)
        problem_of(self, r, 415, "unsupported_media_type")
        problem_of(self, request(d.sock, "POST", "/v1/jobs", b"--x--\r\n",
                                 {"Content-Type": "multipart/form-data"}),
                   415, "unsupported_media_type")
        # A one-character boundary is valid (RFC 2046 5.1.1), but libmicrohttpd
        # (0.9.75) cannot parse it: refused, and the answer says why.
        doc = problem_of(self, post([("job", None, "application/json", ok_job), sh],
                                    boundary="b"), 415, "unsupported_media_type")
        self.assertIn("one character", doc["detail"])
        # Two characters are enough.
        r = post([("job", None, "application/json", ok_job), sh], boundary="bb")
        self.assertEqual(r.status, 201, r)
        d.client().delete(r.json()["id"])
        # libmicrohttpd (0.9.75) reads "boundary=" in lower case only, and
        # the rest of the header as the boundary: a parameter after it, or
        # another spelling, is valid (RFC 2045, 2046) but not parsed here,
        # so refused for that, and said so. Before: 400 "no `job` part"
        # (the body never showed the boundary taken), or a 415 that blamed
        # a one-character boundary.
        for ctype in ("multipart/form-data; boundary=bnd; charset=utf-8",
                      'multipart/form-data; boundary="bnd"; charset=utf-8',
                      "multipart/form-data; boundary=bnd ",
                      "multipart/form-data; BOUNDARY=bnd", "multipart/form-data; Boundary=bnd"):
            doc = problem_of(self, post([("job", None, "application/json", ok_job), sh],
                                        ctype=ctype, boundary="bnd"),
                             415, "unsupported_media_type")
            self.assertIn("boundary", doc["detail"], ctype)
            self.assertNotIn("one character", doc["detail"], ctype)
        # A quoted boundary, and one after another parameter, are read.
        for ctype in ('multipart/form-data; boundary="bnd"',
                      "multipart/form-data; charset=utf-8; boundary=bnd"):
            r = post([("job", None, "application/json", ok_job), sh], ctype=ctype,
                     boundary="bnd")
            self.assertEqual(r.status, 201, (ctype, r))
            d.client().delete(r.json()["id"])
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        # Malformed multipart.
        for body in (b"garbage without any boundary\r\n", b"--bnd\r\nno headers end",
                     b"--bnd\r\nContent-Disposition: form-data; name=\"job\"\r\n\r\n{}"):
            r = request(d.sock, "POST", "/v1/jobs", body,
                        {"Content-Type": "multipart/form-data; boundary=bnd"})
            problem_of(self, r, 400, "bad_request")
        # An empty body.
        r = request(d.sock, "POST", "/v1/jobs", b"",
                    {"Content-Type": "multipart/form-data; boundary=bnd"})
        problem_of(self, r, 400, "bad_request")
        self.assert_nothing_stored(d, jobs_before, sub_before)

    def test_empty_part_is_a_part_of_its_own(self):
        """An empty part, then another: the next part's bytes are never
        taken for the empty one's (its file, or the `job` JSON)."""
        d = self.daemon
        ok_job = job_bytes({"profile": "default", "entry": "job.sh"})
        sh = ("f", "job.sh", "application/octet-stream", b"echo hi\n")

        def post(parts):
            ct, body = multipart(parts)
            return request(d.sock, "POST", "/v1/jobs", body, {"Content-Type": ct})

        r = post([("job", None, "application/json", ok_job),
                  ("f", "empty.csv", "text/csv", b""), sh])
        self.assertEqual(r.status, 201, r)
        job_id = r.json()["id"]
        inputs = d.job_dir(job_id) / "inputs"
        self.assertEqual((inputs / "empty.csv").read_bytes(), b"")
        self.assertEqual((inputs / "job.sh").read_bytes(), b"echo hi\n")
        d.client().delete(job_id)
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        # An empty `job` part, then a field that is not `job`, holding JSON.
        problem_of(self, post([("job", None, "application/json", b""),
                               ("comment", None, None, ok_job), sh]), 400, "bad_request")
        # An empty file part, then a file part of another field with its name.
        problem_of(self, post([("job", None, "application/json", ok_job),
                               ("f", "job.sh", "text/plain", b""), ("g",) + sh[1:]]), 400,
                   "duplicate_input")
        self.assert_nothing_stored(d, jobs_before, sub_before)

    def test_size_refusals(self):
        d = self.daemon
        ok = {"profile": "default", "entry": "job.sh"}
        sh = [("job.sh", b"echo hi\n")]
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))

        # Declared over max_body: refused before the body.
        ctype, _ = multipart([])
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {9 << 20}\r\n\r\n").encode()
        r = as_user("a", raw, d.sock, head + b"--x\r\n", "POST", "/v1/jobs")
        problem_of(self, r, 413, "body_too_large")
        # Streamed (chunked) over max_body: counted as it comes.
        ct, body = multipart([("job", None, "application/json", job_bytes(ok))] +
                             [(f"f{i}", f"in{i}", None, b"z" * (3 << 20) + b"\n")
                              for i in range(3)])

        def chunks():
            for i in range(0, len(body), 1 << 20):
                yield body[i:i + (1 << 20)]

        r = request(d.sock, "POST", "/v1/jobs", chunks(), {"Content-Type": ct})  # chunked
        problem_of(self, r, 413, "body_too_large")
        # Too many inputs, one input too large, a job part too large.
        r = submit_raw(d.sock, ok, sh + [(f"in{i}", b"1") for i in range(4)])
        problem_of(self, r, 413, "too_many_inputs")
        r = submit_raw(d.sock, ok, sh + [("big", b"b" * ((4 << 20) + 1))])
        problem_of(self, r, 413, "input_too_large")
        r = submit_raw(d.sock, {**ok, "labels": {f"k{i}": "v" * 200 for i in range(6)}}, sh)
        problem_of(self, r, 413, "json_too_large")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # At the limits: accepted.
        r = submit_raw(d.sock, ok, sh + [("big", b"b" * (4 << 20))] +
                       [(f"in{i}", b"1") for i in range(2)])
        self.assertEqual(r.status, 201, r)
        job_id = r.json()["id"]
        self.assertEqual((d.job_dir(job_id) / "inputs" / "big").stat().st_size, 4 << 20)
        d.client().delete(job_id)

        # Refused while the body arrives: answered at once, without waiting
        # for (or reading) the rest of a body declared much larger.
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))

        def early(parts, tail=b""):
            ct, body = multipart(parts, "cordon-early")
            body = body[:body.rindex(b"\r\n--cordon-early--")] + tail  # unfinished
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                    f"Content-Length: {len(body) + (3 << 20)}\r\n\r\n").encode()
            t0 = time.monotonic()
            r = raw(d.sock, head + body, "POST", "/v1/jobs", timeout=20)
            self.assertLess(time.monotonic() - t0, 10, "the answer waited for the body")
            return r

        job = ("job", None, "application/json", job_bytes(ok))
        problem_of(self, early([job, ("f", "big", None, b"b" * ((4 << 20) + 65536))]), 413,
                   "input_too_large")
        problem_of(self, early([job, ("f", "../x", None, b"1" * 1000)]), 400, "bad_input_name")
        problem_of(self, early([job, ("f", "a.sh", None, b"1"), ("g", "a.sh", None, b"2")]), 400,
                   "duplicate_input")
        problem_of(self, early([("job", None, "text/plain", job_bytes(ok))]), 415,
                   "unsupported_media_type")
        problem_of(self, early([job] + [(f"f{i}", f"in{i}", None, b"1") for i in range(5)]), 413,
                   "too_many_inputs")
        self.assert_nothing_stored(d, jobs_before, sub_before)

        # URL and header bounds (max_url 512, max_header 4096).
        problem_of(self, request(d.sock, "GET", "/v1/jobs/" + "a" * 600), 414, "uri_too_long")
        problem_of(self, request(d.sock, "GET", "/v1/health?" + "a=1&" * 150), 414,
                   "uri_too_long")
        problem_of(self, request(d.sock, "GET", "/v1/health", headers={"X-Big": "h" * 5000}),
                   431, "headers_too_large")
        problem_of(self, request(d.sock, "GET", "/v1/health",
                                 headers={f"X-H{i}": "h" * 100 for i in range(50)}),
                   431, "headers_too_large")
        self.assertEqual(d.client().health()["status"], "ok")

    def test_ambiguous_body_framing(self):
        """Content-Length with Transfer-Encoding, or either twice: 400, nothing stored."""
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        ct, body, chunked = small_upload("cordon-frame")
        for framing, data in (
                (f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked", chunked),
                (f"Transfer-Encoding: chunked\r\nContent-Length: {len(body)}", chunked),
                (f"Content-Length: {len(body)}\r\nContent-Length: {len(body)}", body),
                (f"Content-Length: {len(body)}\r\nContent-Length: 5", body),
                ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", chunked)):
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                    f"{framing}\r\n\r\n").encode()
            r = raw(d.sock, head + data, "POST", "/v1/jobs")
            self.assertEqual(r.status, 400, framing)
            if r.headers.get("content-type") == "application/problem+json":
                self.assertEqual(r.json()["code"], "bad_request", framing)
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # A body-less route: the same refusal, not a served GET.
        r = raw(d.sock, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", "/v1/health")
        problem_of(self, r, 400, "bad_request")
        # One framing, once: still accepted.
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n").encode()
        r = raw(d.sock, head + chunked, "POST", "/v1/jobs")
        self.assertEqual(r.status, 201, r)
        d.client().delete(r.json()["id"])

    def test_transfer_coding_other_than_chunked(self):
        """A Transfer-Encoding other than "chunked" alone, or any in an
        HTTP/1.0 request, is 400 problem+json at once, nothing stored (RFC
        9112 6.1). Before, libmicrohttpd read
        such a body until the connection closed: no answer until the
        connection timeout. The 10 s bound is a hang bound only."""
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        ct, body, chunked = small_upload("cordon-coding")
        # libmicrohttpd keeps whitespace after a value, and then does not
        # take it for chunked either: refused like the others.
        for coding in ("gzip", "identity", "chunked, chunked", "gzip, chunked", "chunked;x=1",
                       "chunkedx", "", "chunked ", "chunked\t"):
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                    f"Transfer-Encoding: {coding}\r\n\r\n").encode()
            try:
                # A whole multipart, as it is: nothing in it ends the read.
                r = raw(d.sock, head + body, "POST", "/v1/jobs", timeout=10)
            except socket.timeout:
                self.fail(f"Transfer-Encoding: {coding!r}: no answer within 10 s")
            doc = problem_of(self, r, 400, "bad_request")
            self.assertIn("chunked", doc["detail"], coding)
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # HTTP/1.0 has no transfer codings (RFC 9112 6.1: faulty framing,
        # whatever the coding). Before, it was decoded as chunked: 201.
        for coding in ("chunked", "gzip"):
            head = (f"POST /v1/jobs HTTP/1.0\r\nContent-Type: {ct}\r\n"
                    f"Transfer-Encoding: {coding}\r\n\r\n").encode()
            r = raw(d.sock, head + chunked, "POST", "/v1/jobs", timeout=10)
            problem_of(self, r, 400, "bad_request")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # "chunked" in any case, with whitespace before it, is still chunked.
        for coding in ("Chunked", " \tCHUNKED"):
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                    f"Transfer-Encoding: {coding}\r\n\r\n").encode()
            r = raw(d.sock, head + chunked, "POST", "/v1/jobs", timeout=10)
            self.assertEqual(r.status, 201, (coding, r))
            d.client().delete(r.json()["id"])

    def test_header_names_must_be_tokens(self):
        """A header name that is not an RFC 9110 token is 400 problem+json
        before any of the body is read (RFC 9112 5.1: whitespace between the
        name and the colon MUST be refused), nothing stored. libmicrohttpd
        keeps such a space in the name, so "Content-Length : N" beside
        "Transfer-Encoding: chunked" got past the one-framing rule and the
        body was taken as chunked. Before, all of these were served."""
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        ct, body = multipart([("job", None, "application/json",
                               job_bytes({"profile": "default", "entry": "job.sh"})),
                              ("f", "job.sh", None, b"echo hi\n")], "cordon-name")
        chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        for framing, data in (
                (f"Content-Length: {len(body)}\r\nTransfer-Encoding : chunked", body),
                (f"Content-Length : {len(body)}\r\nTransfer-Encoding: chunked", chunked),
                (f"Transfer-Encoding: chunked\r\nContent-Length\t: {len(body)}", chunked),
                ("Transfer-Encoding : chunked", chunked),
                (f"Content-Length : {len(body)}", body),
                (f"Content-Length: {len(body)}\r\nX-Trace(1): a", body)):
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                    f"{framing}\r\n\r\n").encode()
            problem_of(self, raw(d.sock, head + data, "POST", "/v1/jobs"), 400, "bad_request")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        for name in (b"X-Any ", b"X-Any\t", b"X@Any", b'X"Any', b"X-\xc3\xa9"):
            r = raw(d.sock, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + name + b": 1\r\n\r\n",
                    "GET", "/v1/health")
            doc = problem_of(self, r, 400, "bad_request")
            self.assertIn("token", doc["detail"], name)
        # Every token character is still a name.
        r = raw(d.sock, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
                b"X-!#$%&'*+-.^_`|~09az: 1\r\n\r\n", "GET", "/v1/health")
        self.assertEqual(r.status, 200, r)

    def test_routes(self):
        d = self.daemon
        for target in ("/", "/v1", "/v1/", "/v2/jobs", "/v1/nope", "/v1/jobs/", "/metricsx",
                       "/v1/jobs/0123456789abcdef0123456789abcdef/nope", "/v1/healthz",
                       "/v1/health/"):
            problem_of(self, request(d.sock, "GET", target), 404, "not_found")
        fake = secrets.token_hex(16)
        for target in (f"/v1/jobs/{fake}", f"/v1/jobs/{fake}/stdout", f"/v1/jobs/{fake}/stderr",
                       f"/v1/jobs/{fake}/artifacts", f"/v1/jobs/{fake}/artifacts.tar",
                       f"/v1/jobs/{fake}/artifacts/x.csv", "/v1/jobs/XYZ",
                       "/v1/jobs/" + fake.upper(), "/v1/jobs/" + "a" * 64, "/v1/jobs/" + "a" * 65,
                       f"/v1/jobs/{fake}0"):
            problem_of(self, request(d.sock, "GET", target), 404, "job_not_found")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{fake}"), 404, "job_not_found")
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{fake}/cancel"), 404, "job_not_found")
        for method, target, allow in (
                ("DELETE", "/v1/health", {"GET"}), ("POST", "/v1/profiles", {"GET"}),
                ("PUT", "/v1/jobs", {"GET", "POST"}), ("DELETE", "/v1/jobs", {"GET", "POST"}),
                ("POST", f"/v1/jobs/{fake}", {"GET", "DELETE"}),
                ("PATCH", f"/v1/jobs/{fake}", {"GET", "DELETE"}),
                ("GET", f"/v1/jobs/{fake}/cancel", {"POST"}),
                ("DELETE", f"/v1/jobs/{fake}/stdout", {"GET"}),
                ("POST", f"/v1/jobs/{fake}/artifacts/x.csv", {"GET"}),
                ("POST", "/metrics", {"GET"})):
            r = request(d.sock, method, target)
            problem_of(self, r, 405, "method_not_allowed")
            self.assertEqual({m.strip() for m in r.headers["allow"].split(",")}, allow, target)

    def test_host_header(self):
        """RFC 9112 3.2: an HTTP/1.1 request without Host, and any request
        with two Host headers or a Host that is not host[:port], is 400
        problem+json, on any route, before any body is read; HTTP/1.0 may
        leave Host out. Before, all of these were served."""
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        for version, hosts, target in (
                ("1.1", "", "/v1/health"), ("1.1", "", "/v1/nope"),
                ("1.1", "Host: a\r\nHost: a\r\n", "/v1/health"),
                ("1.1", "Host: a\r\nhost: b\r\n", "/v1/health"),
                ("1.0", "Host: a\r\nHOST: b\r\n", "/v1/health"),
                ("1.1", "Host: a/b\r\n", "/v1/health"), ("1.1", "Host: a b\r\n", "/v1/health"),
                ("1.1", "Host: u@a\r\n", "/v1/health"), ("1.1", "Host: a\x01\r\n", "/v1/health")):
            r = raw(d.sock, f"GET {target} HTTP/{version}\r\n{hosts}\r\n".encode(), "GET", target)
            doc = problem_of(self, r, 400, "bad_request")
            self.assertIn("Host", doc["detail"], (version, hosts, target))
        # An upload without Host: refused before its body, nothing stored.
        ct, body = small_upload("cordon-host")[:2]
        head = (f"POST /v1/jobs HTTP/1.1\r\nContent-Type: {ct}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        problem_of(self, raw(d.sock, head + body, "POST", "/v1/jobs"), 400, "bad_request")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # Still served: HTTP/1.0 without Host; an empty Host (RFC 9110 7.2),
        # an IP literal with a port, the name in any case.
        for version, hosts in (("1.0", ""), ("1.1", "Host:\r\n"), ("1.1", "Host: [::1]:80\r\n"),
                               ("1.1", "hOST: cordon\r\n"), ("1.1", "Host: a-b.c_d~e:1\r\n")):
            r = raw(d.sock, f"GET /v1/health HTTP/{version}\r\n{hosts}\r\n".encode(), "GET",
                    "/v1/health")
            self.assertEqual(r.status, 200, (version, hosts, r))

    def test_absolute_form_targets(self):
        """RFC 9112 3.2.2: a server MUST accept an absolute-form target;
        an http:// URL is served as its path (its host ignored, as Host's
        is). Any other form, or a URL with no host, userinfo or an escape
        in its host, is 400 problem+json. Before, all were 404."""
        d = self.daemon
        for target in ("http://cordon/v1/health", "HTTP://localhost:80/v1/health",
                       "http://[::1]/v1/health"):
            r = raw(d.sock, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "GET", target)
            self.assertEqual(r.status, 200, (target, r))
            self.assertEqual(r.json()["status"], "ok")
        # Its query is the query, as in origin-form.
        j = submit_sh(d, "true\n", labels={"abs": "form"})
        target = "http://cordon/v1/jobs?label=abs%3Dform&limit=5"
        r = raw(d.sock, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "GET", target)
        self.assertEqual([x["id"] for x in r.json()["jobs"]], [j["id"]], r)
        wait_job(d, j["id"])
        d.client().delete(j["id"])
        # A URL without a path is the path "/": no route.
        for target in ("http://cordon", "http://cordon?x=1"):
            r = raw(d.sock, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "GET", target)
            problem_of(self, r, 404, "not_found")
        for method, target in (("GET", "https://cordon/v1/health"), ("GET", "ftp://c/v1/health"),
                               ("GET", "v1/health"), ("GET", "*"), ("OPTIONS", "*"),
                               ("CONNECT", "cordon:80"), ("GET", "http:///v1/health"),
                               ("GET", "http://u@cordon/v1/health"),
                               ("GET", "http://c%2Fv1/health"), ("GET", "http:/v1/health")):
            r = raw(d.sock, f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), method,
                    target)
            problem_of(self, r, 400, "bad_request")

    def test_target_characters_and_dot_segments(self):
        """A fragment, a space or a control character in the target, or a
        "." or ".." segment in the path, as such or percent-encoded, is 400
        problem+json (RFC 9112 3.2; cordond does not rewrite paths). Empty
        segments are no route. Before, all were 404, with the path as it
        came."""
        d = self.daemon
        fake = secrets.token_hex(16)
        for target in ("/v1/health#x", "/v1/health?x#y", "/v1/he\x01alth", "/v1/he alth",
                       "/v1/he\x7falth", "/v1/../v1/health", "/v1/./health", "/v1/health/.",
                       "/v1/%2e%2e/v1/health", "/v1/%2E/health", "/./v1/health",
                       f"/v1/jobs/{fake}/artifacts/../x", f"/v1/jobs/{fake}/artifacts/a/%2e%2e/b",
                       f"/v1/jobs/{fake}/artifacts/a%2F..%2Fb", f"/v1/jobs/{fake}/artifacts/.",
                       "http://cordon/v1/../v1/health"):
            r = raw(d.sock, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"),
                    "GET", target)
            problem_of(self, r, 400, "bad_request")
        for target in ("//v1/health", "/v1//health", "/v1/health//"):
            problem_of(self, request(d.sock, "GET", target), 404, "not_found")
        # Dots inside a segment are no dot segment.
        for target in (f"/v1/jobs/{fake}/artifacts/.x", f"/v1/jobs/{fake}/artifacts/..x",
                       f"/v1/jobs/{fake}/artifacts/x.."):
            problem_of(self, request(d.sock, "GET", target), 404, "job_not_found")

    def test_every_405_lists_the_routes_methods(self):
        """Every route, asked with any other method (HEAD, OPTIONS, TRACE,
        PATCH, CONNECT, a lowercase "get": methods are case-sensitive, RFC
        9110 9.1) is 405 with an Allow of exactly its methods. HEAD is
        refused on purpose (docs/api.md): its answer has the 405's headers
        and no body."""
        d = self.daemon
        fake = secrets.token_hex(16)
        routes = {"/v1/jobs": {"GET", "POST"}, f"/v1/jobs/{fake}": {"GET", "DELETE"},
                  f"/v1/jobs/{fake}/stdout": {"GET"}, f"/v1/jobs/{fake}/stderr": {"GET"},
                  f"/v1/jobs/{fake}/cancel": {"POST"}, f"/v1/jobs/{fake}/artifacts": {"GET"},
                  f"/v1/jobs/{fake}/artifacts.tar": {"GET"},
                  f"/v1/jobs/{fake}/artifacts/a/b.csv": {"GET"}, "/v1/profiles": {"GET"},
                  "/v1/health": {"GET"}, "/metrics": {"GET"}}
        methods = ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE",
                   "CONNECT", "get", "Post", "FOO")
        for target, allow in routes.items():
            for method in methods:
                if method in allow:
                    continue
                r = raw(d.sock, f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                        method, target)
                self.assertEqual(r.status, 405, (method, target, r))
                self.assertEqual(sorted(m.strip() for m in r.headers["allow"].split(",")),
                                 sorted(allow), (method, target))
                if method == "HEAD":
                    self.assertEqual(r.body, b"", target)
                else:
                    self.assertEqual(r.json()["code"], "method_not_allowed")

    def test_expect_100_continue(self):
        """Expect: 100-continue: an upload cordond refuses from its head
        gets the refusal and no 100 (the client need not send the body); an
        upload it takes gets 100, then its answer once the body is in."""
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        ct, body = small_upload("cordon-expect")[:2]
        for ctype, length, status in (("text/plain", len(body), 415), (ct, 1 << 40, 413)):
            with expect_continue(d, ctype, length) as s:
                answer = b""
                while chunk := s.recv(65536):  # a refusal closes the connection
                    answer += chunk
            self.assertTrue(answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200])
            resp = http.client.HTTPResponse(_Bytes(answer), method="POST")
            resp.begin()
            problem_of(self, _checked(resp, "POST", "/v1/jobs"), status,
                       "unsupported_media_type" if status == 415 else "body_too_large")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        with expect_continue(d, ct, len(body)) as s:
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                chunk = s.recv(1)
                self.assertTrue(chunk, interim)
                interim += chunk
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(body)
            resp = http.client.HTTPResponse(s, method="POST")
            resp.begin()
            r = _checked(resp, "POST", "/v1/jobs")
            self.assertEqual(r.status, 201, r)
        wait_job(d, r.json()["id"])
        d.client().delete(r.json()["id"])

    def test_disconnect_mid_upload(self):
        d = self.daemon
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        boundary = "cordon-cut-" + secrets.token_hex(6)
        head = (b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"job\"\r\n"
                b"Content-Type: application/json\r\n\r\n"
                + job_bytes({"profile": "default", "entry": "job.sh"}) + b"\r\n--"
                + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"f\"; "
                b"filename=\"job.sh\"\r\nContent-Type: application/octet-stream\r\n\r\n")
        req = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {7 << 20}\r\n\r\n").encode() + head

        def partials():
            return [n for n in os.listdir(d.state / "jobs") if n.endswith(".partial")]

        for who in ("root", "a"):
            go_r, go_w = os.pipe()

            def cut():
                # Send part of the upload, wait for the parent's word, go away.
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(d.sock)
                s.sendall(req + b"x" * (1 << 20))
                os.read(go_r, 1)
                s.close()

            if who == "root":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(d.sock)
                s.sendall(req + b"x" * (1 << 20))
                staged = poll(partials, 10)
                s.close()
            else:
                child = Child(who, cut)
                staged = poll(partials, 10)
                os.write(go_w, b"x")
                child.result()
            os.close(go_r)
            os.close(go_w)
            self.assertTrue(staged, "the upload was never staged: the test would prove nothing")
            self.assertTrue(poll(lambda: d.job_entries() == jobs_before, 15),
                            f"left in jobs/: {d.job_entries() - jobs_before}")
            self.assertEqual(len(d.audit("job.submitted")), sub_before)
            self.assertEqual(d.client().health()["status"], "ok")
        # The daemon still takes jobs.
        j = as_user("a", submit_sh, d, "echo after\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, j)["verdict"], "ok")


# --------------------------------------------------------------------------
# The queue's bounds: one slot, three places, two per client

class QueueBoundsTest(DaemonTest):
    CONFIG = dict(slots=1, max_queued=3, max_queued_per_client=2)

    def tearDown(self):
        if self.daemon is not None and self.daemon.proc.poll() is None:
            self.settle_jobs(self.daemon)

    def test_queue_full_and_fair_order(self):
        d = self.daemon
        run = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, run)
        a1 = as_user("a", submit_sh, d, "echo a1\n")["id"]
        a2 = as_user("a", submit_sh, d, "echo a2\n")["id"]
        self.assertEqual([as_user("a", lambda i=i: d.client().job(i))["queue_position"]
                          for i in (a1, a2)], [1, 2])
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", submit_sh, d, "echo a3\n")
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "client_queue_full"))
        self.assertGreaterEqual(cm.exception.retry_after, 1)
        # B has nothing running: its job goes first.
        b1 = as_user("b", submit_sh, d, "echo b1\n")["id"]
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        self.assertEqual(len(jobs_before), 4)
        self.assertEqual(sub_before, 4)
        self.assertEqual(as_user("b", lambda: d.client().job(b1))["queue_position"], 1)
        self.assertEqual([d.client().job(i)["queue_position"] for i in (a1, a2)], [2, 3])
        with self.assertRaises(cc.CordonError) as cm:
            as_user("b", submit_sh, d, "echo b2\n")
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "queue_full"))
        self.assertGreaterEqual(cm.exception.retry_after, 1)
        r = as_user("b", submit_raw, d.sock, {"profile": "default", "entry": "j.sh"},
                    [("j.sh", b"echo b3\n")])
        problem_of(self, r, 429, "queue_full")
        self.assertRegex(r.headers["retry-after"], r"^[1-9][0-9]*$")
        self.assertEqual(d.job_entries(), jobs_before)
        self.assertEqual(len(d.audit("job.submitted")), sub_before)
        h = d.client().health()
        self.assertEqual((h["queue"]["length"], h["queue"]["max"]), (3, 3))
        self.assertEqual((h["slots"]["busy"], h["slots"]["total"]), (1, 1))
        m = d.client().metrics()
        self.assertRegex(m, r"(?m)^cordon_queue_length 3$")
        self.assertRegex(m, r"(?m)^cordon_jobs_running 1$")
        self.assertRegex(m, r'(?m)^cordon_requests_refused_total\{code="queue_full"\} [1-9]')

        # The slot frees: B's job starts first, then A's in order.
        as_user("a", lambda: d.client().cancel(run))
        order = []
        for i in (b1, a1, a2):
            j = wait_job(d, i, 60)
            self.assertEqual(j["verdict"], "ok")
            order.append((j["started"], i))
        self.assertEqual([i for _, i in sorted(order)], [b1, a1, a2])
        self.assertEqual(d.client().health()["queue"]["length"], 0)
        # Room again.
        j = as_user("a", submit_sh, d, "echo again\n")["id"]
        self.assertEqual(wait_job(d, j)["verdict"], "ok")


    def test_race_for_the_last_place(self):
        # Six submissions at once for the queue's one free place: one is
        # queued, five are refused, and a refused one leaves no trace. The
        # place is taken before the job is stored; before, every racer
        # could pass the check, be stored and recorded, and the losers
        # were then deleted again (job.submitted and job.deleted records
        # for requests refused with 429).
        d = self.start_daemon(slots=1, max_queued=3, max_queued_per_client=2)
        run = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, run)
        for i in range(2):
            as_user("a", submit_sh, d, f"echo a{i}\n")
        submitted = len(d.audit("job.submitted"))
        racers = [Child(who, submit_sh, d, f"echo {who}{i}\n")
                  for i in range(3) for who in ("b", "groupsub")]
        won, refused = [], []
        for c in racers:
            try:
                won.append(c.result()["id"])
            except cc.CordonError as e:
                refused.append((e.status, e.code))
        self.assertEqual(len(won), 1, refused)
        self.assertEqual(sorted(set(refused)), [(429, "queue_full")])
        self.assertEqual(len(d.audit("job.submitted")), submitted + 1)
        self.assertEqual(d.audit("job.deleted"), [])
        self.assertEqual(len(d.job_entries()), 4)
        self.assertEqual(d.client().health()["queue"]["length"], 3)
        self.assertIsNotNone(d.client().job(won[0])["queue_position"])
        as_user("a", lambda: d.client().cancel(run))
        self.assertEqual(wait_job(d, won[0], 60)["verdict"], "ok")

    def test_reserved_place_refuses_the_next(self):
        """The queue's one place, reserved by a submission that is held
        (injected) before its job is stored: a second submission meanwhile
        is refused with 429 and leaves no trace; the held one is then
        stored and run. Without the reservation the second would pass the
        queue's check while the first is held, as in the race above."""
        # The held submission waits for `release`.
        d, release = self.held_daemon(slots=1, max_queued=1, fault="submit_hold:once")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        held = Child("a", submit_sh, d, "echo held\n")
        self.assertTrue(poll(lambda: "submission held" in log(), 15),
                        "the first submission was never held")
        with self.assertRaises(cc.CordonError) as cm:
            as_user("b", submit_sh, d, "echo b\n")
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "queue_full"))
        self.assertEqual(d.audit("job.submitted"), [])
        entries = d.job_entries()  # the held upload only, still partial
        self.assertEqual(len(entries), 1)
        self.assertTrue(entries.pop().endswith(".partial"))
        open(release, "w").close()
        job = held.result()["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        self.assertEqual(len(d.audit("job.submitted")), 1)
        self.assertEqual(d.audit("job.deleted"), [])


# --------------------------------------------------------------------------
# Daemons with special settings, one per test

class ServiceTest(DaemonTest):

    def test_rate_limited(self):
        d = self.start_daemon(rate_per_second=1)
        time.sleep(2.2)  # the bucket refills (burst 2) after the start's health checks
        self.assertEqual(request(d.sock, "GET", "/v1/health").status, 200)
        self.assertEqual(request(d.sock, "GET", "/v1/health").status, 200)
        r = request(d.sock, "GET", "/v1/health")
        problem_of(self, r, 429, "rate_limited")
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        problem_of(self, submit_raw(d.sock, {"profile": "default", "entry": "j.sh"},
                                    [("j.sh", b"echo\n")]), 429, "rate_limited")
        problem_of(self, request(d.sock, "GET", "/v1/jobs"), 429, "rate_limited")
        self.assertEqual(os.listdir(d.state / "jobs"), [])
        # Per client: another uid is not limited.
        self.assertEqual(as_user("a", lambda: d.client().health())["status"], "ok")
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: [cc.CordonClient(d.sock, retry_for=0).health()
                                  for _ in range(3)])
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "rate_limited"))
        self.assertGreaterEqual(cm.exception.retry_after, 1)
        time.sleep(1.2)
        self.assertEqual(request(d.sock, "GET", "/v1/health").status, 200)

    def test_simultaneous_cancels_record_once(self):
        """Four cancels at once, of a queued job and of a running one: each
        job gets one job.cancelled and one job.finished, however the four
        interleave (the rest are 202 without a record, or 409)."""
        d = self.start_daemon(slots=1)
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = submit_sh(d, "echo never\n")["id"]
        for j in (queued, running):
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(
                    lambda _: request(d.sock, "POST", f"/v1/jobs/{j}/cancel"), range(4)))
            self.assertIn(202, [r.status for r in answers])
            self.assertLessEqual({r.status for r in answers}, {202, 409})
            self.assertEqual(wait_job(d, j, 60)["verdict"], "cancelled")
            self.assertEqual(len(d.audit("job.cancelled", j)), 1, j)
            self.assertEqual([x["verdict"] for x in d.audit("job.finished", j)], ["cancelled"])
        self.assertEqual(d.audit("job.started", queued), [])

    def test_cancel_reaches_a_job_being_collected(self):
        """A cancel that comes once the job has ended, while its files are
        collected (a second each, injected), stops the collection: the file
        stored before it is served whole, every later one is listed as
        cancelled, and the verdict is cancelled, as its job.cancelled
        says. Before, the worker read the cancel only while the job ran:
        the collection went on to the end and the job came out ok."""
        d = self.start_daemon(slots=1, fault="sniff_slow")
        job = submit_sh(d, "for i in 1 2 3 4 5 6 7 8; do echo $i > /out/f$i.csv; done\n")["id"]
        first = d.job_dir(job) / "artifacts" / "f1.csv"
        self.assertTrue(poll(first.exists, 60), "the collection never stored its first file")
        self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{job}/cancel").status, 202)
        j = wait_job(d, job, 60)
        self.assertEqual(j["verdict"], "cancelled", j)
        self.assertEqual(j["result"]["exit_code"], 0)
        arts = d.client().artifacts(job)["artifacts"]
        self.assertEqual([a["path"] for a in arts], [f"f{i}.csv" for i in range(1, 9)])
        reasons = [a.get("refused", "taken") for a in arts]
        self.assertEqual(reasons[0], "taken", arts)
        cut = reasons.index("cancelled")  # some were cut, and all after the first cut
        self.assertEqual(set(reasons[:cut]), {"taken"}, arts)
        self.assertEqual(set(reasons[cut:]), {"cancelled"}, arts)
        self.assertEqual(d.client().artifact(job, "f1.csv")[0], b"1\n")
        self.assertEqual(sorted(os.listdir(d.job_dir(job) / "artifacts")),
                         [a["path"] for a in arts[:cut]])
        self.assertEqual(len(d.audit("job.cancelled", job)), 1)
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", job)], ["cancelled"])

    def test_cancel_as_the_job_ends(self):
        """A cancel that comes as the job ends, before its worker saw the end
        (held before its first look, injected), is the collection's: it
        stops the collection before its first file, every file is listed as
        cancelled, and the verdict is cancelled, as its job.cancelled says.
        Before, the worker read the cancel with the job's end and dropped
        it: the job came out ok with every file, after a 202 and a
        job.cancelled record."""
        # The worker waits for `release`.
        d, release = self.held_daemon(slots=1, fault="supervise_hold:once")
        job = submit_sh(d, "echo 1 > /out/a.csv; echo 2 > /out/b.csv\n")["id"]
        self.assertTrue(poll(lambda: ended_children(d.proc.pid) != [], 30), "the job never ended")
        self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{job}/cancel").status, 202)
        open(release, "w").close()
        j = wait_job(d, job, 60)
        self.assertEqual(j["verdict"], "cancelled", j)
        self.assertEqual(j["result"]["exit_code"], 0)
        arts = d.client().artifacts(job)["artifacts"]
        self.assertEqual([(a["path"], a.get("refused")) for a in arts],
                         [("a.csv", "cancelled"), ("b.csv", "cancelled")])
        self.assertEqual(os.listdir(d.job_dir(job) / "artifacts"), [])
        self.assertEqual(len(d.audit("job.cancelled", job)), 1)
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", job)], ["cancelled"])

    def test_a_slow_delete_holds_up_no_cancel(self):
        """A delete whose files take long to remove (5 s, injected) does not
        hold up a cancel of another job: the job lock covers the record and
        the row, not the files. The delete still answers after its files
        are gone."""
        d = self.start_daemon(slots=1, fault="remove_slow")
        done = submit_sh(d, "echo done\n")["id"]
        wait_job(d, done)
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = submit_sh(d, "echo never\n")["id"]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            deleting = pool.submit(request, d.sock, "DELETE", f"/v1/jobs/{done}")
            deadline = time.monotonic() + 60
            while not d.audit("job.deleted", done):  # the delete holds the files now
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            t0 = time.monotonic()
            self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{queued}/cancel").status, 202)
            waited = time.monotonic() - t0
            self.assertFalse(deleting.done(), "the removal ended before the cancel was timed")
            self.assertEqual(deleting.result(timeout=60).status, 204)
        # A hang bound, not a timing: behind the lock the cancel waited ~5 s.
        self.assertLess(waited, 3.0)
        self.assertFalse(d.job_dir(done).exists())
        self.assertEqual(wait_job(d, queued)["verdict"], "cancelled")
        self.assertEqual(len(d.audit("job.deleted", done)), 1)
        d.client().cancel(running)

    def test_store_failure_before_the_record(self):
        """The row cannot be stored (injected): 500, nothing is recorded
        (the row comes before job.submitted), and nothing of the job is
        left."""
        d = self.start_daemon(fault="store_insert")
        problem_of(self, submit_raw(d.sock, {"profile": "default", "entry": "j.sh"},
                                    [("j.sh", b"echo hi\n")]), 500, "internal")
        self.assertEqual(d.audit("job.submitted"), [])
        self.assertEqual(d.audit("job.finished"), [])
        self.assertEqual(d.job_entries(), set())
        self.assertEqual(d.client().jobs()["jobs"], [])
        self.assertEqual(d.audit("job.started"), [])

    def test_cancel_whose_record_fails(self):
        """A queued job's cancel whose records cannot be written (injected,
        every time): 500, and the job never runs, neither while cordond runs
        on with a free slot nor after a restart, where it is finished as
        cancelled with one job.cancelled and one job.finished. Before, a
        failed record left it out of the queue but queued in the store, and
        a restart ran it."""
        d = self.start_daemon(slots=1, fault="cancel_record")
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = as_user("a", submit_sh, d, "echo never\n")["id"]

        def cancel():
            r = request(d.sock, "POST", f"/v1/jobs/{queued}/cancel")
            return r.status, r.json()["code"], r.json()["detail"]

        status, code, detail = as_user("a", cancel)
        self.assertEqual((status, code), (500, "internal"))
        self.assertIn("will not run", detail)
        d.client().cancel(running)
        self.assertEqual(wait_job(d, running, 60)["verdict"], "cancelled")
        time.sleep(2)  # a free slot: the cancelled job must not take it
        job = d.client().job(queued)
        self.assertEqual((job["state"], job["queue_position"]), ("queued", None))
        self.assertEqual(d.audit("job.started", queued), [])
        # A second cancel is no 409 and no second mark: the same answer.
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{queued}/cancel"), 500, "internal")
        self.assertEqual(d.stop(), [])
        d.fault = None
        d.start()
        job = wait_job(d, queued, 60)
        self.assertEqual(job["verdict"], "cancelled")
        self.assertIsNone(job["started"])
        self.assertEqual(d.audit("job.started", queued), [])
        cancelled = d.audit("job.cancelled", queued)
        self.assertEqual(len(cancelled), 1)
        self.assertEqual((cancelled[0]["actor"]["role"], cancelled[0]["details"]["requested_by"]),
                         ("cordond", USERS["a"][0]))
        self.assertEqual(len(d.audit("job.finished", queued)), 1)
        self.assertTrue(poll(lambda: not (d.job_dir(queued) / "inputs").exists(), 10))
        self.assert_chain_whole(d)

    def test_cancel_retried_while_the_janitor_finishes_it(self):
        """A cancel whose records failed once is retried by its owner while
        the janitor, which listed the job, is held between its list and its
        lock (injected): the retry records and finishes the job, and the
        janitor, reading the row again under the lock, leaves it alone. One
        job.cancelled and one job.finished, not two of each."""
        # The janitor waits for `release`.
        d, release = self.held_daemon(slots=1, fault="cancel_record:once,janitor_pause",
                                      release_at_end=False)
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = as_user("a", submit_sh, d, "echo never\n")["id"]
        r = as_user("a", lambda: request(d.sock, "POST", f"/v1/jobs/{queued}/cancel"))
        problem_of(self, r, 500, "internal")
        self.assertTrue(poll(lambda: "janitor paused" in log(), 15),
                        "the janitor never listed the half-done cancel")
        as_user("a", lambda: d.client().cancel(queued))
        job = wait_job(d, queued, 10)
        self.assertEqual((job["verdict"], job["started"]), ("cancelled", None))
        self.assertNotIn("janitor done", log())  # still held: the retry came in between
        open(release, "w").close()
        self.assertTrue(poll(lambda: "janitor done" in log(), 15), "the janitor never went on")
        self.assertEqual(len(d.audit("job.cancelled", queued)), 1)
        self.assertEqual(len(d.audit("job.finished", queued)), 1)
        self.assertNotIn("cancel finished late", log())
        self.assertEqual(d.audit("job.started", queued), [])
        d.client().cancel(running)
        self.assertEqual(wait_job(d, running, 60)["verdict"], "cancelled")
        self.assert_chain_whole(d)

    def test_delete_whose_files_fail_once(self):
        """A delete whose file removal fails (injected, once) after the
        row is gone: 500 saying so, one job.deleted record, the job is gone
        from the API, and the janitor removes the files within seconds
        instead of leaving them (the job's output) until the next start."""
        d = self.start_daemon(fault="remove_files:once")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        job = submit_sh(d, "echo secret > /out/r.txt\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        r = request(d.sock, "DELETE", f"/v1/jobs/{job}")
        body = problem_of(self, r, 500, "internal")
        self.assertIn("is deleted", body["detail"])
        self.assertTrue((d.state / "jobs" / job).exists())
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}"), 404, "job_not_found")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 404, "job_not_found")
        self.assertTrue(poll(lambda: not (d.state / "jobs" / job).exists(), 20),
                        "the deleted job's files were never removed")
        self.assertIn("removed the files of a deleted job", log())
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assert_chain_whole(d)

    def test_delete_whose_row_stays(self):
        """The store fails to remove a deleted job's row after its
        job.deleted is in the log (injected once): 500; the job is gone for
        the API at once (no read of it can follow job.deleted), and the
        retry removes it without a second job.deleted. Before, the job
        stayed listed and downloadable, and each retry recorded it again."""
        d = self.start_daemon(fault="store_delete:once")
        older = submit_sh(d, "echo hi > /out/r.txt\n")["id"]
        job = submit_sh(d, "echo hi > /out/r.txt\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        body = problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 500, "internal")
        self.assertIn("is deleted", body["detail"])
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}"), 404, "job_not_found")
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}/artifacts/r.txt"), 404,
                   "job_not_found")
        self.assertNotIn(job, [j["id"] for j in d.client().jobs()["jobs"]])
        # A page is whole: the deleted job is left out before paging.
        self.assertEqual([j["id"] for j in d.client().jobs(limit=1)["jobs"]], [older])
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assertEqual(d.audit("artifact.read", job), [])
        # The janitor removes the row and the files, without recording again.
        self.assertTrue(poll(lambda: not (d.state / "jobs" / job).exists(), 20),
                        "the deleted job's files were never removed")
        self.assertIn("removed the row of a deleted job", d.log_path.read_text(errors="replace"))
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assert_chain_whole(d)

    def test_delete_whose_row_stays_across_a_restart(self):
        """The store cannot remove a deleted job's row (injected, every
        time) and cordond stops before it can: after the restart the job is
        still gone for the API, and cordond removes its row and files,
        without a second job.deleted. The delete used to be held in memory
        only, so the job came back, artifacts and all."""
        d = self.start_daemon(fault="store_delete")
        job = as_user("a", submit_sh, d, "echo secret > /out/r.txt\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, job, 60)["verdict"], "ok")
        r = as_user("a", lambda: request(d.sock, "DELETE", f"/v1/jobs/{job}"))
        self.assertIn("is deleted", problem_of(self, r, 500, "internal")["detail"])
        self.assertEqual(d.stop(), [])
        self.assertTrue((d.state / "jobs" / job).exists())
        d.fault = None
        d.start()
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}"), 404, "job_not_found")
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}/artifacts/r.txt"), 404,
                   "job_not_found")
        self.assertNotIn(job, [j["id"] for j in d.client().jobs()["jobs"]])
        self.assertTrue(poll(lambda: not (d.state / "jobs" / job).exists(), 20),
                        "the deleted job's files were never removed")
        self.assertIn("removed the row of a deleted job", d.log_path.read_text(errors="replace"))
        recs = d.audit("job.deleted", job)
        self.assertEqual(len(recs), 1)
        self.assertEqual((recs[0]["actor"]["uid"], recs[0]["details"]["by"]),
                         (USERS["a"][0], "request"))
        self.assertEqual(d.audit("artifact.read", job), [])
        self.assert_chain_whole(d)

    def test_delete_whose_record_fails(self):
        """job.deleted cannot be written (injected, once): 500 saying the
        job is deleted; it is gone for the API at once, and cordond records
        the delete (as itself, naming who asked) and removes the job within
        seconds. The job used to stay, and a failed record was the end of
        the delete."""
        d = self.start_daemon(fault="delete_record:once")
        job = as_user("a", submit_sh, d, "echo secret > /out/r.txt\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, job, 60)["verdict"], "ok")
        r = as_user("a", lambda: request(d.sock, "DELETE", f"/v1/jobs/{job}"))
        self.assertIn("is deleted", problem_of(self, r, 500, "internal")["detail"])
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}"), 404, "job_not_found")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 404, "job_not_found")
        self.assertTrue(poll(lambda: not (d.state / "jobs" / job).exists(), 20),
                        "the deleted job's files were never removed")
        recs = d.audit("job.deleted", job)
        self.assertEqual(len(recs), 1)
        self.assertEqual((recs[0]["actor"]["role"], recs[0]["details"]),
                         ("cordond", {"by": "request", "requested_by": USERS["a"][0]}))
        self.assert_chain_whole(d)

    def test_retention_whose_records_fail(self):
        """Retention at start cannot write job.deleted (injected, every
        time): the expired jobs are gone for the API all the same, and are
        tried again only a bounded number of times before the stop (three
        jobs are less than a batch; that retention's list leaves marked jobs
        out, so a full batch cannot come round again, is test_mark_deleted
        in unit_store). The next start records each delete once, as
        retention's, and removes the jobs' files."""
        d = self.start_daemon()
        jobs = [submit_sh(d, "echo old > /out/r.txt\n")["id"] for _ in range(3)]
        for j in jobs:
            self.assertEqual(wait_job(d, j, 60)["verdict"], "ok")
        self.assertEqual(d.stop(), [])
        time.sleep(1.2)
        d.config["retention"] = "1s"
        d.config_path.write_text(json.dumps(d.config, indent=1))
        d.fault = "delete_record"
        d.start()
        for j in jobs:
            problem_of(self, request(d.sock, "GET", f"/v1/jobs/{j}"), 404, "job_not_found")
            self.assertTrue((d.state / "jobs" / j).exists())
        self.assertEqual(d.client().jobs()["jobs"], [])
        self.assertEqual(d.audit("job.deleted"), [])
        self.assertEqual(d.stop(), [])
        # Each job was tried once by retention at start, then by the janitor.
        log = d.log_path.read_text(errors="replace")
        self.assertLess(log.count("audit: delete: injected failure"), 3 * 5, log[-4000:])
        d.fault = None
        d.start()
        self.assertTrue(poll(lambda: not any((d.state / "jobs" / j).exists() for j in jobs), 20),
                        "the expired jobs' files were never removed")
        for j in jobs:
            recs = d.audit("job.deleted", j)
            self.assertEqual(len(recs), 1)
            self.assertEqual((recs[0]["actor"]["role"], recs[0]["details"]),
                             ("cordond", {"by": "retention"}))
        self.assert_chain_whole(d)

    def test_delete_whose_mark_fails(self):
        """The delete cannot be stored (injected, once): 500, nothing
        recorded, the job is as it was; the next delete works."""
        d = self.start_daemon(fault="store_mark_deleted:once")
        job = submit_sh(d, "echo hi > /out/r.txt\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        body = problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 500, "internal")
        self.assertEqual(body["detail"], "cannot delete the job")
        self.assertEqual(d.client().job(job)["verdict"], "ok")
        self.assertIn(job, [j["id"] for j in d.client().jobs()["jobs"]])
        self.assertEqual(d.audit("job.deleted", job), [])
        self.assertEqual(request(d.sock, "DELETE", f"/v1/jobs/{job}").status, 204)
        self.assertFalse((d.state / "jobs" / job).exists())
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assert_chain_whole(d)

    def test_delete_unmarkable_after_its_record_is_not_recorded_again(self):
        """Neither the row's removal nor the mark that its delete is
        recorded can be written (injected), and cordond stops: the next
        start finds job.deleted in the log and does not write it again
        (before, it wrote it a second time), removes the row and the files,
        and the job never comes back."""
        d = self.start_daemon(fault="store_delete,store_mark_delete_recorded")
        job = submit_sh(d, "echo hi > /out/r.txt\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 500, "internal")
        problem_of(self, request(d.sock, "DELETE", f"/v1/jobs/{job}"), 404, "job_not_found")
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assertEqual(d.stop(), [])
        d.fault = None
        d.start()
        problem_of(self, request(d.sock, "GET", f"/v1/jobs/{job}"), 404, "job_not_found")
        self.assertTrue(poll(lambda: not (d.state / "jobs" / job).exists(), 20),
                        "the deleted job's files were never removed")
        self.assertEqual(len(d.audit("job.deleted", job)), 1)
        self.assert_chain_whole(d)

    def test_launchers_with_other_uid_ranges_share_a_cgroup_parent(self):
        """A cordond with a uid range of its own and `cordon run` with the
        default one, under one cgroup parent: neither takes the other's
        live job for a stale leaf. Leaves were named by slot index, and the
        sweep of every launcher start killed a leaf whose index's lease
        (in its own range) was free: cordon run SIGKILLed cordond's job."""
        d = self.start_daemon(slots=1, uid_base=1879050000)
        job = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, job)
        state = tempfile.mkdtemp(prefix="cordon-test-run-")
        self.addCleanup(shutil.rmtree, state, True)
        r = subprocess.run([CORDON, "run", "--state-dir", state, "--cgroup-parent", CG_PARENT,
                            "--", "/bin/true"], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = d.client().job(job)
        self.assertEqual(j["state"], "running", j)
        d.client().cancel(job)
        self.assertEqual(wait_job(d, job, 60)["verdict"], "cancelled")

    def test_job_whose_row_cannot_be_read_runs_later(self):
        """The worker that takes a job cannot read its row (injected, once):
        the job is queued again and runs, instead of staying 'queued' in
        the store with no queue entry until a restart."""
        d = self.start_daemon(slots=1, fault="store_get:once")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        job = submit_sh(d, "echo ran\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        self.assertIn("job queued again", log())
        self.assertEqual(len(d.audit("job.started", job)), 1)

    def test_cancel_while_the_verdict_is_recorded(self):
        """A cancel that comes while the worker records a finished job's
        verdict (held there, injected) is answered 409 job_finished and
        records nothing: job.cancelled never follows job.finished, and no
        202 is given for a job the request did not cancel."""
        # The worker waits for `release`.
        d, release = self.held_daemon(slots=1, fault="finish_hold:once")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        job = submit_sh(d, "echo done\n")["id"]
        self.assertTrue(poll(lambda: "finish held" in log(), 30), "the worker was never held")
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{job}/cancel"), 409,
                   "job_finished")
        open(release, "w").close()
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        self.assertEqual(d.audit("job.cancelled", job), [])
        self.assertEqual(len(d.audit("job.finished", job)), 1)

    def test_cancel_once_the_output_is_collected(self):
        """A cancel that comes once the job and its collection have ended,
        before its verdict is recorded (the worker held there, injected), is
        taken: 202, one job.cancelled, and the verdict cancelled, so that
        the verdict agrees with the log (before, it stayed ok). It cut
        nothing: the artifacts stay as collected, and the exit code is the
        job's own."""
        # The worker waits for `release`.
        d, release = self.held_daemon(slots=1, fault="finishing_hold:once")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        job = submit_sh(d, "echo 1 > /out/a.csv\n")["id"]
        self.assertTrue(poll(lambda: "finishing held" in log(), 30), "the worker was never held")
        self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{job}/cancel").status, 202)
        open(release, "w").close()
        j = wait_job(d, job, 60)
        self.assertEqual((j["verdict"], j["result"]["exit_code"]), ("cancelled", 0), j)
        arts = d.client().artifacts(job)["artifacts"]
        self.assertEqual([(a["path"], a.get("refused")) for a in arts], [("a.csv", None)])
        self.assertEqual(len(d.audit("job.cancelled", job)), 1)
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", job)], ["cancelled"])
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{job}/cancel"), 409, "job_finished")

    def test_cancel_once_collected_with_output_lost(self):
        """The same late cancel, and then the job's output fails to reach
        the disk (syncfs, injected): cancelled with reason
        output_not_stored, as when the cancel cut the collection, not
        setup_error (which a cancel taken a few ms later, while the output
        was synced, used to give)."""
        # The worker waits for `release`.
        d, release = self.held_daemon(slots=1, fault="finishing_hold:once,syncfs")
        log = lambda: d.log_path.read_text(errors="replace")  # noqa: E731
        job = submit_sh(d, "echo 1 > /out/a.csv\n")["id"]
        self.assertTrue(poll(lambda: "finishing held" in log(), 30), "the worker was never held")
        self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{job}/cancel").status, 202)
        open(release, "w").close()
        j = wait_job(d, job, 60)
        self.assertEqual((j["verdict"], j["reason"]), ("cancelled", "output_not_stored"), j)
        self.assertEqual(d.client().artifacts(job)["artifacts"], [])
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", job)], ["cancelled"])

    def test_cancel_whose_row_fails(self):
        """A queued job's cancel whose records are written but whose row is
        not (injected, every time): 500, the job never runs, and the retries
        (every 5 s) write the row only, never the records again. A restart
        finishes it without them either: it finds them in the log. (Before,
        the restart recorded the cancel a second time.)"""
        d = self.start_daemon(slots=1, fault="cancel_row")
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = submit_sh(d, "echo never\n")["id"]

        def failures():  # each attempt that failed to write the row logs its error
            return sum(f"job={queued} " in line and "injected failure" in line
                       for line in d.log_path.read_text(errors="replace").splitlines())

        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{queued}/cancel"), 500, "internal")
        before = failures()
        d.client().cancel(running)
        self.assertEqual(wait_job(d, running, 60)["verdict"], "cancelled")
        # Two retries at least, with a slot free (5-10 s; the 60 s is a hang bound).
        self.assertTrue(poll(lambda: failures() >= before + 2, 60),
                        f"{failures() - before} retries of the cancel seen in 60 s")
        self.assertEqual(d.client().job(queued)["state"], "queued")
        self.assertEqual(len(d.audit("job.cancelled", queued)), 1)
        self.assertEqual(len(d.audit("job.finished", queued)), 1)
        self.assertEqual(d.audit("job.started", queued), [])
        self.assertEqual(d.stop(), [])
        d.fault = None
        d.start()
        job = wait_job(d, queued, 60)
        self.assertEqual((job["verdict"], job["started"]), ("cancelled", None))
        self.assertEqual(len(d.audit("job.finished", queued)), 1)
        self.assertEqual(len(d.audit("job.cancelled", queued)), 1)
        self.assertEqual(d.audit("job.started", queued), [])
        self.assert_chain_whole(d)

    def test_cancel_whose_mark_fails(self):
        """A queued job whose cancel cannot be stored (injected): 500,
        nothing recorded, and the job stays queued and runs in its turn."""
        d = self.start_daemon(slots=1, fault="store_mark_cancelled")
        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        queued = submit_sh(d, "echo ran\n")["id"]
        problem_of(self, request(d.sock, "POST", f"/v1/jobs/{queued}/cancel"), 500, "internal")
        self.assertEqual(d.audit("job.cancelled", queued), [])
        job = d.client().job(queued)
        self.assertEqual((job["state"], job["queue_position"]), ("queued", 1))
        d.client().cancel(running)
        self.assertEqual(wait_job(d, queued, 60)["verdict"], "ok")
        self.assertEqual(d.client().stdout(queued)[0], b"ran\n")

    def _crashed_submission(self, fault: str) -> Daemon:
        """Submit with cordond set to exit (70) at @fault: the client sees
        the request fail. Returns the stopped daemon, its fault cleared."""
        d = self.start_daemon(fault=fault)
        try:
            r = submit_raw(d.sock, {"profile": "default", "entry": "j.sh"},
                           [("j.sh", b"echo hi\n")])
        except (OSError, http.client.HTTPException):
            r = None
        self.assertIsNone(r, "cordond answered a request it was killed in")
        d.proc.wait(timeout=30)
        self.assertEqual(d.proc.returncode, 70)
        d.fault = None
        return d

    def _assert_no_job_left(self, d: Daemon, job_id: str = None):
        if job_id:
            with self.assertRaises(cc.CordonError) as cm:
                d.client().job(job_id)
            self.assertEqual(cm.exception.code, "job_not_found")
        self.assertEqual(d.client().jobs()["jobs"], [])
        self.assertEqual(d.client().health()["queue"]["length"], 0)
        self.assertEqual(d.job_entries(), set())
        self.assertEqual(d.audit("job.started"), [])

    def test_killed_between_record_and_row_mark(self):
        """cordond killed after job.submitted and before the row was marked
        recorded: the client saw the request fail; after a restart no such
        job exists or runs, its files are gone, and its job.submitted is
        closed by one job.finished (rejected, not_stored) from cordond.
        (Before, the record stayed open, with no verdict ever.)"""
        d = self._crashed_submission("crash_after_submit_record")
        sub = d.audit("job.submitted")
        self.assertEqual(len(sub), 1)
        self.assertEqual(d.audit("job.finished"), [])
        job = sub[0]["job"]
        d.start()
        self._assert_no_job_left(d, job)
        fin = d.audit("job.finished", job)
        self.assertEqual(len(fin), 1, fin)
        self.assertEqual((fin[0]["verdict"], fin[0]["details"]["reason"], fin[0]["actor"]["role"]),
                         ("rejected", "not_stored", "cordond"))
        self.assertIn("a submission was interrupted", d.log_tail(200))
        # Settled once: another restart writes nothing more.
        self.assertEqual(d.stop(), [])
        d.start()
        self.assertEqual(len(d.audit("job.finished", job)), 1)
        self.assertEqual(len(d.audit("job.submitted", job)), 1)

    def test_killed_between_row_and_record(self):
        """cordond killed after the row was inserted and before job.submitted:
        after a restart nothing of the job is left, and nothing is recorded
        of it (the log never had it)."""
        d = self._crashed_submission("crash_before_submit_record")
        self.assertEqual(d.audit("job.submitted"), [])
        d.start()
        self._assert_no_job_left(d)
        self.assertEqual(d.audit("job.submitted"), [])
        self.assertEqual(d.audit("job.finished"), [])
        self.assertIn("a submission was interrupted", d.log_tail(200))

    def test_submission_whose_record_fails(self):
        """job.submitted cannot be written (injected once): 500, nothing of
        the job is left or recorded, and the next submission runs."""
        d = self.start_daemon(slots=1, fault="submit_record:once")
        problem_of(self, submit_raw(d.sock, {"profile": "default", "entry": "j.sh"},
                                    [("j.sh", b"echo never\n")]), 500, "internal")
        self._assert_no_job_left(d)
        self.assertEqual(d.audit("job.submitted"), [])
        job = submit_sh(d, "echo next\n")["id"]
        self.assertEqual(wait_job(d, job, 60)["verdict"], "ok")
        self.assertEqual(len(d.audit("job.submitted")), 1)

    def _closed_submission(self, fault: str) -> tuple:
        """A submission refused 500 at @fault (injected once) after its
        job.submitted was written: the record is closed at once with
        job.finished (rejected, not_stored), and nothing of the job is
        left. Returns the daemon and the job id."""
        d = self.start_daemon(slots=1, fault=fault + ":once")
        problem_of(self, submit_raw(d.sock, {"profile": "default", "entry": "j.sh"},
                                    [("j.sh", b"echo never\n")]), 500, "internal")
        sub = d.audit("job.submitted")
        self.assertEqual(len(sub), 1)
        job = sub[0]["job"]
        self._assert_no_job_left(d, job)
        fin = d.audit("job.finished", job)
        self.assertEqual([(f["verdict"], f["details"]["reason"]) for f in fin],
                         [("rejected", "not_stored")])
        return d, job

    def test_submission_whose_failed_record_stands(self):
        """job.submitted reported failed but in the log (as when cutting a
        failed append back fails too): closed at once. Before, the row was
        removed and the record stayed open."""
        self._closed_submission("submit_record_kept")

    def test_submission_whose_mark_fails(self):
        """job.submitted is written but the row cannot be marked recorded:
        closed at once; a restart adds nothing."""
        d, job = self._closed_submission("store_mark_submit_recorded")
        self.assertEqual(d.stop(), [])
        d.fault = None
        d.start()
        self.assertEqual(len(d.audit("job.finished", job)), 1)
        self._assert_no_job_left(d, job)

    def _crashed_verdict(self, fault: str) -> tuple:
        """A job that prints and writes an artifact, with cordond set to
        exit (70) at @fault while it records the verdict. Returns the
        stopped daemon (fault cleared) and the job id."""
        d = self.start_daemon(slots=1, fault=fault)
        job = submit_sh(d, "echo done\necho 'a,b' > /out/t.csv\n")["id"]
        d.proc.wait(timeout=120)
        self.assertEqual(d.proc.returncode, 70, d.log_tail())
        d.fault = None
        return d, job

    def _assert_kept_verdict(self, d: Daemon, job: str):
        j = d.client().job(job)
        self.assertEqual((j["state"], j["verdict"], j["reason"]), ("finished", "ok", None), j)
        self.assertEqual(j["result"]["exit_code"], 0)
        self.assertEqual(d.client().stdout(job)[0], b"done\n")
        self.assertEqual([a["path"] for a in d.client().artifacts(job)["artifacts"]], ["t.csv"])
        self.assertFalse((d.job_dir(job) / "inputs").exists())
        fin = d.audit("job.finished", job)
        self.assertEqual(len(fin), 1, fin)
        self.assertEqual(fin[0]["verdict"], "ok")
        self.assertEqual(fin[0]["details"]["artifacts_taken"], 1)
        return fin[0]

    def test_killed_after_the_verdict_is_recorded(self):
        """cordond killed after job.finished and before the verdict's row:
        after a restart the job has the verdict the log holds, with its
        result, output and artifacts, and job.finished is not written again.
        (Before, recovery wrote a second job.finished, failed with
        supervisor_restart, and the job lost its result.)"""
        d, job = self._crashed_verdict("crash_after_finish_record")
        self.assertEqual(len(d.audit("job.finished", job)), 1)
        d.start()
        rec = self._assert_kept_verdict(d, job)
        self.assertNotIn("recovered", rec["details"])

    def test_killed_before_the_verdict_is_recorded(self):
        """cordond killed after the verdict was held on the row and before
        job.finished: after a restart the job has its own verdict (not
        failed), and one job.finished says so, marked recovered."""
        d, job = self._crashed_verdict("crash_before_finish_record")
        self.assertEqual(d.audit("job.finished", job), [])
        d.start()
        rec = self._assert_kept_verdict(d, job)
        self.assertEqual(rec["actor"]["role"], "cordond")
        self.assertIs(rec["details"]["recovered"], True)

    def test_killed_between_start_record_and_row(self):
        """cordond killed after job.started and before the row was set
        running (the job never ran): after a restart the job ends failed
        (supervisor_restart), once, and is not run again with a second
        job.started."""
        d = self.start_daemon(slots=1, fault="crash_after_start_record")
        job = submit_sh(d, "echo ran\n")["id"]
        d.proc.wait(timeout=60)
        self.assertEqual(d.proc.returncode, 70, d.log_tail())
        self.assertEqual(len(d.audit("job.started", job)), 1)
        d.fault = None
        d.start()
        j = d.client().job(job)
        self.assertEqual((j["state"], j["verdict"], j["reason"]),
                         ("finished", "failed", "supervisor_restart"), j)
        time.sleep(1)  # a requeued job would have run by now
        self.assertEqual(len(d.audit("job.started", job)), 1)
        self.assertEqual(len(d.audit("job.finished", job)), 1)
        self.assertEqual(d.client().stdout(job)[0], b"")
        self.assertFalse((d.job_dir(job) / "inputs").exists())

    def test_killed_after_cancelling_a_job_being_set_up(self):
        """A cancel of a job a slot has taken but not let go (held before its
        job.started, injected) records job.cancelled; cordond is killed
        before the worker finishes the job. After a restart the job is not
        run: it ends cancelled, job.finished written once, no job.started.
        Before, the restart queued it again and it ran (found by
        test_kill9_at_random_points_records_each_step_once)."""
        # `release` is never made: the launch stays held.
        d, _ = self.held_daemon(slots=1, fault="go_hold:once", release_at_end=False)
        job = submit_sh(d, "echo ran\n")["id"]
        self.assertTrue(poll(lambda: job_processes() != [], 30), "the launch was never held")
        self.assertEqual(request(d.sock, "POST", f"/v1/jobs/{job}/cancel").status, 202)
        self.assertEqual(len(d.audit("job.cancelled", job)), 1)
        d.kill9()
        self.assertTrue(poll(lambda: job_processes() == [], 30), "the sandbox outlived cordond")
        d.fault = None
        d.start()
        j = wait_job(d, job, 60)
        self.assertEqual((j["verdict"], j["started"]), ("cancelled", None), j)
        time.sleep(1)  # a requeued job would have run by now
        self.assertEqual(d.audit("job.started", job), [])
        self.assertEqual(len(d.audit("job.cancelled", job)), 1)
        self.assertEqual(len(d.audit("job.finished", job)), 1)
        self.assertEqual(d.client().stdout(job)[0], b"")
        self.assertFalse((d.job_dir(job) / "inputs").exists())
        self.assert_chain_whole(d)

    def test_killed_before_the_inputs_go(self):
        """cordond killed after the verdict was stored and before the job's
        inputs were removed: the next start removes them (they are the
        client's data). Before, they stayed until the job was deleted."""
        d, job = self._crashed_verdict("crash_before_drop_inputs")
        self.assertTrue((d.job_dir(job) / "inputs" / "job.sh").exists())
        d.start()
        self.assertFalse((d.job_dir(job) / "inputs").exists())
        self._assert_kept_verdict(d, job)

    def test_kill9_at_random_points_records_each_step_once(self):
        """cordond killed (SIGKILL, no fault injected) at random points
        while clients submit short jobs and cancel or delete them, again and
        again: once it runs on, every job recorded as submitted has one
        job.submitted, at most one job.started, one job.finished, at most
        one job.cancelled and one job.deleted (and is no longer listed); every job the API lists has its
        job.submitted; and the chain verifies. This covers windows no
        fault point names. (Before the records were settled from the log,
        it failed three runs in four: a second job.finished or job.started.)"""
        rng = secrets.SystemRandom()
        d = self.start_daemon(slots=2)
        for _ in range(25):

            def submit_one(i):
                try:
                    submit_sh(d, f"sleep 0.0{i}\necho {i}\n")  # some wait queued
                except (OSError, http.client.HTTPException, cc.CordonError):
                    pass  # killed under it

            def cancel_or_delete():
                try:
                    for j in d.client().jobs(limit=3)["jobs"]:
                        if j["state"] == "finished":
                            d.client().delete(j["id"])
                        else:
                            d.client().cancel(j["id"])
                except (OSError, http.client.HTTPException, cc.CordonError):
                    pass  # killed under it, or finished or deleted meanwhile

            with concurrent.futures.ThreadPoolExecutor(5) as pool:
                for i in range(4):
                    pool.submit(submit_one, i)
                pool.submit(cancel_or_delete)
                time.sleep(rng.uniform(0, 0.06))
                d.kill9()
            d.start()
        listed = {j["id"] for j in d.client().jobs(limit=500)["jobs"]}
        for job in listed:
            wait_job(d, job, 60)
        recs = d.audit()
        per_job = {}
        for r in recs:
            if r["job"]:
                per_job.setdefault(r["job"], []).append(r["event"])
        for job, events in per_job.items():
            if "job.submitted" not in events:
                continue
            self.assertEqual(events.count("job.submitted"), 1, (job, events))
            self.assertLessEqual(events.count("job.started"), 1, (job, events))
            self.assertEqual(events.count("job.finished"), 1, (job, events))
            self.assertLessEqual(events.count("job.cancelled"), 1, (job, events))
            self.assertLessEqual(events.count("job.deleted"), 1, (job, events))
            if "job.deleted" in events:
                self.assertNotIn(job, listed)
        self.assertTrue(listed <= set(per_job), listed - set(per_job))
        self.assertGreater(len(listed), 0)
        out = subprocess.run([CORDON, "audit", "verify", str(d.state / "audit")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_recovery_of_a_malformed_held_verdict(self):
        """A held verdict that is not what cordond writes (the store edited
        by hand): the start logs it and fails the job as if it held none,
        rather than refuse to start."""
        import sqlite3
        d = self.start_daemon(slots=1)
        job = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, job)
        d.kill9()
        db = sqlite3.connect(d.state / "jobs.db")
        with db:
            db.execute("UPDATE jobs SET finish_json = '{\"verdict\": 1}' WHERE id = ?", (job,))
        db.close()
        d.start()
        j = d.client().job(job)
        self.assertEqual((j["state"], j["verdict"], j["reason"]),
                         ("finished", "failed", "supervisor_restart"), j)
        self.assertIn("held verdict in the store is malformed", d.log_tail(200))
        self.assertEqual(len(d.audit("job.finished", job)), 1)

    def test_recovery_killed_after_its_record(self):
        """A recovery killed after it wrote job.finished and before the row
        (injected at start): the next start does not write it again, for a
        held verdict and for a job left running alike."""
        d, held = self._crashed_verdict("crash_before_finish_record")
        d.fault = "crash_after_finish_record"
        with self.assertRaises(AssertionError):
            d.start(timeout=15)
        self.assertEqual(d.proc.returncode, 70)
        d.fault = None
        d.start()
        self._assert_kept_verdict(d, held)

        running = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, running)
        # Queued beside it: the log is read back for them too.
        queued = [submit_sh(d, f"echo q{i}\n")["id"] for i in range(3)]
        d.kill9()
        d.fault = "crash_after_finish_record"
        with self.assertRaises(AssertionError):
            d.start(timeout=15)
        self.assertEqual(d.proc.returncode, 70)
        self.assertEqual(len(d.audit("job.finished", running)), 1)
        d.fault = None
        d.start()
        j = d.client().job(running)
        self.assertEqual((j["state"], j["verdict"], j["reason"]),
                         ("finished", "failed", "supervisor_restart"), j)
        fin = d.audit("job.finished", running)
        self.assertEqual([f["details"]["reason"] for f in fin], ["supervisor_restart"])
        for i, q in enumerate(queued):
            self.assertEqual(wait_job(d, q, 60)["verdict"], "ok")
            self.assertEqual(d.client().stdout(q)[0], f"q{i}\n".encode())
            self.assertEqual(len(d.audit("job.started", q)), 1)
            self.assertEqual(len(d.audit("job.finished", q)), 1)

    def test_rate_buckets_are_per_uid(self):
        """Each uid has its own bucket, whatever its number: a second uid
        (here a's + 256) does not reset a's, as sharing buckets by uid
        modulo their count did."""
        d = self.start_daemon(rate_per_second=1)
        # a's bucket gets a token back each second, so from a's first
        # request to its last, the other uid's included, must take less:
        # the connections (SO_PEERCRED is the uid that connected) are made
        # before, so that no fork of a child as each user falls in between.
        a_conns = [connect_as("a", d.sock) for _ in range(5)]
        collide_conn = connect_as("collide", d.sock)

        def status(s):
            with s:
                s.settimeout(60)
                s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                resp = http.client.HTTPResponse(s, method="GET")
                resp.begin()
                return _checked(resp, "GET", "/v1/health").status

        t0 = time.monotonic()
        codes = [status(s) for s in a_conns[:4]]
        codes.append(status(collide_conn))  # 403: its own bucket; no role
        codes.append(status(a_conns[4]))
        self.assertEqual(codes, [200, 200, 429, 429, 403, 429],
                         f"{time.monotonic() - t0:.2f} s from a's first request to its last")

    def test_client_waits_out_the_rate_limit(self):
        """The Python client retries what cordond turned away unread (429
        rate_limited), after Retry-After, for up to retry_for seconds: a
        burst of submissions all land, each once."""
        d = self.start_daemon(rate_per_second=2)
        time.sleep(1.2)  # the bucket refills (burst 4) after the start's health checks
        client = cc.CordonClient(d.sock, timeout=60, retry_for=30)
        t0 = time.monotonic()
        ids = [client.submit("default", entry="j.sh", inputs={"j.sh": b"echo %d\n" % i})["id"]
               for i in range(8)]
        self.assertGreater(time.monotonic() - t0, 1.0)  # it did wait for tokens
        self.assertEqual(len(set(ids)), 8)
        self.assertEqual(d.job_entries(), set(ids))
        # The verdicts from one listing (a request each would wait 3 s more
        # for tokens); a job it shows unfinished is waited for, then listed again.
        listed = {}
        for j in ids:
            if listed.get(j, {}).get("state") != "finished":
                wait_job(d, j, 120)
                listed = {job["id"]: job for job in client.jobs(limit=100)["jobs"]}
        for i, j in enumerate(ids):
            self.assertEqual(listed[j]["verdict"], "ok")
            self.assertEqual(client.stdout(j)[0], b"%d\n" % i)
        # With no time left to wait, the 429 comes through.
        with self.assertRaises(cc.CordonError) as cm:
            quick = cc.CordonClient(d.sock, retry_for=0.5)
            for _ in range(10):
                quick.health()
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "rate_limited"))

    def small_state_disk(self, size_mib: int, inodes: int = 0, **config) -> Daemon:
        """A cordond whose state directory is a tmpfs of @size_mib MiB (and
        @inodes inodes, when given)."""
        d = Daemon(**config)
        d.state.mkdir(mode=0o700)
        opts = f"size={size_mib}m,mode=0700" + (f",nr_inodes={inodes}" if inodes else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "cordon-test-state", str(d.state)],
                       check=True)
        self.addCleanup(shutil.rmtree, d.tmp, True)
        self.addCleanup(subprocess.run, ["umount", "-l", str(d.state)], check=True)
        self.addCleanup(self._destroy, d)
        d.start()
        return d

    def fill(self, d: Daemon, leave_mib: int) -> Path:
        """Fill the state disk until @leave_mib MiB are free."""
        st = os.statvfs(d.state)
        free = st.f_bavail * st.f_frsize
        filler = d.state / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - (leave_mib << 20)))
        return filler

    def assert_chain_whole(self, d: Daemon) -> None:
        recs = [json.loads(line) for line in d.audit_text().splitlines()]
        self.assertEqual([r["seq"] for r in recs], list(range(1, len(recs) + 1)))

    def test_full_disk(self):
        """A state disk short of space: submissions are refused 507 before the
        reserve is touched, nothing half-stored, earlier jobs and the audit log
        intact; once space is back, jobs are taken again."""
        # No client quota: a quarter of the disk, it would stop the chunked
        # upload below first (uploads in progress count against it).
        d = self.small_state_disk(64, min_free="16M", max_body="64M", max_input="64M",
                                  max_stored_per_client="0")
        c = d.client()
        j = submit_sh(d, "echo kept > /out/kept.txt\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        ok = {"profile": "default", "entry": "job.sh"}
        sh = [("job.sh", b"echo hi\n")]

        # A declared body that would eat into the reserve: refused at once.
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        ct, body = multipart([("job", None, "application/json", job_bytes(ok))] +
                             [("f", "job.sh", None, b"echo hi\n")], "cordon-disk")
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                f"Content-Length: {56 << 20}\r\n\r\n").encode()
        problem_of(self, raw(d.sock, head + body, "POST", "/v1/jobs"), 507,
                   "insufficient_storage")
        # A chunked upload (no length) is checked as it arrives.
        parts = [("job", None, "application/json", job_bytes(ok)),
                 ("f", "job.sh", None, b"echo hi\n"), ("g", "big", None, b"b" * (60 << 20))]
        ct, body = multipart(parts)

        def chunks():
            for i in range(0, len(body), 1 << 20):
                yield body[i:i + (1 << 20)]

        r = request(d.sock, "POST", "/v1/jobs", chunks(), {"Content-Type": ct})
        problem_of(self, r, 507, "insufficient_storage")
        self.assert_nothing_stored(d, jobs_before, sub_before)

        # The disk nearly full (10 MiB free, under the 16 MiB reserve).
        filler = self.fill(d, 10)
        problem_of(self, submit_raw(d.sock, ok, sh), 507, "insufficient_storage")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        self.assertEqual(c.health()["status"], "ok")
        self.assertEqual(c.artifact(j, "kept.txt")[0], b"kept\n")
        self.assertEqual(c.job(j)["verdict"], "ok")
        self.assert_chain_whole(d)

        # Space back: taken again.
        filler.unlink()
        j2 = submit_sh(d, "echo again > /out/a.txt\n")["id"]
        self.assertEqual(wait_job(d, j2, 120)["verdict"], "ok")
        self.assertEqual(c.artifact(j2, "a.txt")[0], b"again\n")
        self.assert_chain_whole(d)

    def test_downloads_keep_the_verdicts_reserve(self):
        """Every download is an audit record, and a client may download as
        often as its request rate allows (one byte, over and over): with the
        state disk down to the half of min_free kept for verdicts, reads
        are refused 507 and write nothing; above it they are served again.
        Before, the records ate into that half."""
        d = self.small_state_disk(64, min_free="16M", max_stored_per_client="0")
        j = submit_sh(d, "echo out\necho kept > /out/kept.txt\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        reads = len(d.audit("output.read")) + len(d.audit("artifact.read"))
        filler = self.fill(d, 6)  # under the 8 MiB half
        for path in (f"/v1/jobs/{j}/artifacts/kept.txt", f"/v1/jobs/{j}/artifacts.tar",
                     f"/v1/jobs/{j}/stdout"):
            problem_of(self, request(d.sock, "GET", path), 507, "insufficient_storage")
        self.assertEqual(len(d.audit("output.read")) + len(d.audit("artifact.read")), reads)
        self.assertEqual(d.client().job(j)["verdict"], "ok")
        filler.unlink()
        self.assertEqual(d.client().artifact(j, "kept.txt")[0], b"kept\n")
        self.assertEqual(request(d.sock, "GET", f"/v1/jobs/{j}/stdout").body, b"out\n")
        self.assert_chain_whole(d)

    def test_refusals_keep_the_verdicts_reserve(self):
        """A peer with no role is refused (403) whatever the disk holds, but
        its auth.refused records, one a second for as long as it likes,
        keep out of the half of min_free kept for verdicts, as downloads
        do: down there it is refused with no record, above it with one.
        Before, every refusal was written, so such a peer could fill the
        disk to where no verdict could be recorded."""
        d = self.small_state_disk(64, min_free="16M", max_stored_per_client="0")

        def refused():
            r = request(d.sock, "GET", "/v1/health")
            return r.status, r.json()["code"]

        self.assertEqual(as_user("norole", refused), (403, "forbidden"))
        before = len(d.audit("auth.refused"))
        self.assertEqual(before, 1)
        filler = self.fill(d, 6)  # under the 8 MiB half
        for _ in range(3):  # within the refusals' burst of 10
            self.assertEqual(as_user("norole", refused), (403, "forbidden"))
        self.assertEqual(len(d.audit("auth.refused")), before)
        filler.unlink()
        self.assertEqual(as_user("norole", refused), (403, "forbidden"))
        self.assertEqual(len(d.audit("auth.refused")), before + 1)
        self.assert_chain_whole(d)

    def test_inode_reserve(self):
        """A job leaving 1900 empty directories on a state disk of 2000
        inodes: the copy stops at half the reserve's share of the inodes
        (min_free 16 of 64 MiB: a quarter of the inodes, 500; the copy
        leaves 250), the job ends setup_error, output_not_stored, and its
        verdict is recorded in the store and the log. New submissions are
        refused 507 while the reserve is short, and taken again once the job
        is deleted. Before, the copy took every inode the disk had."""
        d = self.small_state_disk(64, inodes=2000, min_free="16M")
        j = submit_sh(d, "mkdir $(seq -f /out/d%g 1 1900)\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertIn("No space left on device", job["result"]["error"])
        self.assertEqual(len(d.audit("job.finished", j)), 1)
        self.assertGreaterEqual(os.statvfs(d.state).f_favail, 240)
        ok = {"profile": "default", "entry": "job.sh"}
        problem_of(self, submit_raw(d.sock, ok, [("job.sh", b"echo hi\n")]), 507,
                   "insufficient_storage")
        d.client().delete(j)
        j2 = submit_sh(d, "echo again\n")["id"]
        self.assertEqual(wait_job(d, j2, 120)["verdict"], "ok")
        self.assert_chain_whole(d)

    def test_default_reserve_scales_with_a_small_disk(self):
        """No min_free configured: a 100 MiB state disk keeps a tenth of it
        (10 MiB) free, not 512 MiB, which would refuse every job."""
        d = self.small_state_disk(100)
        ok = {"profile": "default", "entry": "job.sh"}
        sh = [("job.sh", b"echo hi\n")]
        j = submit_sh(d, "echo hi\n")["id"]  # 90+ MiB free: taken
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        filler = self.fill(d, 8)  # under a tenth
        problem_of(self, submit_raw(d.sock, ok, sh), 507, "insufficient_storage")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        filler.unlink()
        filler = self.fill(d, 14)  # over a tenth
        j2 = submit_sh(d, "echo again\n")["id"]
        self.assertEqual(wait_job(d, j2, 120)["verdict"], "ok")

    def test_disk_full_without_reserve(self):
        """min_free 0: an upload that hits ENOSPC itself is refused 507 and its
        staged files are removed."""
        d = self.small_state_disk(32, min_free="0", max_body="64M", max_input="64M")
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        filler = self.fill(d, 4)
        r = submit_raw(d.sock, {"profile": "default", "entry": "job.sh"},
                       [("job.sh", b"echo hi\n"), ("big", b"b" * (8 << 20))])
        problem_of(self, r, 507, "insufficient_storage")
        self.assert_nothing_stored(d, jobs_before, sub_before)
        self.assertEqual(d.client().health()["status"], "ok")
        filler.unlink()
        j = submit_sh(d, "echo ok\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        self.assert_chain_whole(d)

    def test_disk_fills_while_a_job_runs(self):
        """The state disk fills up while a job runs: its verdict is neither
        lost nor given before both the log and the store hold it. The job
        stays running (the failing step tried again; which one fails first
        depends on the slack in the audit log's last page) until space is
        back, then finishes with exactly one job.finished and an unbroken
        chain. Before, a failed store write left it running for good, and a
        failed record let the API give a verdict the log did not hold."""
        d = self.small_state_disk(32, min_free="0")
        j = submit_sh(d, "echo started\nexec sleep 3\n")["id"]
        wait_running(d, j)
        filler = self.fill(d, 0)
        try:
            # The job has ended; its verdict cannot be stored (the first
            # failure is logged), and a second later, tried three more
            # times (0.1, 0.2, 0.4 s), still is not. 60 s: a hang bound.
            self.assertTrue(poll(lambda: f"level=error job={j} " in d.log_path.read_text(
                errors="replace"), 60), "no failure to store the verdict was logged")
            time.sleep(1)
            job = d.client().job(j)
            self.assertEqual((job["state"], job["verdict"]), ("running", None))
        finally:
            filler.unlink()
        self.assertEqual(wait_job(d, j, 60)["state"], "finished")
        self.assertEqual(len(d.audit("job.finished", j)), 1)
        self.assert_chain_whole(d)
        j2 = submit_sh(d, "echo again\n")["id"]
        self.assertEqual(wait_job(d, j2, 120)["verdict"], "ok")

    def assert_output_not_stored(self, d: Daemon, j: str, stored: dict) -> None:
        """Job @j ran and exited 0, but its output could not all be stored:
        setup_error with reason output_not_stored, the errno in result.error,
        and a manifest listing exactly @stored (path: bytes), each fetchable."""
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertIn("No space left on device", job["result"]["error"])
        c = d.client()
        listed = {a["path"]: a for a in c.artifacts(j)["artifacts"]}
        self.assertEqual(set(listed), set(stored))
        for path, data in stored.items():
            self.assertEqual(c.artifact(j, path)[0], data)
            self.assertEqual(listed[path]["sha256"], hashlib.sha256(data).hexdigest())
        fin = d.audit("job.finished", j)
        self.assertEqual(len(fin), 1)
        self.assertEqual(fin[0]["details"]["reason"], "output_not_stored")

    def test_disk_fills_before_collection(self):
        """The state disk fills up while a job runs (min_free 0): its
        artifacts are copied until the disk is full. The job ends
        setup_error, reason output_not_stored; the manifest lists the file
        stored before the disk filled, not the one whose copy failed nor
        any after it. Before, the verdict stayed ok and the manifest listed
        the failed copy as taken, without a checksum."""
        d = self.small_state_disk(32, min_free="0")
        j = submit_sh(d, "head -c 65536 /dev/zero > /out/a.bin\n"
                         "head -c 8M /dev/zero > /out/b.bin\n"
                         "echo c > /out/c.txt\necho started\nexec sleep 3\n")["id"]
        wait_running(d, j)
        filler = self.fill(d, 2)
        try:
            self.assert_output_not_stored(d, j, {"a.bin": bytes(65536)})
        finally:
            filler.unlink()
        self.assert_chain_whole(d)
        j2 = submit_sh(d, "echo again > /out/a.txt\n")["id"]
        self.assertEqual(wait_job(d, j2, 120)["verdict"], "ok")

    def test_output_stops_at_the_reserve(self):
        """A job's stdout may not eat the room kept for the records: with
        min_free 16M on a 64 MiB state disk, 60 MiB of stdout (output_max
        64M) stops at half the reserve, as a full disk would. The job ends
        setup_error, reason output_not_stored, its verdict recorded without
        any space freed, and the stream is served as truncated. Before, the
        relay wrote until the disk was full and the verdict waited."""
        d = self.small_state_disk(64, min_free="16M", output_max=64 << 20)
        j = submit_sh(d, "head -c 60M /dev/zero\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertIn("stdout or stderr: No space left on device", job["result"]["error"])
        self.assertTrue(job["result"]["output"]["stdout_truncated"])
        st = os.statvfs(d.state)
        self.assertGreaterEqual(st.f_bavail * st.f_frsize, 7 << 20)
        data, truncated = d.client().stdout(j)
        self.assertTrue(truncated)
        self.assertLess(len(data), 60 << 20)
        self.assertEqual(len(d.audit("job.finished", j)), 1)
        self.assert_chain_whole(d)

    def test_disk_fills_while_output_is_written(self):
        """The state disk is full when the job writes its stdout: the write
        fails (ENOSPC), so the job ends setup_error, reason
        output_not_stored, once space is back for its verdict. Before, the
        relay dropped the rest of the output in silence and the job was ok."""
        d = self.small_state_disk(32, min_free="0")
        j = submit_sh(d, "echo started\nsleep 2\nhead -c 4M /dev/zero\n")["id"]
        wait_running(d, j)
        filler = self.fill(d, 0)
        try:
            # Space comes back once the job has written and ended: its
            # verdict failed to be stored (logged) or was stored. 60 s: a
            # hang bound.
            self.assertTrue(poll(lambda: f"level=error job={j} " in d.log_path.read_text(
                errors="replace") or d.client().job(j)["state"] == "finished", 60),
                "the job never ended")
        finally:
            filler.unlink()
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertIn("stdout or stderr: No space left on device", job["result"]["error"])
        self.assertLess(len(d.client().stdout(j)[0]), 4 << 20)
        self.assert_chain_whole(d)

    def test_output_that_fails_to_reach_the_disk(self):
        """syncfs of the job's files fails (injected EIO, as writeback
        errors are reported): the job ends setup_error, reason
        output_not_stored, and says which step failed."""
        d = self.start_daemon(slots=1, fault="syncfs")
        j = submit_sh(d, "echo hi > /out/a.txt\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertIn("syncfs", job["result"]["error"])
        self.assertIn("Input/output error", job["result"]["error"])
        # No file can be told whole: none is listed or served.
        self.assertEqual(d.client().artifacts(j)["artifacts"], [])
        with self.assertRaises(cc.CordonError) as e:
            d.client().artifact(j, "a.txt")
        self.assertEqual(e.exception.code, "artifact_not_found")

    def test_output_and_syncfs_both_fail(self):
        """stdout stops at the reserve (ENOSPC) and syncfs fails too, as on
        a disk that is really full: still no artifact is listed or served.
        Before, the stdout error hid the syncfs one and the manifest stayed."""
        d = self.small_state_disk(64, min_free="16M", output_max=64 << 20, fault="syncfs")
        j = submit_sh(d, "echo a > /out/a.txt\nhead -c 60M /dev/zero\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertIn("stdout or stderr", job["result"]["error"])
        self.assertEqual(d.client().artifacts(j)["artifacts"], [])

    def test_failed_teardown(self):
        """The job's teardown fails after it ran (injected, once its cgroup
        is gone): its output is stored and its verdict stands, and the
        failure is in cordond's log as a warning."""
        d = self.start_daemon(slots=1, fault="teardown")
        j = submit_sh(d, "echo hi > /out/a.txt\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("ok", None))
        self.assertEqual(d.client().artifact(j, "a.txt")[0], b"hi\n")
        self.assertTrue(poll(lambda: "teardown: injected fault" in
                             d.log_path.read_text(errors="replace"), 10))
        self.assert_chain_whole(d)

    def test_failed_teardown_and_lost_output(self):
        """Both at once: the teardown fails and the output does not reach
        the disk. The job ends setup_error, reason output_not_stored, with
        the lost output's error in its result (the one its client needs);
        the teardown's is logged, not dropped."""
        d = self.start_daemon(slots=1, fault="teardown,syncfs")
        j = submit_sh(d, "echo hi > /out/a.txt\n")["id"]
        job = wait_job(d, j, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("setup_error", "output_not_stored"))
        self.assertEqual(job["result"]["exit_code"], 0)
        self.assertIn("syncfs", job["result"]["error"])
        self.assertNotIn("teardown", job["result"]["error"])
        self.assertTrue(poll(lambda: "teardown: injected fault" in
                             d.log_path.read_text(errors="replace"), 10))
        fin = d.audit("job.finished", j)
        self.assertEqual(len(fin), 1)
        self.assertEqual(fin[0]["details"]["reason"], "output_not_stored")
        self.assert_chain_whole(d)

    def test_artifacts_keep_half_the_reserve(self):
        """min_free 16M: submissions stop at 16 MiB free, and a finished
        job's artifacts may not take the disk under 8 MiB, the half kept
        for the store and the audit log. With 12 MiB free, a job with a
        10 MiB artifact ends output_not_stored while one with 1 MiB is ok."""
        d = self.small_state_disk(64, min_free="16M", slots=2)
        # The two wait queued behind jobs that hold both slots until the disk
        # is filled: a job collected before the fill (as one that ran first
        # and slept, on a slow host, could be) would have room to spare.
        blockers = [submit_sh(d, SLEEP_SH)["id"] for _ in range(2)]
        for b in blockers:
            wait_running(d, b)
        big = submit_sh(d, "head -c 10M /dev/zero > /out/big.bin\n")["id"]
        small = submit_sh(d, "head -c 1M /dev/zero > /out/small.bin\n")["id"]
        filler = self.fill(d, 12)
        try:
            for b in blockers:
                d.client().cancel(b)
            self.assert_output_not_stored(d, big, {})
            job = wait_job(d, small, 120)
            self.assertEqual((job["verdict"], job["reason"]), ("ok", None))
            self.assertEqual(d.client().artifact(small, "small.bin")[0], bytes(1 << 20))
        finally:
            filler.unlink()
        self.assert_chain_whole(d)

    def partial_uploads(self, d: Daemon) -> dict:
        """Each upload in progress (jobs/<id>.partial): the bytes of its inputs."""
        out = {}
        for p in (d.state / "jobs").glob("*.partial"):
            try:
                out[p.name] = sum(f.stat().st_size for f in (p / "inputs").iterdir())
            except FileNotFoundError:
                pass  # just removed, or no file yet
        return out

    @staticmethod
    def answer(s: socket.socket):
        """The problem cordond answered on @s: (status, code)."""
        resp = http.client.HTTPResponse(s, method="POST")
        resp.begin()
        r = _checked(resp, "POST", "/v1/jobs")
        s.close()
        return r.status, r.json()["code"]

    def start_upload(self, d: Daemon, who: str, declared: int = None):
        """POST /v1/jobs as @who, chunked (or with Content-Length @declared),
        up to the start of a file part big.bin. Returns (socket, the name of
        its jobs/<id>.partial) once cordond has staged it, or (None,
        (status, code)) when it answered instead."""
        before = set(self.partial_uploads(d))
        ct, body = multipart([("job", None, "application/json",
                               job_bytes({"profile": "default", "entry": "job.sh"})),
                              ("f", "job.sh", None, b"echo hi\n")], "cordon-held")
        body = body[:-len(b"--cordon-held--\r\n")] + (
            b'--cordon-held\r\nContent-Disposition: form-data; name="g"; '
            b'filename="big.bin"\r\n\r\n')
        framing = (f"Content-Length: {declared}" if declared is not None
                   else "Transfer-Encoding: chunked")
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                f"{framing}\r\n\r\n").encode()
        s = connect_as(who, d.sock)
        s.settimeout(60)
        try:
            s.sendall(head + (body if declared is not None
                              else b"%x\r\n%s\r\n" % (len(body), body)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early: the answer is still readable

        def staged():
            if select.select([s], [], [], 0)[0]:
                return "answered"
            new = set(self.partial_uploads(d)) - before
            return new.pop() if len(new) == 1 else None

        name = poll(staged, 60)
        self.assertIsNotNone(name, "the upload is neither staged nor answered")
        if name == "answered":
            return None, self.answer(s)
        return s, name

    def feed_upload(self, d: Daemon, s: socket.socket, name: str, size: int,
                    declared: bool = False):
        """Send @size bytes of the file part of upload @name (start_upload)
        and nothing more. Returns "held" once cordond has stored them, or
        the (status, code) it answered."""
        block = b"\0" * (256 << 10)
        try:
            for i in range(0, size, len(block)):
                b = block[:min(len(block), size - i)]
                s.sendall(b if declared else b"%x\r\n%s\r\n" % (len(b), b))
        except (BrokenPipeError, ConnectionResetError):
            pass

        def fate():
            if select.select([s], [], [], 0)[0]:
                return "answered"
            # libmicrohttpd keeps the last few bytes back until it sees
            # whether a boundary follows.
            return "held" if self.partial_uploads(d).get(name, 0) >= size - 4096 else None

        f = poll(fate, 60)
        self.assertIsNotNone(f, "the upload is neither stored nor answered")
        return f if f == "held" else self.answer(s)

    def held_uploads(self, d: Daemon, who: str, n: int, size: int, declared: int = None):
        """@n uploads of @who started together, then fed @size bytes each in
        turn and held open. Returns (their open sockets, each one's fate)."""
        started = [self.start_upload(d, who, declared) for _ in range(n)]
        conns = [s for s, _ in started if s]
        self.addCleanup(lambda: [s.close() for s in conns])
        fates = [name if not s else self.feed_upload(d, s, name, size, declared is not None)
                 for s, name in started]
        for (s, _), f in zip(started, fates):
            if s and f != "held":
                conns.remove(s)
        return conns, fates

    def close_uploads(self, d: Daemon, conns: list) -> None:
        """Close the held uploads; cordond removes what they staged."""
        for s in conns:
            s.close()
        conns.clear()
        self.assertTrue(poll(lambda: not self.partial_uploads(d), 30),
                        f"partial uploads left: {self.partial_uploads(d)}")

    def test_uploads_in_progress_keep_the_reserve(self):
        """Uploads in progress count what they have reserved and not yet
        written: with min_free 16M of a 64 MiB state disk, chunked uploads
        of 7 MiB each (under the 8 MiB at which one was checked again)
        held open together stop at the reserve, the rest refused 507;
        another client's job waiting meanwhile then still stores its
        artifact. Before, each upload was checked alone, every 8 MiB: eight
        of them took the disk to 7 MiB free, and the job's artifact was
        lost (setup_error, output_not_stored)."""
        d = self.small_state_disk(64, min_free="16M", max_stored_per_client="0", slots=1,
                                  max_body="64M", max_input="64M", connection_timeout="120s")
        blocker = as_user("b", submit_sh, d, SLEEP_SH)["id"]
        as_user("b", wait_running, d, blocker)
        victim = as_user("b", submit_sh, d, "head -c 3M /dev/zero > /out/v.bin\n")["id"]
        conns, fates = self.held_uploads(d, "a", 8, 7 << 20)
        st = os.statvfs(d.state)
        # Less a little for what the store may write meanwhile.
        self.assertGreaterEqual(st.f_bavail * st.f_frsize, (16 << 20) - (256 << 10), fates)
        self.assertIn((507, "insufficient_storage"), fates)
        self.assertEqual(set(fates), {"held", (507, "insufficient_storage")}, fates)
        self.assertGreaterEqual(fates.count("held"), 4, fates)
        d.client().cancel(blocker)
        job = wait_job(d, victim, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("ok", None))
        self.assertEqual(d.client().artifact(victim, "v.bin")[0], bytes(3 << 20))
        self.close_uploads(d, conns)
        self.assert_chain_whole(d)

    def test_uploads_in_progress_count_against_the_quota(self):
        """A client's uploads in progress count against its
        max_stored_per_client (by default a quarter of the disk: 16 MiB of
        64): of its chunked uploads of 7 MiB held open together, two are
        taken and the others refused 507 quota_exceeded, so that another
        client can still submit, and its job waiting meanwhile stores its
        artifact. Before, uploads did not count until stored: the client
        took the disk under the reserve, other clients got 507 and the job
        lost its artifact."""
        d = self.small_state_disk(64, slots=1, max_body="64M", max_input="64M",
                                  connection_timeout="120s")
        blocker = as_user("b", submit_sh, d, SLEEP_SH)["id"]
        as_user("b", wait_running, d, blocker)
        victim = as_user("b", submit_sh, d, "head -c 2M /dev/zero > /out/v.bin\n")["id"]
        conns, fates = self.held_uploads(d, "a", 8, 7 << 20)
        self.assertEqual(fates[:2], ["held", "held"], fates)
        self.assertEqual(set(fates[2:]), {(507, "quota_exceeded")}, fates)
        self.assertLessEqual(sum(self.partial_uploads(d).values()), 16 << 20)
        r = as_user("b", lambda: submit_raw(d.sock, {"profile": "default", "entry": "job.sh"},
                                            [("job.sh", b"echo b\n")]).status)
        self.assertEqual(r, 201)
        d.client().cancel(blocker)
        job = wait_job(d, victim, 120)
        self.assertEqual((job["verdict"], job["reason"]), ("ok", None))
        self.close_uploads(d, conns)
        # Their room is given back: the client's next upload is taken.
        self.assertEqual(as_user("a", lambda: submit_raw(
            d.sock, {"profile": "default", "entry": "job.sh"},
            [("job.sh", b"echo a\n"), ("big.bin", bytes(12 << 20))]).status), 201)

    def test_declared_uploads_reserve_their_length(self):
        """An upload with a Content-Length reserves it before its body: with
        min_free 16M of a 64 MiB state disk, two uploads declaring 20 MiB
        are taken and a third, declared while they are held, is refused 507
        at once. The room goes back when an upload is cut off, refused once
        whole, or stored: 30 MiB is taken after each, also by the client's
        quota of 40 MiB, which a room kept would hold (the free space would
        not: what an upload wrote is in it, and once whole it has no room
        left unwritten). Before, each declared upload was held only against
        the free space, which the others had not yet written: all three
        were taken."""
        d = self.small_state_disk(64, min_free="16M", max_stored_per_client="40M",
                                  max_body="64M", max_input="64M", connection_timeout="120s")
        conns, fates = self.held_uploads(d, "a", 3, 1 << 20, declared=20 << 20)
        self.assertEqual(fates, ["held", "held", (507, "insufficient_storage")])
        self.close_uploads(d, conns)
        big = [("job.sh", b"echo hi\n"), ("big.bin", bytes(30 << 20))]
        problem_of(self, submit_raw(d.sock, {"profile": "nope", "entry": "job.sh"}, big), 400,
                   "unknown_profile")
        ok = {"profile": "default", "entry": "job.sh"}
        for _ in range(2):
            r = submit_raw(d.sock, ok, big)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(wait_job(d, r.json()["id"], 120)["verdict"], "ok")
        self.assert_chain_whole(d)

    @staticmethod
    def in_blocks(n: int) -> int:
        """The bytes a file of @n bytes takes on a tmpfs: whole 4 KiB pages."""
        return -(-n // 4096) * 4096

    def upload_held_at_its_end(self, d: Daemon, who: str, job, files):
        """POST /v1/jobs as @who with a Content-Length, its whole body sent
        but the closing boundary. Returns (socket, what is left to send)
        once cordond has stored the files (but the few bytes libmicrohttpd
        keeps back until it sees what follows): every room it asked for on
        the way is taken."""
        before = set(self.partial_uploads(d))
        ct, body = multipart([("job", None, "application/json", job_bytes(job))] +
                             [(f"input{i}", name, None, data)
                              for i, (name, data) in enumerate(files)], "cordon-end")
        rest = b"--cordon-end--\r\n"
        self.assertTrue(body.endswith(rest))
        s = connect_as(who, d.sock)
        s.settimeout(60)
        self.addCleanup(s.close)
        s.sendall((f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:-len(rest)])
        size = sum(len(data) for _, data in files)

        def stored():
            if select.select([s], [], [], 0)[0]:
                return "answered"
            new = {k: v for k, v in self.partial_uploads(d).items() if k not in before}
            return "held" if new and max(new.values()) >= size - 256 else None

        self.assertEqual(poll(stored, 60), "held", "the upload is neither stored nor answered")
        return s, rest

    def test_declared_uploads_fill_the_quota_exactly(self):
        """Two declared uploads of one client, whose charges add up to its
        max_stored_per_client to the byte, are both stored; the second
        while the first is held open at the end of its body. A job is
        charged its files' blocks, an inode's worth (4 KiB here) per file
        and directory, and its request (docs/operations.md); an upload's
        room counts its files' blocks (a file's part-filled last block
        once), which its charge holds. Before, every chunk wanted 4 KiB
        more room than itself: the first upload's last chunks asked the
        quota for more than it had declared, took a window of 1 MiB with
        it, and the second was refused 507 quota_exceeded while the first
        was held."""
        inodes = 16384  # 64 MiB over 16384 inodes: 4 KiB an inode
        job_a = {"profile": "default", "entry": "job.sh", "labels": {"n": "a"}}
        job_b = {"profile": "default", "entry": "job.sh", "labels": {"n": "b"}}
        files_a = [("job.sh", b"echo a\n"), ("big.bin", bytes(2 << 20))]
        files_b = [("job.sh", b"echo b\n"), ("big.bin", bytes(1 << 20))]

        def charge(job, files):
            return (sum(self.in_blocks(len(data)) for _, data in files) +
                    (2 + len(files)) * 4096 + len(job_bytes(job)))

        quota = charge(job_a, files_a) + charge(job_b, files_b)
        d = self.small_state_disk(64, inodes=inodes, slots=1, max_stored_per_client=quota,
                                  connection_timeout="120s")
        st = os.statvfs(d.state)
        self.assertEqual((st.f_blocks * st.f_frsize, st.f_files), (64 << 20, inodes))
        # Client b's job takes the slot: a's stay queued, charged as submitted.
        blocker = as_user("b", submit_sh, d, SLEEP_SH)["id"]
        as_user("b", wait_running, d, blocker)

        s, rest = self.upload_held_at_its_end(d, "a", job_a, files_a)
        r = as_user("a", submit_raw, d.sock, job_b, files_b)
        self.assertEqual(r.status, 201, r)
        s.sendall(rest)
        resp = http.client.HTTPResponse(s, method="POST")
        resp.begin()
        r = _checked(resp, "POST", "/v1/jobs")
        self.assertEqual(r.status, 201, r)
        # Full to the byte: the next job, however small, is over.
        r = as_user("a", submit_raw, d.sock, {"profile": "default", "entry": "job.sh"},
                    [("job.sh", b"echo c\n")])
        detail = problem_of(self, r, 507, "quota_exceeded")["detail"]
        self.assertIn(f"hold {quota} of the {quota} bytes", detail)
        d.client().cancel(blocker)

    def test_declared_upload_that_fills_the_disk_exactly(self):
        """A declared upload whose files take exactly what the state disk
        has free above min_free is stored, and refused 507 on the way with
        a block less: its room counts them in the blocks the disk takes, a
        file's part-filled last block once. Before, every chunk wanted 4 KiB
        more room than itself, and a file's last block counted twice once
        written (in the free space, and still as room not written): the
        upload that fits was refused 507 insufficient_storage on its last
        chunks."""
        d = self.small_state_disk(64, min_free="16M", max_stored_per_client="0")
        files = [("job.sh", b"cat notes.txt\n"), ("notes.txt", b"fits\n"),
                 ("big.bin", bytes(1 << 20))]
        take = sum(self.in_blocks(len(data)) for _, data in files)
        ct, body = multipart([("job", None, "application/json",
                               job_bytes({"profile": "default", "entry": "job.sh"}))] +
                             [(f"input{i}", name, None, data)
                              for i, (name, data) in enumerate(files)])
        # With a block less, its declared length still fits: its blocks do not.
        self.assertLessEqual(len(body), take - 4096)

        def free():
            st = os.statvfs(d.state)
            return st.f_bavail * st.f_frsize

        def submit():
            return request(d.sock, "POST", "/v1/jobs", body, {"Content-Type": ct})

        filler = d.state / "filler"
        with open(filler, "wb") as f:
            f.write(bytes(free() - (16 << 20) - take + 4096))
        self.assertEqual(free(), (16 << 20) + take - 4096)
        problem_of(self, submit(), 507, "insufficient_storage")
        self.assertTrue(poll(lambda: not self.partial_uploads(d), 10))
        os.truncate(filler, filler.stat().st_size - 4096)
        self.assertEqual(free(), (16 << 20) + take)
        r = submit()
        self.assertEqual(r.status, 201, r)
        filler.unlink()
        job = wait_job(d, r.json()["id"], 120)
        self.assertEqual(job["verdict"], "ok")
        self.assertEqual(d.client().stdout(job["id"])[0], b"fits\n")

    def test_refusals_are_rate_limited(self):
        """A peer without a role can connect (it is in the socket's group)
        but every 403 it gets is an fsync'd auth.refused record: it gets
        at most 10 at once and one a second after that, then 429 with no
        record. Before, the general rate (here 1000/s) let it grow the
        audit log as fast as it could ask."""
        d = self.start_daemon()

        def hammer():
            t0 = time.monotonic()
            codes = [request(d.sock, "GET", "/v1/health").status for _ in range(60)]
            return codes, time.monotonic() - t0

        codes, elapsed = as_user("norole", hammer)
        refused = d.audit("auth.refused")
        self.assertEqual(set(codes), {403, 429})
        self.assertGreaterEqual(codes.count(403), 10)
        self.assertLessEqual(codes.count(403), 10 + int(elapsed) + 1)
        self.assertEqual(len(refused), codes.count(403))
        self.assertEqual(codes[:10], [403] * 10)
        # Another uid without a role has a bucket of its own; roles are not held back.
        other, _ = as_user("collide", hammer)
        self.assertEqual(other[:10], [403] * 10)
        self.assertEqual(d.client().health()["status"], "ok")
        self.assertEqual(as_user("a", lambda: d.client().health())["status"], "ok")
        time.sleep(1.2)  # a token back
        self.assertEqual(as_user("norole", lambda: request(d.sock, "GET", "/v1/health").status),
                         403)

    def test_client_quota(self):
        """One client's jobs hold at most max_stored_per_client of the state
        disk: its inputs while a job waits or runs, its stdout, stderr and
        artifacts once it has finished. Over it, the client's submissions
        are refused 507 quota_exceeded (declared or chunked bodies), with
        nothing stored or recorded; other clients are not held back; a
        finished job's inputs and a deleted job's files give the room back."""
        d = self.start_daemon(max_stored_per_client="1M", max_body="4M", max_input="4M")
        ok = {"profile": "default", "entry": "job.sh"}
        big = b"x" * (700 << 10)

        def status_of(r):
            return (r.status, r.json().get("code") if r.status >= 400 else None)

        def submit_big(script: bytes):
            r = submit_raw(d.sock, ok, [("job.sh", script), ("big.bin", big)])
            return status_of(r), (r.json().get("id") if r.status == 201 else r.json()["detail"])

        def submit_chunked():
            ct, body = multipart([("job", None, "application/json", job_bytes(ok)),
                                  ("f", "job.sh", None, b"echo hi\n"),
                                  ("g", "big.bin", None, big)])
            return status_of(request(d.sock, "POST", "/v1/jobs",
                                     (body[i:i + 65536] for i in range(0, len(body), 65536)),
                                     {"Content-Type": ct}))

        (st, j1) = as_user("a", submit_big, SLEEP_SH.encode())
        self.assertEqual(st, (201, None))
        as_user("a", wait_running, d, j1)
        jobs_before, sub_before = d.job_entries(), len(d.audit("job.submitted"))
        (st, detail) = as_user("a", submit_big, b"echo hi\n")
        self.assertEqual(st, (507, "quota_exceeded"))
        self.assertIn("1048576 bytes allowed", detail)
        self.assertNotIn("big.bin", detail)
        self.assertEqual(as_user("a", submit_chunked), (507, "quota_exceeded"))
        self.assert_nothing_stored(d, jobs_before, sub_before)
        # Another client has a share of its own; a small job still fits.
        (st, jb) = as_user("b", submit_big, b"echo b\n")
        self.assertEqual(st, (201, None))
        small = as_user("a", submit_sh, d, "echo small\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, small)["verdict"], "ok")
        self.assertEqual(as_user("b", wait_job, d, jb)["verdict"], "ok")

        # The running job ends: its inputs are gone, and so is their count.
        d.client().cancel(j1)
        self.assertEqual(wait_job(d, j1, 60)["verdict"], "cancelled")
        (st, j2) = as_user("a", submit_big, b"echo again\n")
        self.assertEqual(st, (201, None))
        self.assertEqual(as_user("a", wait_job, d, j2)["verdict"], "ok")

        # Artifacts count once the job has finished, until it is deleted.
        j3 = as_user("a", submit_sh, d, "head -c 900000 /dev/zero > /out/z.bin\n")["id"]
        done = as_user("a", wait_job, d, j3)
        self.assertEqual(done["verdict"], "ok")
        self.assertEqual(done["result"]["artifacts"][0]["size"], 900000)
        (st, _) = as_user("a", submit_big, b"echo over\n")
        self.assertEqual(st, (507, "quota_exceeded"))
        as_user("a", lambda: d.client().delete(j3))
        (st, j4) = as_user("a", submit_big, b"echo room\n")
        self.assertEqual(st, (201, None))
        self.assertEqual(as_user("a", wait_job, d, j4)["verdict"], "ok")

        # The count survives a restart (it is in the store).
        j5 = as_user("a", submit_sh, d, "head -c 900000 /dev/zero > /out/z.bin\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, j5)["verdict"], "ok")
        d.stop()
        d.start()
        (st, _) = as_user("a", submit_big, b"echo over\n")
        self.assertEqual(st, (507, "quota_exceeded"))

    def test_quota_charges_what_the_disk_holds(self):
        """A job is charged what its files take on disk, not the bytes they
        hold: 600 one-byte artifacts in 30 directories take at least a block
        and an inode each, so they fill a 4 MiB quota that their 600 bytes
        would not. Before, they were charged 600 bytes and their stdout, and
        a client could hold inodes and blocks far past its quota."""
        d = self.start_daemon(max_stored_per_client="4M")
        ok = {"profile": "default", "entry": "job.sh"}
        many = ("for k in $(seq 0 29); do mkdir -p /out/d$k/e; done\n"
                "for i in $(seq 600); do printf x > /out/d$((i % 30))/e/f$i; done\n")

        def submit_small():
            r = submit_raw(d.sock, ok, [("job.sh", b"echo hi\n")])
            return r.status, r.json().get("code"), r.json().get("detail", "")

        j = as_user("a", submit_sh, d, many)["id"]
        done = as_user("a", wait_job, d, j)
        self.assertEqual(done["verdict"], "ok")
        self.assertEqual(len(done["result"]["artifacts"]), 600)
        status, code, detail = as_user("a", submit_small)
        self.assertEqual((status, code), (507, "quota_exceeded"))
        held = int(re.search(r"hold (\d+) of", detail).group(1))
        self.assertGreaterEqual(held, 600 * 8192)
        # Another client is not held back; deleting the job gives the room back.
        self.assertEqual(as_user("b", submit_small)[0], 201)
        as_user("a", lambda: d.client().delete(j))
        self.assertEqual(as_user("a", submit_small)[0], 201)

    def test_quota_of_a_job_cancelled_while_queued(self):
        """A job cancelled before it ran gives back its inputs' charge and
        keeps only its row and directory: a client can submit again, and
        what it holds is small but not nothing."""
        d = self.start_daemon(slots=1, max_stored_per_client="4M", max_body="8M")
        ok = {"profile": "default", "entry": "job.sh"}

        def submit_sized(n):
            r = submit_raw(d.sock, ok, [("job.sh", b"echo hi\n"), ("pad", b"x" * n)])
            return r.status, r.json().get("code"), r.json().get("detail", ""), r.json().get("id")

        run = as_user("b", submit_sh, d, SLEEP_SH)["id"]
        as_user("b", wait_running, d, run)
        status, _, _, queued = as_user("a", submit_sized, 3 << 20)
        self.assertEqual(status, 201)
        self.assertEqual(as_user("a", submit_sized, 2 << 20)[:2], (507, "quota_exceeded"))
        as_user("a", lambda: d.client().cancel(queued))
        self.assertEqual(as_user("a", wait_job, d, queued, 60)["verdict"], "cancelled")
        status, code, detail, _ = as_user("a", submit_sized, 5 << 20)
        self.assertEqual((status, code), (507, "quota_exceeded"))
        held = int(re.search(r"hold (\d+) of", detail).group(1))
        self.assertGreater(held, 0)
        self.assertLess(held, 256 << 10)
        self.assertEqual(as_user("a", submit_sized, 2 << 20)[0], 201)
        as_user("b", lambda: d.client().cancel(run))

    def test_slow_request_head_is_cut_off(self):
        """A client trickling its request head one byte at a time, each within
        the idle timeout, is still cut off once connection_timeout has passed."""
        d = self.start_daemon(connection_timeout="2s")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        s.settimeout(30)
        t0 = time.monotonic()
        closed = False
        try:
            for b in b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                s.sendall(bytes([b]))
                time.sleep(0.25)
                if time.monotonic() - t0 > 20:
                    break
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            try:
                closed = s.recv(1) == b""
            except ConnectionResetError:
                closed = True
        elapsed = time.monotonic() - t0
        s.close()
        self.assertTrue(closed, "the trickling connection was never closed")
        self.assertLess(elapsed, 15, "cut off far later than connection_timeout")
        # A well-behaved client is unaffected, and a keep-alive connection that
        # is idle between requests gets the timeout afresh after each answer.
        self.assertEqual(request(d.sock, "GET", "/v1/health").status, 200)

    def test_too_many_connections(self):
        d = self.start_daemon(max_connections=1)
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(d.sock)
        try:
            time.sleep(0.3)
            r = request(d.sock, "GET", "/v1/health")
            problem_of(self, r, 503, "too_many_connections")
            r = submit_raw(d.sock, {"profile": "default", "entry": "j.sh"}, [("j.sh", b"echo\n")])
            problem_of(self, r, 503, "too_many_connections")
        finally:
            idle.close()
        self.assertTrue(poll(lambda: request(d.sock, "GET", "/v1/health").status == 200, 10))
        self.assertEqual(os.listdir(d.state / "jobs"), [])

    def test_one_client_cannot_take_every_connection(self):
        """A submitter holding connections open (idle, slow uploads, long
        waits) reaches its own share, not the daemon's limit: the others,
        submitters and admins, still get in."""
        d = self.start_daemon(max_connections=6, max_connections_per_client=2)

        def hog(ready_fd, release_fd):
            held = []
            for _ in range(6):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(d.sock)
                held.append(s)
            over = poll(lambda: request(d.sock, "GET", "/v1/health").status == 503, 10)
            os.write(ready_fd, b"1" if over else b"0")
            os.read(release_fd, 1)
            for s in held:
                s.close()

        def gets_in():
            return poll(lambda: request(d.sock, "GET", "/v1/health").status == 200, 10)

        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        child = Child("a", hog, w1, r2)
        try:
            self.assertEqual(os.read(r1, 1), b"1", "uid a was never refused")
            self.assertTrue(as_user("b", gets_in), "uid b was locked out by uid a")
            self.assertTrue(gets_in(), "root (admin) was locked out by uid a")
            r = as_user("a", lambda: request(d.sock, "GET", "/v1/health"))
            problem_of(self, r, 503, "too_many_connections")
        finally:
            os.write(w2, b"1")
            child.result()
            for fd in (r1, w1, r2, w2):
                os.close(fd)
        self.assertTrue(as_user("a", gets_in))

    def test_request_timeout(self):
        d = self.start_daemon(request_timeout="1s")
        boundary = "cordon-slow"
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: 100000\r\n\r\n--{boundary}\r\n"
                'Content-Disposition: form-data; name="job"\r\n\r\n{"profile": "default", '
                f'"entry": "j.sh"}}\r\n--{boundary}\r\n'
                'Content-Disposition: form-data; name="f"; filename="j.sh"\r\n\r\n').encode()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(d.sock)
        try:
            s.sendall(head + b"x" * 1000)
            time.sleep(1.5)
            try:
                s.sendall(b"y" * 1000)
            except OSError:
                pass
            resp = http.client.HTTPResponse(s, method="POST")
            resp.begin()
            r = _checked(resp, "POST", "/v1/jobs")
        finally:
            s.close()
        problem_of(self, r, 408, "request_timeout")
        self.assertTrue(poll(lambda: os.listdir(d.state / "jobs") == [], 10))

    def test_request_timeout_without_body_bytes(self):
        """A chunked upload whose body is in, and that then trickles what
        carries no body byte (trailer lines, a chunk extension, a last
        chunk's size in leading zeros), one byte or line a second, each
        within the idle timeout: its request_timeout still ends it. No job
        is stored, and the connection is closed (or answered 408) long
        before the trickle ends (at request_timeout and connection_timeout
        at the latest). A last chunk that comes late is 408. Before, only a
        body byte looked at the clock: the upload was held for as long as
        the client went on, staged files, reserved room and quota with it,
        and then taken (201) far past request_timeout."""
        d = self.start_daemon(request_timeout="2s", connection_timeout="5s")
        ct, body, _ = small_upload("cordon-trickle")
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
                + f"{len(body):x}\r\n".encode() + body + b"\r\n")
        trickles = {
            "trailers": (b"0\r\n", [b"X-T%d: v\r\n" % i for i in range(20)], b"\r\n"),
            "extension": (b"0;", [b"a"] * 20, b"\r\n\r\n"),
            "zeros": (b"", [b"0"] * 20, b"\r\n\r\n"),
        }

        def trickle(start, pieces, end):
            """One trickled upload: (pieces sent, what it was answered)."""
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(d.sock)
            sent = 0
            try:
                s.sendall(head + start)
                try:
                    for piece in pieces:
                        time.sleep(1)
                        s.sendall(piece)
                        sent += 1
                    s.sendall(end)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # cut off: what it was answered, if anything, is read below
                answer = b""
                try:
                    while chunk := s.recv(65536):
                        answer += chunk
                except ConnectionResetError:
                    pass
            finally:
                s.close()
            return sent, answer

        def late_last_chunk():
            """The last chunk itself late (within the idle timeout)."""
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(d.sock)
            try:
                s.sendall(head)
                time.sleep(3)
                s.sendall(b"0\r\n\r\n")
                resp = http.client.HTTPResponse(s, method="POST")
                resp.begin()
                return _checked(resp, "POST", "/v1/jobs")
            finally:
                s.close()

        # Each upload on a connection of its own, all at once: each waits
        # out its own request_timeout and connection_timeout (about 8 s),
        # which they need not do one after the other (27 s).
        with concurrent.futures.ThreadPoolExecutor(len(trickles) + 1) as pool:
            running = {what: pool.submit(trickle, *t) for what, t in trickles.items()}
            late = pool.submit(late_last_chunk)
            for what, (start, pieces, end) in trickles.items():
                with self.subTest(what):
                    sent, answer = running[what].result()
                    self.assertNotIn(b" 201 ", answer.split(b"\r\n", 1)[0], answer[:300])
                    if answer:
                        resp = http.client.HTTPResponse(_Bytes(answer), method="POST")
                        resp.begin()
                        problem_of(self, _checked(resp, "POST", "/v1/jobs"), 408,
                                   "request_timeout")
                    self.assertLess(sent, len(pieces), "the trickle went on to its end")
            # A last chunk that comes late: 408, not 201.
            problem_of(self, late.result(), 408, "request_timeout")
        self.assertEqual(d.audit("job.submitted"), [])
        self.assertTrue(poll(lambda: os.listdir(d.state / "jobs") == [], 10),
                        os.listdir(d.state / "jobs"))
        self.assertEqual(request(d.sock, "GET", "/v1/health").status, 200)

    def test_shutting_down(self):
        d = self.start_daemon(slots=1, shutdown_grace="5s")
        j = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, j)
        conn = RecordingConnection(d.sock, timeout=30)  # opened before SIGTERM, kept alive
        try:
            conn.request("GET", "/v1/health")
            self.assertEqual(json.loads(conn.getresponse().body)["status"], "ok")
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)

            def stopping():
                conn.request("GET", "/v1/health")
                r = conn.getresponse()
                self.assertEqual(r.status, 200, r)
                return r.json()["status"] == "stopping"

            self.assertTrue(poll(stopping, 5), "health never said stopping")
            self.assertTrue(poll(lambda: not os.path.exists(d.sock), 5))
            with self.assertRaises(OSError):
                request(d.sock, "GET", "/v1/health")
            ct, body = multipart([("job", None, "application/json",
                                   job_bytes({"profile": "default", "entry": "j.sh"})),
                                  ("f", "j.sh", None, b"echo late\n")])
            try:
                conn.request("POST", "/v1/jobs", body, {"Content-Type": ct})
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered before the body was read: the answer is there
            problem_of(self, conn.getresponse(), 503, "shutting_down")
        finally:
            conn.close()
        self.assertEqual(d.proc.wait(timeout=60), 0)
        self.assertLess(time.monotonic() - t0, 40)
        self.assertEqual(job_processes(), [])
        self.assertEqual(leaf_cgroups(), [])
        self.assertEqual(sorted(os.listdir(d.state / "jobs")), [j])
        # The running job was cancelled at the end of the grace, and stays so.
        self.assertEqual([r["verdict"] for r in d.audit("job.finished", j)], ["cancelled"])
        d.start()
        job = d.client().job(j)
        self.assertEqual((job["state"], job["verdict"]), ("finished", "cancelled"))


    def test_profile_access(self):
        """profile_access keeps a profile to the submitters it lists (by uid
        or by group); admins may use any profile, and a profile not listed
        is open to every submitter. A refused submission is 403 forbidden
        with nothing stored, and GET /v1/profiles shows a client only the
        profiles it may use. Before, any submitter could pick any profile,
        with that profile's limits, mounts and seccomp additions."""
        d = self.start_daemon(profile_access={"data-export": {"uids": [UID_B],
                                                              "groups": [GID_SUBMIT_GROUP]}})
        export = dict(entry="export.R", inputs={"export.R": EXPORT_R.encode(),
                                                "cohort.csv": COHORT_CSV})
        before, submitted = d.job_entries(), len(d.audit("job.submitted"))
        with self.assertRaises(cc.CordonError) as cm:
            as_user("a", lambda: d.client().submit("data-export", **export))
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))
        self.assert_nothing_stored(d, before, submitted)
        names = lambda who: sorted(p["name"] for p in as_user(who, lambda: d.client().profiles()))
        self.assertNotIn("data-export", names("a"))
        self.assertIn("default", names("a"))
        for who in ("b", "groupsub", "groupadmin"):
            self.assertIn("data-export", names(who), who)
            j = as_user(who, lambda: d.client().submit("data-export", **export))["id"]
            self.assertEqual(as_user(who, wait_job, d, j, 240)["verdict"], "ok", who)
        j = d.client().submit("data-export", **export)["id"]  # root, an admin
        self.assertEqual(wait_job(d, j, 240)["verdict"], "ok")
        # Not listed: open to every submitter.
        j = as_user("a", submit_sh, d, "echo hi\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, j, 120)["verdict"], "ok")

    UNICODE_JOB = ("mkdir -p '/out/\u65e5\u672c'\n"
                   "echo a > /out/a.csv\n"
                   "printf '%s\\n' x y > '/out/\u00dcbersicht.csv'\n"
                   "echo d > '/out/\u65e5\u672c/\u30c7\u30fc\u30bf.csv'\n"
                   "echo z > /out/z.csv\n")

    def tar_members(self, d: Daemon, job_id: str) -> dict:
        buf = io.BytesIO()
        d.client().artifacts_tar(job_id, buf)
        with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:") as t:
            return {m.name: t.extractfile(m).read() for m in t.getmembers()}

    def test_tar_of_names_beyond_ascii(self):
        """Artifact names are UTF-8, and the tar carries them so (pax).
        Before, cordond's C locale could not convert them: the first such
        name ended the archive early, the file zeroed and the rest missing,
        in a tar that read as whole."""
        d = self.start_daemon()
        j = submit_sh(d, self.UNICODE_JOB)["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        taken = {e["path"]: e["sha256"] for e in d.client().artifacts(j)["artifacts"]}
        self.assertEqual(len(taken), 4, taken)
        members = self.tar_members(d, j)
        self.assertEqual(sorted(members), sorted(taken))
        for path, data in members.items():
            self.assertEqual(hashlib.sha256(data).hexdigest(), taken[path], path)

    def test_tar_cut_short_is_a_broken_transfer(self):
        """A stored artifact that cannot be read whole (here shortened on
        disk under cordond) ends the tar as a broken transfer: no end marker,
        no final chunk, so a client never takes it for a whole archive.
        Before, the entry was padded with zeros and the archive closed
        cleanly. The per-file download refuses the file too."""
        d = self.start_daemon()
        j = submit_sh(d, "echo a > /out/a.csv\nhead -c 300000 /dev/urandom > /out/b.bin\n"
                         "echo c > /out/c.csv\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        os.truncate(d.job_dir(j) / "artifacts" / "b.bin", 1000)
        with self.assertRaises(cc.CordonConnectionError):
            d.client().artifacts_tar(j, io.BytesIO())
        # On the wire: a 200 whose chunked body stops without its last chunk.
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.settimeout(30)
        sk.connect(d.sock)
        sk.sendall(f"GET /v1/jobs/{j}/artifacts.tar HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wire = b""
        while chunk := sk.recv(65536):
            wire += chunk
        sk.close()
        self.assertTrue(wire.startswith(b"HTTP/1.1 200 "), wire[:64])
        self.assertIn(b"transfer-encoding: chunked", wire.split(b"\r\n\r\n")[0].lower())
        self.assertFalse(wire.endswith(b"\r\n0\r\n\r\n"), wire[-64:])
        with self.assertRaises(cc.CordonError) as cm:
            d.client().artifact(j, "b.bin")
        self.assertEqual(cm.exception.status, 500)
        self.assertEqual(d.client().artifact(j, "c.csv")[0], b"c\n")

    def test_tar_without_libarchive(self):
        """libarchive is loaded when a tar is first asked for. One that
        cannot be loaded (not an ELF file, found first through
        LD_LIBRARY_PATH) does not stop cordond from starting or serving:
        the tar is refused with a 500 that says to fetch the artifacts one
        by one, nothing is recorded as read, and they can be."""
        lib = tempfile.mkdtemp(prefix="cordon-badarchive-")
        self.addCleanup(shutil.rmtree, lib, True)
        with open(os.path.join(lib, "libarchive.so.13"), "w") as f:
            f.write("not a library\n")
        os.environ["LD_LIBRARY_PATH"] = lib
        try:
            d = self.start_daemon()
        finally:
            del os.environ["LD_LIBRARY_PATH"]
        j = submit_sh(d, "echo hi > /out/a.txt\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        for _ in range(2):  # each request tries the load again
            r = request(d.sock, "GET", f"/v1/jobs/{j}/artifacts.tar")
            problem_of(self, r, 500, "internal")
            self.assertIn("one by one", r.json()["detail"])
        self.assertEqual(d.audit("artifact.read", j), [])
        self.assertEqual(d.client().artifact(j, "a.txt")[0], b"hi\n")
        # Each request tried the load again, and logged the loader's reason.
        log = d.log_path.read_text(errors="replace")
        self.assertEqual(log.count("tar: load libarchive.so.13"), 2, log)
        self.assertIn("file too short", log)

    def test_abandoned_tar_frees_its_writer(self):
        """A client that reads a little of a large tar and hangs up: the
        writer thread gets EPIPE and ends, and cordond's threads and fds
        come back to what they were. Before, the pipe's read end stayed
        open with the writer's hold, and the thread blocked on the full
        pipe for good, with its fds: a submitter could pile them up."""
        d = self.start_daemon()
        j = submit_sh(d, "head -c 4M /dev/urandom > /out/a.bin\n"
                         "head -c 4M /dev/urandom > /out/b.bin\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")

        def counts():
            with open(f"/proc/{d.proc.pid}/status") as f:
                threads = int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))
            return threads, len(os.listdir(f"/proc/{d.proc.pid}/fd"))

        before = counts()
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            s.sendall(f"GET /v1/jobs/{j}/artifacts.tar HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            self.assertIn(b" 200 ", s.recv(4096))
            s.close()
        back = lambda: all(now <= then for now, then in zip(counts(), before))
        self.assertTrue(poll(back, 20), f"threads and fds {counts()}, before {before}")

    def test_launches_leave_no_threads_or_fds(self):
        """Each launch in cordond starts a thread that makes the job's
        network namespace and hands it over as an fd. Whether the launch
        works or fails before, at or after that step (injected), the thread
        is joined and the fd closed: cordond's threads and fds come back to
        what they were."""
        for fault in (None, "slot", "net", "net_up", "cgroup", "rootfs", "clone"):
            with self.subTest(fault=fault):
                d = self.start_daemon(slots=2, fault=fault)

                def counts():
                    with open(f"/proc/{d.proc.pid}/status") as f:
                        threads = int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))
                    return threads, len(os.listdir(f"/proc/{d.proc.pid}/fd"))

                before = counts()
                jobs = [submit_sh(d, "echo hi\n")["id"] for _ in range(4)]
                want = "ok" if fault is None else "setup_error"
                self.assertEqual([wait_job(d, j, 60)["verdict"] for j in jobs], [want] * 4)
                back = lambda: all(now <= then for now, then in zip(counts(), before))  # noqa: E731
                self.assertTrue(poll(back, 20), f"threads and fds {counts()}, before {before}")
                self.assertEqual(d.stop(), [])

    def test_output_reads_are_audited(self):
        """stdout and stderr leave cordond like artifacts do, and a job may
        print what it could not write to /out: each read that returns bytes
        gets an output.read record (stream, offset, bytes; never content)
        before it is served. Before, none was written."""
        d = self.start_daemon()
        j = as_user("a", submit_sh, d, "echo hello\n")["id"]
        self.assertEqual(as_user("a", wait_job, d, j, 120)["verdict"], "ok")
        self.assertEqual(as_user("a", lambda: d.client().stdout(j))[0], b"hello\n")
        r = as_user("a", request, d.sock, "GET", f"/v1/jobs/{j}/stdout",
                    headers={"Range": "bytes=2-"})
        self.assertEqual((r.status, r.body), (206, b"llo\n"))
        self.assertEqual(as_user("a", lambda: d.client().stderr(j))[0], b"")
        recs = d.audit("output.read", j)
        self.assertEqual([(x["details"], x["actor"]["uid"]) for x in recs],
                         [({"stream": "stdout", "offset": 0, "bytes": 6}, UID_A),
                          ({"stream": "stdout", "offset": 2, "bytes": 4}, UID_A)])
        self.assertNotIn("hello", d.audit_text())

    def test_no_download_without_its_record(self):
        """When the audit log cannot take the record of a download (here
        its last line is torn, which refuses every append until an operator
        looks), nothing is served: 500 for an artifact, the tar and stdout.
        Before, the record was only logged as missing and the data went
        out."""
        d = self.start_daemon()
        j = submit_sh(d, "echo out\necho a > /out/a.csv\n")["id"]
        self.assertEqual(wait_job(d, j, 120)["verdict"], "ok")
        with open(d.state / "audit" / "audit.jsonl", "ab") as f:
            f.write(b'{"seq": 999')
        for path in (f"/v1/jobs/{j}/artifacts/a.csv", f"/v1/jobs/{j}/artifacts.tar",
                     f"/v1/jobs/{j}/stdout"):
            r = request(d.sock, "GET", path)
            problem_of(self, r, 500, "internal")
            self.assertIn("audit log", json.loads(r.body)["detail"])
        self.assertEqual(d.audit_text().count('"artifact.read"'), 0)
        # Once the torn line is gone, downloads are served and recorded again.
        log = d.state / "audit" / "audit.jsonl"
        log.write_bytes(log.read_bytes()[:-len(b'{"seq": 999')])
        self.assertEqual(d.client().artifact(j, "a.csv")[0], b"a\n")
        self.assertEqual(len(d.audit("artifact.read", j)), 1)


# --------------------------------------------------------------------------
# Restart recovery

class RestartTest(DaemonTest):

    def test_kill9_recovery(self):
        d = self.start_daemon(slots=1)
        long = as_user("a", submit_sh, d, SLEEP_SH)["id"]
        as_user("a", wait_running, d, long)
        q1 = as_user("a", submit_sh, d, "echo one\n")["id"]
        q2 = as_user("b", submit_sh, d, "echo two\n")["id"]
        self.assertEqual(d.client().job(q1)["state"], "queued")
        host_uid = d.audit("job.started", long)[0]["details"]["host_uid"]
        sandbox = [p for p in job_processes() if p[1] == host_uid]
        self.assertTrue(sandbox, "the sandbox's processes are not where they should be")

        d.kill9()
        # The sandbox dies with its supervisor.
        self.assertTrue(poll(lambda: not [p for p in job_processes(host_uid)
                                          if p[1] == host_uid], 15),
                        f"sandbox processes outlived cordond: {job_processes(host_uid)}")
        d.start()
        job = d.client().job(long)
        self.assertEqual((job["state"], job["verdict"], job["reason"]),
                         ("finished", "failed", "supervisor_restart"), job)
        self.assertIsNotNone(job["finished"])
        recs = d.audit("job.finished", long)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["verdict"], "failed")
        self.assertEqual(recs[0]["details"]["reason"], "supervisor_restart")
        self.assertFalse((d.job_dir(long) / "inputs").exists())
        for i, text, who in ((q1, b"one\n", "a"), (q2, b"two\n", "b")):
            job = as_user(who, wait_job, d, i, 120)
            self.assertEqual(job["verdict"], "ok", job)
            self.assertEqual(as_user(who, lambda i=i: d.client().stdout(i))[0], text)
        # A restarted job's artifacts: an empty manifest.
        self.assertEqual(d.client().artifacts(long)["artifacts"], [])
        self.assertEqual(job_processes(host_uid), [])
        self.assertEqual(leaf_cgroups(), [])
        self.assertEqual(d.client().health()["slots"]["busy"], 0)
        # Nothing partial, and the old socket was replaced.
        self.assertEqual(sorted(os.listdir(d.state / "jobs")), sorted([long, q1, q2]))

    def test_killed_while_collecting_keeps_no_unlisted_artifacts(self):
        """cordond killed while it copies a job's artifacts (each sniff
        slowed to a second): the restart fails the job with an empty
        manifest. The files copied until then used to stay in its
        artifacts/ until its retention, listed nowhere, served never and
        charged to no quota (a restarted job counted 0 bytes). Now they
        are removed, and what is left (stdout) is charged."""
        import sqlite3
        d = self.start_daemon(slots=1, fault="sniff_slow")
        job = submit_sh(d, "echo started\nfor i in 1 2 3 4 5 6; do\n"
                           "  head -c 1000000 /dev/urandom > /out/f$i.bin\ndone\n")["id"]
        art = d.job_dir(job) / "artifacts"
        self.assertTrue(poll(lambda: art.is_dir() and len(os.listdir(art)) >= 2, 120),
                        "the collection did not start")
        d.kill9()
        d.fault = None
        d.start()
        j = d.client().job(job)
        self.assertEqual((j["state"], j["verdict"], j["reason"]),
                         ("finished", "failed", "supervisor_restart"), j)
        self.assertEqual(d.client().artifacts(job)["artifacts"], [])
        self.assertFalse(art.exists(), "artifacts/ is left")
        self.assertEqual(d.client().stdout(job)[0], b"started\n")
        db = sqlite3.connect(d.state / "jobs.db")
        try:
            (held,), = db.execute("SELECT stored_bytes FROM jobs WHERE id = ?", (job,))
        finally:
            db.close()
        self.assertGreater(held, 0)
        self.assertEqual(len(d.audit("job.finished", job)), 1)

    def test_recovery_records_before_it_fails_the_rows(self):
        """A restart whose job.finished record for a job left running
        cannot be written (injected) stops cordond with the row still
        running; the next start records it and fails it. The rows used to
        be failed first, so that the record was never written."""
        d = self.start_daemon(slots=1)
        long = submit_sh(d, SLEEP_SH)["id"]
        wait_running(d, long)
        d.kill9()
        d.fault = "recover_record"
        with self.assertRaises(AssertionError):
            d.start(timeout=15)
        self.assertIn("injected fault", d.log_tail())
        self.assertEqual(d.audit("job.finished", long), [])
        d.fault = None
        d.start()
        job = d.client().job(long)
        self.assertEqual((job["state"], job["verdict"], job["reason"]),
                         ("finished", "failed", "supervisor_restart"), job)
        recs = d.audit("job.finished", long)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["details"]["reason"], "supervisor_restart")


# --------------------------------------------------------------------------
# 200 jobs at once

class CurlTest(DaemonTest):
    """curl --unix-socket, as an admin would try the API by hand (docs/api.md)."""

    def curl(self, d: Daemon, *args, method="GET", target="/v1/health"):
        """Run curl; check the response against openapi.yaml; return (status, headers, body)."""
        out = subprocess.run(["curl", "-sS", "--unix-socket", d.sock, "-D", "-", "-X", method,
                              *args, "http://cordon" + target],
                             capture_output=True, timeout=120, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        while head.startswith(b"HTTP/1.1 100"):
            head, _, body = body.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        OPENAPI.check(method, target, status, headers, body)
        return status, headers, body

    def test_curl_submit_wait_fetch(self):
        if not shutil.which("curl"):
            _skip("curl is not installed (scripts/setup installs it)")
        d = self.start_daemon(slots=1)
        tmp = Path(tempfile.mkdtemp(prefix="cordon-curl-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        (tmp / "job.sh").write_text("echo curl-ok\necho 'a,b' > /out/t.csv\n")
        status, headers, body = self.curl(
            d, "-F", 'job={"profile":"default","entry":"job.sh"};type=application/json',
            "-F", f"input=@{tmp / 'job.sh'}", method="POST", target="/v1/jobs")
        self.assertEqual(status, 201, body)
        job_id = json.loads(body)["id"]
        self.assertEqual(headers["location"], f"/v1/jobs/{job_id}")
        status, _, body = self.curl(d, target=f"/v1/jobs/{job_id}?wait=60")
        self.assertEqual((status, json.loads(body)["verdict"]), (200, "ok"), body)
        status, headers, body = self.curl(d, target=f"/v1/jobs/{job_id}/stdout")
        self.assertEqual((status, body, headers["cordon-truncated"]), (200, b"curl-ok\n", "false"))
        status, headers, body = self.curl(d, target=f"/v1/jobs/{job_id}/artifacts/t.csv")
        self.assertEqual(status, 200)
        self.assertEqual(headers["etag"], '"%s"' % hashlib.sha256(body).hexdigest())
        self.assertEqual(headers["content-disposition"], "attachment")
        status, _, body = self.curl(d, method="DELETE", target=f"/v1/jobs/{job_id}")
        self.assertEqual(status, 204)
        status, _, body = self.curl(d, target=f"/v1/jobs/{job_id}")
        self.assertEqual((status, json.loads(body)["code"]), (404, "job_not_found"))
        status, _, body = self.curl(d, "-H", "Content-Type: text/plain", "--data", "x",
                                    method="POST", target="/v1/jobs")
        self.assertEqual((status, json.loads(body)["code"]), (415, "unsupported_media_type"))
        # curl sends a '"' in a file name as %22 (HTML5): refused, not stored
        # under a name the client never gave, and the name is not echoed.
        jobs_before = d.job_entries()
        status, _, body = self.curl(
            d, "-F", 'job={"profile":"default","entry":"job.sh"};type=application/json',
            "-F", f"input=@{tmp / 'job.sh'}",
            "-F", f'input=@{tmp / "job.sh"};filename=secret"quote.sh', method="POST",
            target="/v1/jobs")
        doc = json.loads(body)
        self.assertEqual((status, doc["code"]), (400, "bad_input_name"), body)
        self.assertIn("input 2", doc["detail"])
        self.assertNotIn("secret", doc["detail"])
        self.assertTrue(poll(lambda: d.job_entries() == jobs_before, 5), d.job_entries())


class BurstTest(DaemonTest):

    def test_burst_of_200(self):
        d = self.start_daemon(slots=2, max_queued=256, max_queued_per_client=256,
                              rate_per_second=10000, output_max=4096)

        # Each job sleeps a little, so that the two slots drain the queue
        # more slowly than the burst fills it (here, 200 submissions take
        # about 1 s and 200 jobs of 0.05 s about 8 s): the queue fills up.
        def submit_many(who, n):
            c = d.client()
            return [c.submit("default", entry="j.sh",
                             inputs={"j.sh": f"echo burst-{who}-{i}\nsleep 0.05\n".encode()},
                             labels={"burst": who, "i": str(i)})["id"] for i in range(n)]

        t0 = time.monotonic()
        children = [Child("a", submit_many, "a", 100), Child("b", submit_many, "b", 100)]
        peak = 0
        while not all(select.select([c.rfd], [], [], 0)[0] for c in children):
            peak = max(peak, d.client().health()["queue"]["length"])
            time.sleep(0.2)
        ids = {"a": children[0].result(), "b": children[1].result()}
        submitted = time.monotonic() - t0
        peak = max(peak, d.client().health()["queue"]["length"])
        self.assertEqual(len(set(ids["a"] + ids["b"])), 200)
        self.assertGreaterEqual(peak, 50, "the queue never filled up")

        def drained():
            h = d.client().health()
            return h["queue"]["length"] == 0 and h["slots"]["busy"] == 0

        self.assertTrue(poll(drained, 600, 1), "the queue did not drain in 10 minutes")
        elapsed = time.monotonic() - t0
        jobs = list(d.client().iter_jobs(limit=500))
        self.assertEqual(len(jobs), 200)
        self.assertEqual({j["verdict"] for j in jobs}, {"ok"},
                         [j for j in jobs if j["verdict"] != "ok"][:3])
        for who in ("a", "b"):
            for i in (0, 57, 99):
                out, _ = d.client().stdout(ids[who][i])
                self.assertEqual(out, f"burst-{who}-{i}\n".encode())
        m = d.client().metrics()
        self.assertRegex(m, r'(?m)^cordon_jobs_total\{verdict="ok"\} 200$')
        self.assertEqual(len(d.audit("job.finished")), 200)
        self.assertEqual(leaf_cgroups(), [])
        print(f"\n# burst: 200 jobs submitted in {submitted:.1f}s, run in {elapsed:.1f}s, "
              f"peak queue {peak}", file=sys.stderr)


# --------------------------------------------------------------------------
# The Python client on its own

class ClientTest(unittest.TestCase):
    """cordon_client against sockets this test serves, no cordond."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cordon-client-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def serve_as(self, who: str) -> tuple[str, socket.socket]:
        """A socket served by @who in a directory of its own: (path, listener)."""
        d = os.path.join(self.tmp, who)
        os.mkdir(d, 0o755)
        os.chown(d, USERS[who][0], USERS[who][1])
        path = os.path.join(d, "s.sock")
        srv = listen_as(who, path)
        self.addCleanup(srv.close)
        return path, srv

    def test_socket_served_by_another_user_is_refused(self):
        """Whoever binds the socket path first would get every upload and
        answer every call: the client sends nothing to a socket served by
        anyone but root or the caller's own uid (SO_PEERCRED), as the CLI
        does (test_cli). It used to send the request, inputs included."""
        path, srv = self.serve_as("norole")
        secret = b"patient_id,diagnosis\n"
        calls = (lambda: cc.CordonClient(path, retry_for=0).submit(
                     "default", entry="s.csv", inputs={"s.csv": secret}),
                 lambda: cc.CordonClient(path, retry_for=0).health())
        for who, call in (("root", calls[0]), ("root", calls[1]), ("a", calls[0])):
            with self.assertRaises(cc.CordonConnectionError, msg=who) as cm:
                call() if who == "root" else as_user(who, call)
            self.assertIn(f"the socket is served by uid {UID_NOROLE}, not by root or you; "
                          "refused, nothing was sent", str(cm.exception))
            conn, _ = srv.accept()
            with conn:
                self.assertEqual(conn.recv(65536), b"", who)  # closed unsent
        # The caller's own uid may serve it (a forwarded socket).
        path, srv = self.serve_as("a")
        child = Child("a", lambda: cc.CordonClient(path, retry_for=0).health())
        self.answer_health(srv)
        self.assertEqual(child.result(), {"status": "ok", "version": "1.0.0"})

    def answer_health(self, srv: socket.socket) -> None:
        """Accept one connection on @srv and answer its GET /v1/health."""
        conn, _ = srv.accept()
        with conn:
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = conn.recv(65536)
                self.assertTrue(chunk, got)
                got += chunk
            body = b'{"status":"ok","version":"1.0.0"}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        self.assertTrue(got.startswith(b"GET /v1/health HTTP/1.1\r\n"), got)

    def test_server_uids_accept_a_named_server(self):
        """A client in a user namespace that does not map the host's root
        sees cordond as the overflow uid: server_uids names the uids it
        accepts besides root and its own, explicitly (here another user's
        stands for it). Only those: a socket served by anyone else is
        still refused, and a uid that is not one is a ValueError."""
        path, srv = self.serve_as("norole")
        client = cc.CordonClient(path, retry_for=0, server_uids=(UID_NOROLE,))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            health = pool.submit(client.health)
            self.answer_health(srv)
            self.assertEqual(health.result(timeout=60), {"status": "ok", "version": "1.0.0"})
        path, srv = self.serve_as("a")
        with self.assertRaises(cc.CordonConnectionError) as cm:
            cc.CordonClient(path, retry_for=0, server_uids=(UID_NOROLE,)).health()
        self.assertIn("not by root or you", str(cm.exception))
        conn, _ = srv.accept()
        with conn:
            self.assertEqual(conn.recv(65536), b"")  # closed unsent
        for bad in ((-1,), ("65534",), (True,)):
            with self.assertRaises(ValueError, msg=bad):
                cc.CordonClient(path, server_uids=bad)


# --------------------------------------------------------------------------

def coverage_report() -> str:
    """Which documented (method, route, status) the run saw, for the log."""
    documented = OPENAPI.documented()
    seen = {s for s in OPENAPI.seen if s[1] != "(no route)"}
    lines = [f"# openapi.yaml: {len(documented & seen)} of {len(documented)} documented "
             f"responses seen (every response checked); not seen:"]
    by_route: dict = {}
    for method, route, status in sorted(documented - seen):
        by_route.setdefault(f"{method} {route}", []).append(str(status))
    lines += [f"#   {k}: {' '.join(v)}" for k, v in sorted(by_route.items())]
    return "\n".join(lines)


def main() -> None:
    global OPENAPI
    if os.geteuid() != 0:
        _skip("cordond and these tests need root")
    if IMPORT_ERROR:
        _skip(f"run with /usr/bin/python3 with python3-yaml and python3-jsonschema ({IMPORT_ERROR})")
    if not os.access(CORDOND, os.X_OK):
        _skip(f"no cordond at {CORDOND} (set CORDOND_BIN)")
    if not Path(PROFILES, "default.json").is_file():
        _skip(f"no profiles in {PROFILES} (set CORDON_PROFILES)")
    if not CG_ROOT.is_dir():
        _skip("no /sys/fs/cgroup")
    OPENAPI = OpenAPI(OPENAPI_PATH)
    sweep_dead_parents()
    prog = unittest.main(exit=False, verbosity=2)
    print(coverage_report(), file=sys.stderr)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
