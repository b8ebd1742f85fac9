#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A bounded concurrency soak of cordond, as root, real kernel.

One daemon with two slots; several client uids at once, each in its own
process, submit short jobs while they and others cancel, delete, wait,
list, read output and artifacts (one by one and as tar), and an admin
reads health and metrics and cancels and deletes anyone's jobs. Then the
invariants: every job reached exactly one verdict; the log holds exactly
one job.submitted and one job.finished per job, at most one job.cancelled
(exactly one when a cancel was accepted) and one job.deleted per delete
answered 204, and `cordon audit verify` passes; no host uid was seen in
two job cgroups at once; the counters agree; nothing is left behind.

    sudo CORDOND_BIN=build/cordond CORDON_BIN=build/cordon /usr/bin/python3 tests/daemon/test_soak.py

Uses test_api.py's helpers. CORDON_SOAK_SEED repeats a run's choices.
Exits 77 (skipped) with a reason when not root or something is missing.
"""

from __future__ import annotations

import io
import os
import random
import re
import select
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_api as t  # noqa: E402
from test_api import cc  # noqa: E402

SUBMITTERS = ("a", "a", "b", "b", "groupsub")  # two processes of a and of b
ROUNDS = 50          # jobs per submitter process
HANG_BOUND = 300     # seconds: a worker or the drain that takes longer has hung
VERDICTS = {"ok", "failed", "cancelled"}

# Short jobs: some write an artifact, some fail, some sleep long enough
# to be cancelled while running.
SCRIPTS = [
    "echo soak\nmkdir -p /out/d\necho data > /out/d/r.txt\n",
    "echo soak\nexit 3\n",
    "echo started\nsleep 0.3\necho data > /out/r.csv\n",
    "echo started\nexec sleep 30\n",
]


def submitter(d: t.Daemon, who: str, seed: int) -> dict:
    """One client's mixed load, run in its own process as @who. Returns
    what it did: submitted ids, accepted cancels, deletes answered 204."""
    rnd = random.Random(seed)
    c = d.client(timeout=120)
    done = {"ids": [], "cancelled": [], "deleted": [], "errors": []}

    def expect(fn, *codes):
        try:
            return fn()
        except cc.CordonError as e:
            if e.code not in codes:
                done["errors"].append(f"{who}: {e.status} {e.code}: {e.detail}")
            return None

    def delete(j) -> None:
        """DELETE @j; noted when answered 204."""
        try:
            c.delete(j)
            done["deleted"].append(j)
        except cc.CordonError as e:
            if e.code not in ("job_not_finished", "job_not_found"):
                done["errors"].append(f"{who}: {e.status} {e.code}: {e.detail}")

    for i in range(ROUNDS):
        script = rnd.choice(SCRIPTS)
        j = c.submit("default", entry="j.sh", inputs={"j.sh": script.encode()},
                     labels={"soak": who, "i": str(i)})["id"]
        done["ids"].append(j)
        action = rnd.choice(("cancel", "cancel_later", "wait", "delete", "read", "none"))
        if action == "cancel" or (action == "cancel_later" and "sleep 30" in script):
            if action == "cancel_later":
                time.sleep(rnd.uniform(0, 0.5))
            if expect(lambda: c.cancel(j), "job_finished", "job_not_found") is not None:
                done["cancelled"].append(j)
        elif action == "wait" or "sleep 30" in script:
            if "sleep 30" in script and expect(lambda: c.cancel(j), "job_finished", "job_not_found") is not None:
                done["cancelled"].append(j)
            expect(lambda: c.job(j, wait=30), "job_not_found")
        elif action == "delete":
            if expect(lambda: c.cancel(j), "job_finished", "job_not_found") is not None:
                done["cancelled"].append(j)
            delete(j)
        # Reads of earlier jobs, finished or not, as others change them.
        old = rnd.choice(done["ids"])
        if old in done["deleted"]:
            continue
        expect(lambda: c.job(old), "job_not_found")
        expect(lambda: c.stdout(old), "job_not_found")
        manifest = expect(lambda: c.artifacts(old), "job_not_finished", "job_not_found")
        if manifest is not None:
            expect(lambda: c.artifacts_tar(old, io.BytesIO()), "job_not_found")
            for a in manifest.get("artifacts") or []:
                if "sha256" in a:
                    expect(lambda: c.artifact(old, a["path"]), "job_not_found")
        c.jobs(limit=rnd.choice((5, 50)))
        if action == "read" and rnd.random() < 0.5:
            delete(old)
    # What is left running is cancelled; half of the finished are deleted.
    for j in done["ids"]:
        if j in done["deleted"]:
            continue
        if expect(lambda: c.cancel(j), "job_finished", "job_not_found") is not None:
            done["cancelled"].append(j)
        expect(lambda: c.job(j, wait=30), "job_not_found")
        if rnd.random() < 0.3:
            delete(j)
    return done


def admin(d: t.Daemon, stop_path: str, seed: int) -> dict:
    """The admin: health, metrics, lists; cancels and deletes anyone's."""
    rnd = random.Random(seed)
    c = d.client(timeout=120)
    done = {"cancelled": [], "deleted": [], "errors": [], "busy_max": 0}
    while not os.path.exists(stop_path):
        h = c.health()
        done["busy_max"] = max(done["busy_max"], h["slots"]["busy"])
        c.metrics()
        jobs = c.jobs(limit=50)["jobs"]
        if jobs and rnd.random() < 0.3:
            j = rnd.choice(jobs)["id"]
            try:
                if rnd.random() < 0.5:
                    c.cancel(j)
                    done["cancelled"].append(j)
                else:
                    c.delete(j)
                    done["deleted"].append(j)
            except cc.CordonError as e:
                if e.code not in ("job_finished", "job_not_finished", "job_not_found"):
                    done["errors"].append(f"admin: {e.status} {e.code}: {e.detail}")
        time.sleep(0.02)
    return done


class SoakTest(t.DaemonTest):

    def watch_uids(self, stop: threading.Event, seen: list) -> None:
        """Until @stop: any host uid in two job cgroups at once."""
        while not stop.is_set():
            where: dict = {}
            for _, uid, cg, _ in t.processes():
                leaves = {line.split(":", 2)[2] for line in cg if f"/{t.CG_PARENT}/" in line}
                if leaves and uid != 0:
                    where.setdefault(uid, set()).update(
                        re.sub(r"/.*$", "", leaf.split(f"/{t.CG_PARENT}/", 1)[1])
                        for leaf in leaves)
            seen += [(uid, sorted(cgs)) for uid, cgs in where.items() if len(cgs) > 1]
            time.sleep(0.05)

    def test_mixed_load(self):
        seed = int(os.environ.get("CORDON_SOAK_SEED") or random.randrange(1 << 30))
        print(f"\n# soak seed {seed} (CORDON_SOAK_SEED)", file=sys.stderr)
        d = self.start_daemon(slots=2, max_queued=256, max_queued_per_client=128,
                              rate_per_second=10000, output_max=4096)
        stop_path = str(d.tmp / "stop")
        stop = threading.Event()
        overlaps: list = []
        watcher = threading.Thread(target=self.watch_uids, args=(stop, overlaps), daemon=True)
        watcher.start()
        self.addCleanup(stop.set)
        t0 = time.monotonic()
        kids = [t.Child(who, submitter, d, who, seed + n) for n, who in enumerate(SUBMITTERS)]
        boss = t.Child("groupadmin", admin, d, stop_path, seed + 99)
        try:
            results = [k.result(HANG_BOUND) for k in kids]
        finally:
            Path(stop_path).touch()
        bossed = boss.result(HANG_BOUND)

        def drained():
            h = d.client().health()
            return h["queue"]["length"] == 0 and h["slots"]["busy"] == 0
        self.assertTrue(t.poll(drained, HANG_BOUND, 0.2), "cordond did not drain")
        stop.set()
        watcher.join()
        elapsed = time.monotonic() - t0

        errors = sum((r["errors"] for r in results), bossed["errors"])
        self.assertEqual(errors, [])
        self.assertEqual(overlaps, [], "a host uid in two job cgroups at once")
        self.assertLessEqual(bossed["busy_max"], 2)
        ids = [j for r in results for j in r["ids"]]
        self.assertEqual(len(ids), len(set(ids)))
        deleted = [j for r in results for j in r["deleted"]] + bossed["deleted"]
        self.assertEqual(len(deleted), len(set(deleted)), "a job deleted twice")
        cancelled = {j for r in results for j in r["cancelled"]} | set(bossed["cancelled"])

        # The API: each job finished once, or is gone when deleted.
        c = d.client()
        verdicts = {}
        for j in ids:
            try:
                job = c.job(j)
            except cc.CordonError as e:
                self.assertEqual(e.code, "job_not_found", j)
                self.assertIn(j, deleted)
                continue
            self.assertNotIn(j, deleted)
            self.assertEqual(job["state"], "finished", job)
            verdicts[j] = job["verdict"]
        self.assertTrue(set(verdicts.values()) <= VERDICTS, verdicts)
        listed = {j["id"] for j in c.iter_jobs(limit=500)}
        self.assertEqual(listed, set(ids) - set(deleted))

        # The log: one submission and one verdict per job, the verdict the
        # API shows; a cancel or a delete recorded once.
        events: dict = {}
        for rec in d.audit():
            if rec.get("job"):
                events.setdefault(rec["job"], []).append(rec)
        for j in ids:
            evs = [r["event"] for r in events.get(j, [])]
            self.assertEqual(evs.count("job.submitted"), 1, (j, evs))
            self.assertEqual(evs.count("job.finished"), 1, (j, evs))
            self.assertEqual(evs.count("job.deleted"), 1 if j in deleted else 0, (j, evs))
            self.assertLessEqual(evs.count("job.started"), 1, (j, evs))
            # A delete of a running job cancels it too: once at most.
            if j in cancelled:
                self.assertEqual(evs.count("job.cancelled"), 1, (j, evs))
            else:
                self.assertLessEqual(evs.count("job.cancelled"), 1 if j in deleted else 0,
                                     (j, evs))
            fin = next(r for r in events[j] if r["event"] == "job.finished")
            if j in verdicts:
                self.assertEqual(fin["verdict"], verdicts[j], j)
            if fin["verdict"] == "cancelled":
                self.assertTrue(j in cancelled or j in deleted, (j, evs))
        self.assertEqual(set(events) - set(ids), set(), "records of jobs nobody submitted")
        recs = [r["seq"] for r in d.audit()]
        self.assertEqual(recs, list(range(1, len(recs) + 1)))
        out = subprocess.run([t.CORDON, "audit", "verify", str(d.state / "audit")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

        # The counters, and what is on disk.
        h = c.health()
        self.assertEqual(h["status"], "ok")
        self.assertEqual((h["queue"]["length"], h["slots"]["busy"]), (0, 0), h)
        m = c.metrics()
        total = sum(int(n) for n in re.findall(r'(?m)^cordon_jobs_total\{verdict="[a-z_]+"\} (\d+)$', m))
        self.assertEqual(total, len(ids), m)
        self.assertRegex(m, r"(?m)^cordon_jobs_running 0$")
        self.assertRegex(m, r"(?m)^cordon_queue_length 0$")
        self.assertEqual(d.job_entries(), set(ids) - set(deleted))
        self.assertEqual(t.leaf_cgroups(), [])
        self.assertEqual(t.job_processes(), [])
        print(f"# soak: {len(ids)} jobs, {len(deleted)} deleted, {len(cancelled)} cancels "
              f"accepted, in {elapsed:.1f}s", file=sys.stderr)


def main() -> None:
    if os.geteuid() != 0:
        t._skip("cordond and these tests need root")
    if t.IMPORT_ERROR:
        t._skip(f"run with /usr/bin/python3 with python3-yaml and python3-jsonschema "
                f"({t.IMPORT_ERROR})")
    if not os.access(t.CORDOND, os.X_OK):
        t._skip(f"no cordond at {t.CORDOND} (set CORDOND_BIN)")
    if not Path(t.PROFILES, "default.json").is_file():
        t._skip(f"no profiles in {t.PROFILES} (set CORDON_PROFILES)")
    t.OPENAPI = t.OpenAPI(t.OPENAPI_PATH)
    t.sweep_dead_parents()
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
