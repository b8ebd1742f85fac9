# SPDX-License-Identifier: MIT
"""A small client for cordond's HTTP API on its unix socket (docs/api.md).

Standard library only, Python 3.9+. Every call opens its own connection and
closes it, so one CordonClient may be shared between threads (a Django
project can keep one at module level or build one per request).

    client = CordonClient("/run/cordon/cordon.sock")
    job = client.submit("data-export", entry="export.R",
                        inputs={"export.R": b"...", "cohort.csv": "/srv/cohort.csv"},
                        labels={"course": "mus101"})
    job = client.job(job["id"], wait=30)
    if job["state"] == "finished":
        for entry in client.artifacts(job["id"])["artifacts"]:
            if "sha256" in entry:
                data, headers = client.artifact(job["id"], entry["path"])

Every failure raises CordonError (or a subclass): a problem document from
cordond, a socket error, or a response that is not what the API promises.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import re
import secrets
import socket
import stat
import struct
import time
import urllib.parse
from typing import (Any, BinaryIO, Dict, Iterator, List, Mapping, Optional, Tuple,
                    Union)

__all__ = [
    "CordonClient",
    "CordonError",
    "CordonConnectionError",
    "CordonProtocolError",
    "UnixHTTPConnection",
    "DEFAULT_SOCKET",
]

DEFAULT_SOCKET = "/run/cordon/cordon.sock"

InputValue = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1 << 20  # 1 MiB: what is read from an input file or a response at once
_USER_AGENT = "cordon-client-python/0.1"
# Answers cordond gives before it looks at the request: nothing was done,
# so the same request may be sent again (after Retry-After).
_TURNED_AWAY = {(429, "rate_limited"), (503, "too_many_connections")}
# struct ucred (socket(7)): pid_t pid; uid_t uid; gid_t gid.
_UCRED = struct.Struct("=iII")


class CordonError(Exception):
    """cordond refused a request, or could not be reached.

    status: the HTTP status (0 when there was no HTTP answer).
    code: the problem's stable `code` ("queue_full", "job_not_found", ...),
        or None when the answer was not a cordon problem document.
    title, detail: for people; may change between versions.
    retry_after: seconds to wait before retrying (429, some 503), else None.
    """

    def __init__(self, status: int, code: Optional[str], title: str = "",
                 detail: str = "", retry_after: Optional[float] = None) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        text = f"{status} {code or 'error'}: {title}" if status else f"{code}: {title}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)


class CordonConnectionError(CordonError):
    """The socket could not be connected, is served by someone who cannot be
    cordond (nothing was sent), or the connection failed or timed out."""

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__(0, "connection_failed", title, detail)


class CordonProtocolError(CordonError):
    """cordond answered something the API does not promise (bad JSON, a
    missing header, an artifact whose SHA-256 is not its ETag)."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(status, "protocol_error", title, detail)


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection over an AF_UNIX stream socket.

    The host name only fills the Host header (cordond ignores it); `timeout`
    applies to the connect and to every later send and receive. Nothing is
    sent on a socket served by anyone but root, this process's effective
    uid or a uid of `server_uids`: connect() raises CordonConnectionError.
    """

    def __init__(self, path: str, timeout: Optional[float] = 30.0,
                 server_uids: Tuple[int, ...] = ()) -> None:
        super().__init__("cordon", timeout=timeout)
        self.socket_path = path
        self.server_uids = tuple(server_uids)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            self._check_peer(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def _check_peer(self, sock: socket.socket) -> None:
        """Whoever binds the socket's path first (a directory others may
        write, a stale socket) would receive every upload and answer every
        call. cordond runs as root; the caller's own uid is accepted too (a
        socket it forwards itself, or serves in a test), as the `cordon`
        CLI does, and the uids the caller named (server_uids). SO_PEERCRED
        gives the credentials of whoever called listen(), fixed for the life
        of the connection (unix(7)), as this process's user namespace sees
        them: in one that does not map the host's root, cordond shows as
        the overflow uid (65534), which only server_uids can accept."""
        cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        _, uid, _ = _UCRED.unpack(cred)
        if uid not in (0, os.geteuid()) + self.server_uids:
            raise CordonConnectionError(
                f"cordond at {self.socket_path}: the socket is served by uid {uid}, not by root "
                "or you; refused, nothing was sent", "is another program listening there?")


def _check_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError("a job id is 32 lowercase hex characters")
    return job_id


def _quote_path(path: str) -> str:
    """Percent-encode a manifest path one `/`-separated segment at a time."""
    segments = path.split("/")
    for s in segments:
        if s in ("", ".", ".."):
            raise ValueError("an artifact path has no empty, '.' or '..' segments")
    return "/".join(urllib.parse.quote(s, safe="") for s in segments)


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _media_type(resp: http.client.HTTPResponse) -> str:
    return (resp.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()


def _error_from(resp: http.client.HTTPResponse, body: bytes) -> CordonError:
    """The CordonError for a non-success answer (its body already read)."""
    retry = _retry_after(resp.getheader("Retry-After"))
    code: Optional[str] = None
    title = resp.reason or ""
    detail = ""
    if _media_type(resp) in ("application/problem+json", "application/json"):
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        if isinstance(doc, dict):
            code = doc.get("code") if isinstance(doc.get("code"), str) else None
            title = doc.get("title") if isinstance(doc.get("title"), str) else title
            detail = doc.get("detail") if isinstance(doc.get("detail"), str) else ""
    return CordonError(resp.status, code, title, detail, retry)


class _Multipart:
    """A multipart/form-data body with a `job` part and file parts, sent as
    a sequence of chunks: files are read 1 MiB at a time, never whole."""

    def __init__(self, job: Mapping[str, Any], inputs: Mapping[str, InputValue]) -> None:
        self.boundary = "cordon-" + secrets.token_hex(16)
        b = self.boundary.encode("ascii")
        job_bytes = json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # Each item: bytes to send as they are, or (path, size) of a file.
        self._items: List[Union[bytes, Tuple[str, int]]] = [
            b"--" + b + b"\r\n"
            b'Content-Disposition: form-data; name="job"\r\n'
            b"Content-Type: application/json\r\n\r\n" + job_bytes + b"\r\n"
        ]
        for name, value in inputs.items():
            self._items.append(
                b"--" + b + b"\r\n"
                b'Content-Disposition: form-data; name="input"; filename="'
                + self._filename(name) + b'"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n")
            if isinstance(value, (bytes, bytearray, memoryview)):
                data = bytes(value)
                if b in data:  # a 128-bit random boundary: practically never
                    raise ValueError("input content contains the multipart boundary; retry")
                self._items.append(data)
            else:
                path = os.fspath(value)
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    raise ValueError(f"input {name!r}: {path!r} is not a regular file")
                self._items.append((path, st.st_size))
            self._items.append(b"\r\n")
        self._items.append(b"--" + b + b"--\r\n")

    @staticmethod
    def _filename(name: str) -> bytes:
        # cordond checks the name (one safe path component); here only what
        # would break the part header is refused, since quoting rules for
        # `"` and `\` in filename= differ between parsers.
        if not isinstance(name, str) or not name:
            raise ValueError("an input name is a non-empty string")
        if any(c in name for c in '"\\\r\n\0/'):
            raise ValueError(f"input name {name!r} has a character a file name here may not have")
        return name.encode("utf-8")

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return sum(i[1] if isinstance(i, tuple) else len(i) for i in self._items)

    def __iter__(self) -> Iterator[bytes]:
        for item in self._items:
            if isinstance(item, bytes):
                yield item
                continue
            path, size = item
            with open(path, "rb") as f:
                left = size
                while left > 0:
                    chunk = f.read(min(_CHUNK, left))
                    if not chunk:
                        raise CordonConnectionError(
                            "input changed while it was sent", f"{path} shrank")
                    left -= len(chunk)
                    yield chunk


class CordonClient:
    """cordond's API, one method per route.

    socket_path: cordond's socket; the calling user needs write access to it
        (group `cordon`) and a role in cordond's configuration. It must be
        served by root, as cordond is, or by this process's own uid;
        anyone else's is sent nothing (CordonConnectionError).
    server_uids: further uids the socket may be served by, as this
        process sees them. Empty by default; set it only where cordond's
        root cannot show as uid 0: a client in a user namespace that does
        not map the host's root (rootless containers, userns-remap) sees
        it as the overflow uid, 65534, which any unprivileged process there
        could also be, so that is trusting the socket's path instead.
    timeout: seconds for connecting and for each send or receive; a
        `job(wait=...)` call extends it by the wait.
    retry_for: seconds a call keeps retrying when cordond turned it away
        before doing anything (429 `rate_limited`, 503
        `too_many_connections`), waiting `Retry-After` between tries; 0
        raises at once. Never retried: a full queue, a refused or failed
        request, a lost connection.
    """

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = 30.0,
                 retry_for: float = 10.0, server_uids: Tuple[int, ...] = ()) -> None:
        if not all(isinstance(u, int) and not isinstance(u, bool) and u >= 0
                   for u in server_uids):
            raise ValueError("server_uids: uids are non-negative integers")
        self.server_uids = tuple(server_uids)
        self.socket_path = socket_path
        self.timeout = timeout
        self.retry_for = retry_for

    # -- plumbing ---------------------------------------------------------

    def _open(self, method: str, url: str, *, body: Any = None,
              headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
              ok: Tuple[int, ...] = (200,)) -> Tuple[UnixHTTPConnection, http.client.HTTPResponse]:
        """Send a request; return the connection and the response, whose
        status is one of @ok (the caller reads the body, then closes the
        connection). Raise CordonError for anything else, after retrying
        for up to retry_for seconds what cordond turned away unread."""
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return self._open_once(method, url, body=body, headers=headers,
                                       timeout=timeout, ok=ok)
            except CordonError as e:
                if (e.status, e.code) not in _TURNED_AWAY:
                    raise
                pause = min(max(e.retry_after or 1.0, 0.1), 5.0)
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)

    def _open_once(self, method: str, url: str, *, body: Any,
                   headers: Optional[Dict[str, str]], timeout: Optional[float],
                   ok: Tuple[int, ...]) -> Tuple[UnixHTTPConnection, http.client.HTTPResponse]:
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout or self.timeout,
                                  server_uids=self.server_uids)
        hdrs = {"User-Agent": _USER_AGENT}
        hdrs.update(headers or {})
        try:
            try:
                conn.request(method, url, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # cordond may refuse an upload early (413, 429) and close:
                # its answer is still readable on a unix socket.
                try:
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    resp = None
                if resp is None:
                    raise
            else:
                resp = conn.getresponse()
            if resp.status not in ok:
                err = _error_from(resp, resp.read())
                conn.close()
                raise err
        except CordonError:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise CordonConnectionError(f"cordond at {self.socket_path}: {e}",
                                        type(e).__name__) from e
        return conn, resp

    def _read(self, conn: UnixHTTPConnection, resp: http.client.HTTPResponse) -> bytes:
        try:
            return resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise CordonConnectionError(f"reading from cordond: {e}", type(e).__name__) from e
        finally:
            conn.close()

    def _call(self, method: str, url: str, *, ok: Tuple[int, ...] = (200,),
              timeout: Optional[float] = None, body: Any = None,
              headers: Optional[Dict[str, str]] = None) -> Any:
        """A request whose answer is JSON (or empty for 204)."""
        hdrs = {"Accept": "application/json"}
        hdrs.update(headers or {})
        conn, resp = self._open(method, url, body=body, headers=hdrs, timeout=timeout, ok=ok)
        data = self._read(conn, resp)
        if resp.status == 204:
            return None
        if _media_type(resp) != "application/json":
            raise CordonProtocolError(resp.status, "expected application/json",
                                      resp.getheader("Content-Type") or "no Content-Type")
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CordonProtocolError(resp.status, "invalid JSON from cordond", str(e)) from e

    # -- jobs -------------------------------------------------------------

    def submit(self, profile: str, entry: Optional[str] = None,
               inputs: Optional[Mapping[str, InputValue]] = None,
               limits: Optional[Mapping[str, Union[str, int, float]]] = None,
               labels: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """Submit a job; return `{"id", "state", "links"}` once it is stored.

        inputs: {file name in /work: bytes, or the path of a regular file}.
            Files are streamed from disk, never read whole.
        limits: e.g. {"memory": "512M", "wall": "2m", "cpus": 0.25}; up to
            the profile's maximum.
        labels: at most 16 string values, keys [a-z0-9_.-]{1,64}.

        Raises CordonError: 400 (bad request, unknown profile, ...), 413
        (too large), 429 (queue full or rate limited: see retry_after), 503,
        507 (insufficient_storage: cordond's disk is short of space;
        quota_exceeded: your jobs hold all the space you are allowed, so
        delete finished jobs you have fetched).
        """
        job: Dict[str, Any] = {"profile": profile}
        if entry is not None:
            job["entry"] = entry
        if limits:
            job["limits"] = dict(limits)
        if labels:
            job["labels"] = dict(labels)
        body = _Multipart(job, inputs or {})
        return self._call("POST", "/v1/jobs", ok=(201,), body=body,
                          headers={"Content-Type": body.content_type,
                                   "Content-Length": str(len(body))})

    def job(self, job_id: str, wait: Optional[int] = None) -> Dict[str, Any]:
        """The job. With `wait` (0 to 60 seconds), cordond holds the answer
        until the job is finished or the time is up."""
        url = f"/v1/jobs/{_check_id(job_id)}"
        timeout = self.timeout
        if wait is not None:
            if not isinstance(wait, int) or not 0 <= wait <= 60:
                raise ValueError("wait is a whole number of seconds from 0 to 60")
            url += f"?wait={wait}"
            timeout = self.timeout + wait
        return self._call("GET", url, timeout=timeout)

    def jobs(self, state: Optional[str] = None, label: Union[str, Tuple[str, str], None] = None,
             limit: Optional[int] = None, before: Optional[str] = None,
             owner: Optional[int] = None) -> Dict[str, Any]:
        """One page of jobs, newest first: `{"jobs": [...], "next": cursor or None}`.

        state: "queued", "running" or "finished". label: "key=value" or
        (key, value). limit: 1 to 500 (default 50). before: the `next` of
        the previous page. owner: a uid (admins only).
        """
        query: List[Tuple[str, str]] = []
        if state is not None:
            query.append(("state", state))
        if label is not None:
            query.append(("label", label if isinstance(label, str) else f"{label[0]}={label[1]}"))
        if limit is not None:
            query.append(("limit", str(int(limit))))
        if before is not None:
            query.append(("before", before))
        if owner is not None:
            query.append(("owner", str(int(owner))))
        url = "/v1/jobs"
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        return self._call("GET", url)

    def iter_jobs(self, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every job matching `filters` (as for jobs()), following `next`."""
        before = filters.pop("before", None)
        while True:
            page = self.jobs(before=before, **filters)
            yield from page["jobs"]
            before = page.get("next")
            if not before:
                return

    def _output(self, job_id: str, stream: str) -> Tuple[bytes, bool]:
        conn, resp = self._open("GET", f"/v1/jobs/{_check_id(job_id)}/{stream}")
        data = self._read(conn, resp)
        return data, (resp.getheader("Cordon-Truncated") or "").strip().lower() == "true"

    def stdout(self, job_id: str) -> Tuple[bytes, bool]:
        """The job's stdout so far and whether cordond cut it (at most
        `output.max_bytes` of cordond's configuration are kept)."""
        return self._output(job_id, "stdout")

    def stderr(self, job_id: str) -> Tuple[bytes, bool]:
        """The job's stderr so far and whether cordond cut it."""
        return self._output(job_id, "stderr")

    def cancel(self, job_id: str) -> Dict[str, Any]:
        """Cancel a queued or running job; return the job. A job that has
        already ended raises CordonError with code `job_finished` (409)."""
        return self._call("POST", f"/v1/jobs/{_check_id(job_id)}/cancel", ok=(202,),
                          headers={"Content-Length": "0"})

    def delete(self, job_id: str) -> None:
        """Cancel the job if needed and delete everything stored of it."""
        self._call("DELETE", f"/v1/jobs/{_check_id(job_id)}", ok=(204,))

    # -- artifacts --------------------------------------------------------

    def artifacts(self, job_id: str) -> Dict[str, Any]:
        """The manifest of a finished job, `{"job": id, "artifacts": [...]}`:
        taken entries have path, size, sha256 and type; refused ones path
        and refused (and type for `type_not_allowed`). Code
        `job_not_finished` (409) before the job ends."""
        return self._call("GET", f"/v1/jobs/{_check_id(job_id)}/artifacts")

    def artifact(self, job_id: str, path: str,
                 max_bytes: Optional[int] = None) -> Tuple[bytes, Dict[str, str]]:
        """One taken artifact by its manifest path: (content, headers with
        lower-case names). The content's SHA-256 is checked against the
        ETag; a mismatch or a short body raises CordonProtocolError.

        max_bytes: refuse (CordonProtocolError) an artifact larger than this
        instead of reading it into memory; use artifacts_tar() for big files.
        """
        url = f"/v1/jobs/{_check_id(job_id)}/artifacts/{_quote_path(path)}"
        conn, resp = self._open("GET", url)
        try:
            headers = {k.lower(): v for k, v in resp.getheaders()}
            etag = headers.get("etag", "")
            m = re.fullmatch(r'"([0-9a-f]{64})"', etag)
            if not m:
                raise CordonProtocolError(resp.status, "the artifact has no SHA-256 ETag", etag)
            length = headers.get("content-length")
            if max_bytes is not None and (length is None or int(length) > max_bytes):
                raise CordonProtocolError(resp.status, "the artifact is larger than max_bytes",
                                          f"{length} bytes")
        except BaseException:
            conn.close()
            raise
        data = self._read(conn, resp)
        if length is not None and len(data) != int(length):
            raise CordonProtocolError(resp.status, "the artifact was cut short",
                                      f"{len(data)} of {length} bytes")
        if hashlib.sha256(data).hexdigest() != m.group(1):
            raise CordonProtocolError(resp.status, "the artifact does not match its SHA-256",
                                      path)
        return data, headers

    def artifacts_tar(self, job_id: str, fileobj: BinaryIO) -> int:
        """Stream every taken artifact as one POSIX tar into `fileobj`
        (1 MiB at a time); return the number of bytes written. A failure
        mid-stream raises CordonConnectionError (what was written is an
        incomplete archive)."""
        conn, resp = self._open("GET", f"/v1/jobs/{_check_id(job_id)}/artifacts.tar")
        total = 0
        try:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                fileobj.write(chunk)
                total += len(chunk)
        except (OSError, http.client.HTTPException) as e:
            raise CordonConnectionError(f"reading the tar from cordond: {e}",
                                        type(e).__name__) from e
        finally:
            conn.close()
        return total

    # -- service ----------------------------------------------------------

    def profiles(self) -> List[Dict[str, Any]]:
        """The profiles, each as `cordon profiles --json` prints it."""
        return self._call("GET", "/v1/profiles")["profiles"]

    def health(self) -> Dict[str, Any]:
        """`{"status": "ok"|"stopping", "version"}`, and for admins also
        `"cgroup_mode"`, `"slots"` and `"queue"`."""
        return self._call("GET", "/v1/health")

    def metrics(self) -> str:
        """Prometheus text (admins only)."""
        conn, resp = self._open("GET", "/metrics", headers={"Accept": "text/plain"})
        return self._read(conn, resp).decode("utf-8", errors="replace")
