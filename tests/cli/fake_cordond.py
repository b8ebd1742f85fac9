#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hostile stand-in for cordond, for tests/cli/test_cli.py.

usage: fake_cordond.py SOCKET SCENARIO DIR

Listens on SOCKET (mode 0777) and answers every request as SCENARIO says.
Each request line goes to DIR/requests.log as "METHOD PATH" when it has
been read; request bodies are appended to DIR/capture.bin; a scenario that
holds an answer says "held" in the log and waits for DIR/release (at most
HOLD_S). It runs until killed.
"""

import hashlib
import json
import os
import socket
import sys
import threading
import time

SOCK, SCENARIO, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
ID = "0" * 32
HOLD_S = 120  # what a held answer waits for at most: the tests' hang bound
LOCK = threading.Lock()


def log(line):
    with LOCK, open(os.path.join(DIR, "requests.log"), "a") as f:
        f.write(line + "\n")


def answer(conn, status, body=b"", ctype="application/json", headers=()):
    if isinstance(body, str):
        body = body.encode()
    head = "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, ctype, len(body))
    head += "".join("%s: %s\r\n" % h for h in headers)
    conn.sendall(head.encode() + b"\r\n" + body)


def job(**fields):
    j = {"id": ID, "state": "finished", "verdict": "ok", "reason": None, "profile": "default",
         "owner_uid": 0, "created": "2026-01-01T00:00:00.000Z", "started": None,
         "finished": None, "labels": {}, "queue_position": None,
         "result": {"verdict": "ok", "exit_code": 0, "signal": None, "wall_ms": 5,
                    "output": {"stdout_bytes": 4, "stdout_truncated": False,
                               "stderr_bytes": 0, "stderr_truncated": False}}}
    j.update(fields)
    return j


def entry(path, data, **fields):
    e = {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "type": "text/plain"}
    e.update(fields)
    return e


def hold():
    log("held")
    deadline = time.monotonic() + HOLD_S
    while not os.path.exists(os.path.join(DIR, "release")) and time.monotonic() < deadline:
        time.sleep(0.02)


def stall(conn, method, path, headers):
    """Reads the request and never answers."""
    time.sleep(HOLD_S * 10)


def running(conn, method, path, headers):
    """Answers "running" at once, whatever ?wait= asks; "a" on stdout and
    nothing after it."""
    if "/stdout" in path and "range" not in headers:
        return answer(conn, "200 OK", "a", "application/octet-stream")
    if "/stdout" in path:
        return answer(conn, "416 Range Not Satisfiable", '{"code":"range_not_satisfiable"}',
                      "application/problem+json")
    answer(conn, "200 OK", json.dumps(job(state="running", verdict=None, result=None)))


def bad_state(conn, method, path, headers):
    """A job whose state is not a string."""
    answer(conn, "200 OK", json.dumps(job(state={"x": 1})))


def rejected(conn, method, path, headers):
    """A job a slot refused (a reload removed its profile); it never ran."""
    answer(conn, "200 OK", json.dumps(job(
        verdict="rejected", reason=None,
        result={"verdict": "rejected", "exit_code": None, "signal": None, "wall_ms": 0,
                "error": "the profile default is gone"})))


def record(conn, method, path, headers):
    """Takes a submission; serves a finished job."""
    if method == "POST":
        return answer(conn, "201 Created", json.dumps({"id": ID, "state": "queued", "links": {}}))
    answer(conn, "200 OK", json.dumps(job()))


def long_id(conn, method, path, headers):
    """Answers a submission with a job id of 5000 characters."""
    answer(conn, "201 Created", json.dumps({"id": "a" * 5000, "state": "queued", "links": {}}))


def no_jobs(conn, method, path, headers):
    """A list whose "jobs" is not an array."""
    answer(conn, "200 OK", json.dumps({"jobs": "nope", "next": None}))


def drip(conn, method, path, headers):
    """A finished job that wrote 4 bytes; its stdout is those 4 bytes, then
    a byte a second forever ("drip"); or 8 bytes at once ("overlong"). Or
    one that wrote nothing, whose stdout is held open, empty ("silent")."""
    if "/stdout" not in path:
        if SCENARIO == "silent":
            out = {"stdout_bytes": 0, "stdout_truncated": False,
                   "stderr_bytes": 0, "stderr_truncated": False}
            return answer(conn, "200 OK", json.dumps(job(result=dict(job()["result"],
                                                                       output=out))))
        return answer(conn, "200 OK", json.dumps(job()))
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    if SCENARIO == "silent":
        conn.sendall(head)
        while True:
            time.sleep(1)
    if SCENARIO == "overlong":  # in one write, so that the client reads it at once
        conn.sendall(head + b"8\r\nabcdefgh\r\n0\r\n\r\n")
        return
    conn.sendall(head + b"4\r\nabcd\r\n")
    while True:
        time.sleep(1)
        conn.sendall(b"1\r\nx\r\n")


ART = b"verified"


def artifacts(conn, method, path, headers):
    """One artifact: "huge" says 2^62 bytes; "held" sends half of a.txt and
    waits for DIR/release before the rest."""
    if path.startswith("/v1/jobs/%s/artifacts/" % ID):
        if SCENARIO == "huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(64):  # 4 MiB, then the end: far short of the claim
                conn.sendall(b"10000\r\n" + b"A" * 65536 + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     b"ETag: \"%s\"\r\n\r\n" % (len(ART), hashlib.sha256(ART).hexdigest().encode())
                     + ART[:4])
        hold()
        conn.sendall(ART[4:])
        return
    if path.startswith("/v1/jobs/%s/artifacts" % ID):
        if SCENARIO == "huge":
            e = {"path": "big.bin", "size": 2 ** 62, "sha256": "a" * 64,
                 "type": "application/octet-stream"}
        else:
            e = entry("a.txt", ART)
        return answer(conn, "200 OK", json.dumps({"job": ID, "artifacts": [e]}))
    answer(conn, "200 OK", json.dumps(job()))


def refusals(conn, method, path, headers):
    """A finished job whose manifest refused files for their type: by the
    head ("type"), and by the tail ("tail_type"), one of them not a token;
    and a name that is not UTF-8, which cordond lists escaped."""
    if path.startswith("/v1/jobs/%s/artifacts" % ID):
        arts = [entry("a.txt", ART), {"path": "link", "refused": "symlink"},
                {"path": "run.bin", "refused": "type_not_allowed",
                 "type": "application/x-executable"},
                {"path": "data.csv", "refused": "type_not_allowed", "type": "text/csv",
                 "tail_type": "application/x-executable"},
                {"path": "odd.csv", "refused": "type_not_allowed", "type": "text/csv",
                 "tail_type": "text/\x1b[2Jx"},
                {"path": "bad\\xffutf", "refused": "bad_name"}]
        return answer(conn, "200 OK", json.dumps({"job": ID, "artifacts": arts}))
    answer(conn, "200 OK", json.dumps(job()))


def repository(conn, method, path, headers):
    """A cordond older than the bad_name rule for .git and .hg: it took a
    job's repository directories; each artifact is ART."""
    if path.startswith("/v1/jobs/%s/artifacts/" % ID):
        return answer(conn, "200 OK", ART, "text/plain",
                      [("ETag", '"%s"' % hashlib.sha256(ART).hexdigest())])
    if path.startswith("/v1/jobs/%s/artifacts" % ID):
        arts = [entry(p, ART) for p in (".git/config", "ok.txt", "sub/.Hg/hgrc", "sub/.git",
                                        "up/.GIT/HEAD", ".jj/repo/config.toml", "d/_Darcs",
                                        "db/HEAD", "db/objects/k", "db/refs/k", "db/config",
                                        "plain/HEAD")]
        return answer(conn, "200 OK", json.dumps({"job": ID, "artifacts": arts}))
    answer(conn, "200 OK", json.dumps(job()))


TURNED_AWAY = []


def turn_away(conn, f, headers):
    """Before the body of the first upload: "early body" in the log if any
    of it arrives within 2 s unasked (no 100 Continue was sent; longer than
    the 1 s libcurl waits for one by default, as cordond on a loaded host
    can take), then 429 rate_limited and a close, the rest unread, as
    cordond does. Later uploads are asked for their bodies as any upload
    is (handle()). True: answered."""
    with LOCK:
        first = not TURNED_AWAY
        TURNED_AWAY.append(1)
    if not first:
        return False
    conn.settimeout(2.0)
    try:
        early = f.peek(1)
    except (TimeoutError, socket.timeout):
        early = b""
    if early:
        log("early body")
    problem = {"type": "about:blank", "title": "Too many requests", "status": 429,
               "code": "rate_limited", "detail": "too many requests; slow down"}
    answer(conn, "429 Too Many Requests", json.dumps(problem), "application/problem+json",
           [("Retry-After", "1"), ("Connection", "close")])
    return True


SCENARIOS = {"stall": stall, "running": running, "bad_state": bad_state, "record": record,
             "long_id": long_id, "no_jobs": no_jobs, "drip": drip, "overlong": drip, "silent": drip,
             "huge": artifacts, "held": artifacts, "refusals": refusals,
             "repository": repository, "turn_away": record, "rejected": rejected}


def handle(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, v = h.decode("latin-1").split(":", 1)
                headers[k.strip().lower()] = v.strip()
            if SCENARIO == "turn_away" and method == "POST" and turn_away(conn, f, headers):
                log("%s %s turned away" % (method, path))
                return
            if headers.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # as cordond (MHD) does
            body = b""
            if "content-length" in headers:
                body = f.read(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while True:
                    n = int(f.readline().split(b";")[0], 16)
                    body += f.read(n + 2)[:n]
                    if n == 0:
                        break
            if body:
                with LOCK, open(os.path.join(DIR, "capture.bin"), "ab") as out:
                    out.write(body)
            log("%s %s" % (method, path))
            SCENARIOS[SCENARIO](conn, method, path, headers)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()


def main():
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(SOCK)
    os.chmod(SOCK, 0o777)
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
