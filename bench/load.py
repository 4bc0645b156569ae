#!/usr/bin/env python3
"""Set-up and check for the load benchmark (bench/load.sh), through the
admin API and the Sky routes of a running `krl serve`. Python standard
library only: keep-alive HTTP/1.1 connections, one per worker thread.

    load.py setup  URL TOKEN N ECIS_FILE [--workers W] [--procs P] [--fanout F]
                   [--max-seconds S] [--separate-installs 0|1] [--wrk 0|1]
    load.py verify URL COUNTS_FILE... [--workers W] [--idle-sample K]
    load.py record RESULTS_JSONL ITEM...   (ITEM: key=value, or @FILE: its last line, a JSON object)
    load.py report RESULTS_JSONL           (the markdown tables, medians over repeats)

`setup` registers bench/counter.krl, makes N picos (POST /api/picos: each
comes with one channel) and installs bench.counter on each: in the same
request (POST /api/picos {"rulesets": [{"rid": "bench.counter"}]}, the
default), or with --separate-installs 1 in a second request per pico
(POST /api/picos/{id}/rulesets). With --fanout F the picos are not all
children of the root: ceil(N/F) "group" picos are made under the root
first and the N picos under them, F each (the parent's record grows by
one family channel per child). W keep-alive connections (threads) in each
of P processes (--procs: one Python process cannot keep a fast server
busy). The ECIs, one a line, go to ECIS_FILE. Prints one JSON line: how
many picos, the seconds the pico creations and installs took, and the
rates. With --max-seconds it stops making picos after that long (and says
so). With --wrk 1 the pico creations are sent by wrk (bench/create.lua,
one thread, W x P connections) instead of Python threads, which need
more CPU per request than the server does on a 2-core machine; the
first/last rates are then not measured.

`verify` reads the wrk script's per-ECI counts (lines "eci issued
acked"; several files, from several runs on one server, add up) and
queries the counter (GET /sky/cloud/{eci}/bench.counter/n) of every
pico that was sent an event, and of at most K others (--idle-sample,
default 1000: they must count 0). An event answered 200 must be counted (counter >=
acked: nothing acknowledged was lost) and no event may count twice
(counter <= issued; events still in flight when wrk stopped were issued
but not acknowledged). Prints one JSON line; exits 1 on a mismatch.
"""

import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
RID = "bench.counter"


class Client:
    """One keep-alive connection."""

    def __init__(self, url, token=None):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, content_type="application/json"):
        headers = {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            headers["Content-Type"] = content_type
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                res = self.conn.getresponse()
                data = res.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if res.status != 200:
            raise RuntimeError(f"{method} {path}: {res.status} {data[:200]!r}")
        return json.loads(data) if data else None


def run_parallel(items, workers, make_client, fn):
    """Runs fn(client, item) for every item on `workers` threads; returns
    the results in item order. Stops at the first error (re-raised)."""
    q = queue.Queue()
    for i, item in enumerate(items):
        q.put((i, item))
    results = [None] * len(items)
    errors = []

    def worker():
        client = make_client()
        while not errors:
            try:
                i, item = q.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = fn(client, item)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# What the processes of run_procs run: set before they are forked.
_JOB = None


def _run_chunk(chunk):
    workers, make_client, fn = _JOB
    return run_parallel(chunk, workers, make_client, fn)


def run_procs(items, procs, workers, make_client, fn):
    """run_parallel over `procs` forked processes (each with `workers`
    threads); results in item order. fn's results must pickle."""
    items = list(items)
    if procs <= 1:
        return run_parallel(items, workers, make_client, fn)
    import multiprocessing
    global _JOB
    _JOB = (workers, make_client, fn)
    chunks = [items[k::procs] for k in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_run_chunk, chunks)
    results = [None] * len(items)
    for k, part in enumerate(parts):
        results[k::procs] = part
    return results


def setup_with_wrk(url, token, n, ecis_file, connections, parents, fanout):
    """The pico creations of `setup` sent by wrk (bench/create.lua) over
    `connections` connections: a Python client needs more CPU per request
    than the server does. Answers the picos made, as [{"eci": ...}]."""
    import subprocess
    import tempfile
    env = dict(os.environ, TOKEN=token, N=str(n), OUT=ecis_file, FANOUT=str(fanout or 0))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pf:
        if fanout:
            pf.write("".join(p + "\n" for p in parents))
        env["PARENTS"] = pf.name if fanout else ""
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", "-d3600s", "-s",
             os.path.join(HERE, "create.lua"), url],
            env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(pf.name)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {}
    if summary.get("made") != n or summary.get("refused"):
        raise SystemExit(f"wrk set-up failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    with open(ecis_file) as f:
        return [{"eci": l.strip()} for l in f if l.strip()]


def setup(url, token, n, ecis_file, workers, procs, fanout, max_seconds, separate,
          use_wrk=False):
    admin = Client(url, token)
    with open(os.path.join(HERE, "counter.krl"), "rb") as f:
        admin.call("POST", "/api/rulesets", f.read(), "text/plain")

    parents = [None]
    t0 = time.monotonic()
    if fanout:
        groups = (n + fanout - 1) // fanout
        made = run_procs(
            range(groups), procs, workers, lambda: Client(url, token),
            lambda c, i: c.call("POST", "/api/picos", {"name": f"group{i}"}))
        parents = [m["id"] for m in made]
    t_groups = time.monotonic() - t0

    # Pico creations, bounded in time by --max-seconds.
    deadline = time.monotonic() + max_seconds if max_seconds else None

    def new_pico(c, i):
        if deadline and time.monotonic() > deadline:
            return None
        body = {"name": f"p{i}"}
        parent = parents[i // fanout] if fanout else None
        if parent:
            body["parent"] = parent
        if not separate:
            body["rulesets"] = [{"rid": RID}]
        made = c.call("POST", "/api/picos", body)
        return made, time.monotonic()

    t1 = time.monotonic()
    if use_wrk:
        picos = setup_with_wrk(url, token, n, ecis_file, workers * procs, parents, fanout)
        t_picos = time.monotonic() - t1
        stopped_early = False
        done_at = []
    else:
        results = run_procs(range(n), procs, workers, lambda: Client(url, token), new_pico)
        t_picos = time.monotonic() - t1
        stopped_early = any(r is None for r in results)
        picos = [r[0] for r in results if r]
        done_at = [r[1] for r in results if r]

    t2 = time.monotonic()
    if separate:
        run_procs(picos, procs, workers, lambda: Client(url, token),
                  lambda c, p: c.call("POST", f"/api/picos/{p['id']}/rulesets", {"rid": RID}))
    t_install = time.monotonic() - t2

    # Creation rate at the start and at the end (the first and the last
    # 1,000 picos, or tenth if fewer): shows whether it degrades with size.
    done_at.sort()
    k = max(1, min(1000, len(done_at) // 10))

    def rate(ts):
        return round((len(ts) - 1) / (ts[-1] - ts[0]), 1) if len(ts) > 1 and ts[-1] > ts[0] else None

    with open(ecis_file, "w") as f:
        for p in picos:
            f.write(p["eci"] + "\n")
    print(json.dumps({
        "picos": len(picos),
        "requested": n,
        "stopped_early": stopped_early,
        "fanout": fanout,
        "installs": "separate" if separate else "with create",
        "clients": f"wrk, {procs * workers} connections" if use_wrk else f"{procs} x {workers}",
        "groups_s": round(t_groups, 2),
        "create_s": round(t_picos, 2),
        "create_per_s": round(len(picos) / t_picos, 1) if t_picos else None,
        "create_per_s_first": rate(done_at[:k]),
        "create_per_s_last": rate(done_at[-k:]),
        "install_s": round(t_install, 2) if separate else None,
        "install_per_s": round(len(picos) / t_install, 1) if separate and t_install else None,
        "total_s": round(time.monotonic() - t0, 2),
    }))


def verify(url, counts_files, workers, idle_sample):
    issued, acked = {}, {}
    for path in counts_files:
        with open(path) as f:
            for line in f:
                eci, i, a = line.split()
                issued[eci] = issued.get(eci, 0) + int(i)
                acked[eci] = acked.get(eci, 0) + int(a)
    sent = [(eci, issued[eci], acked[eci]) for eci in issued if issued[eci]]
    idle = [(eci, 0, 0) for eci in issued if not issued[eci]][:idle_sample]
    rows = sent + idle
    counters = run_parallel(
        rows, workers, lambda: Client(url),
        lambda c, r: c.call("GET", f"/sky/cloud/{r[0]}/{RID}/n"))
    bad = [(r, n) for r, n in zip(rows, counters) if not (r[2] <= n <= r[1])]
    out = {
        "ok": not bad,
        "picos_checked": len(rows),
        "picos_sent_to": len(sent),
        "sent_total": sum(r[1] for r in rows),
        "acked_total": sum(r[2] for r in rows),
        "counted": sum(counters),
        "mismatches": len(bad),
        "examples": [{"eci": r[0], "issued": r[1], "acked": r[2], "counter": n}
                     for r, n in bad[:5]],
    }
    print(json.dumps(out))
    return 0 if out["ok"] else 1


def record(results, items):
    row = {}
    for item in items:
        if item.startswith("@"):
            with open(item[1:]) as f:
                lines = [l for l in f.read().splitlines() if l.strip().startswith("{")]
            if lines:
                row.update(json.loads(lines[-1]))
        else:
            k, _, v = item.partition("=")
            try:
                row[k] = json.loads(v)
            except ValueError:
                row[k] = v
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def report(results):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    runs = [r for r in rows if r.get("kind") == "run"]
    setups = [r for r in rows if r.get("kind") == "setup"]
    crashes = [r for r in rows if r.get("kind") == "crash"]
    groups = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["picos"], r["conc"]), []).append(r)
    print("| scenario | picos | concurrency | runs | events/s (median) | p50 ms | p99 ms "
          "| server CPU (cores) | server CPU µs/event | wrk CPU (cores) | other load (cores) "
          "| RSS after (MiB) | counters check |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (scenario, picos, conc), rs in groups.items():
        rps = median([r["ok_rps"] for r in rs])
        cores = median([r["cpu_s"] / r["seconds"] for r in rs])
        us = median([r["cpu_s"] / r["acked"] * 1e6 if r["acked"] else None for r in rs])
        rss = max(r["rss_kib"] for r in rs) / 1024
        wrk = median([r["wrk_cpu_s"] / r["seconds"] for r in rs])
        # Everything else the machine ran meanwhile (others' builds...).
        other = median([max(0.0, (r["busy_s"] - r["cpu_s"] - r["wrk_cpu_s"]) / r["seconds"])
                        for r in rs])
        checks = [r.get("ok") for r in rs]
        check = "n/a" if all(c is None for c in checks) else (
            "ok" if all(checks) else "FAILED")
        print(f"| {scenario} | {picos:,} | {conc} | {len(rs)} | {rps:,.0f} "
              f"| {median([r['p50_ms'] for r in rs]):.2f} | {median([r['p99_ms'] for r in rs]):.2f} "
              f"| {cores:.2f} | {us:.0f} | {wrk:.2f} | {other:.2f} | {rss:.0f} | {check} |")
    if setups:
        print()
        print("| set-up | picos made | fanout | clients | create s | picos/s (first → last 1,000) "
              "| install s | installs/s | total s | RSS after set-up (MiB) | peak RSS (MiB) "
              "| data folder (MiB) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in setups:
            fan = r["fanout"] or "flat (all under root)"
            note = " (stopped at the time limit)" if r["stopped_early"] else ""
            inst = ("with create", "") if r.get("install_s") is None else (
                f"{r['install_s']:.1f}", f"{r['install_per_s']:,.0f}")
            print(f"| {r['scenario']} | {r['picos']:,} of {r['requested']:,}{note} | {fan} "
                  f"| {r.get('clients', '')} | {r['create_s']:.1f} | {r['create_per_s']:,.0f} "
                  f"({r['create_per_s_first'] or 0:,.0f} → {r['create_per_s_last'] or 0:,.0f}) "
                  f"| {inst[0]} | {inst[1]} | {r['total_s']:.1f} | {r['rss_kib'] / 1024:.0f} "
                  f"| {r.get('hwm_kib', 0) / 1024:.0f} | {r.get('data_kib', 0) / 1024:.0f} |")
    for r in crashes:
        print()
        print(f"kill -9 under load, restart: {r['picos_checked']:,} picos, {r['acked_total']:,} events "
              f"acknowledged, {r['counted']:,} counted after the restart, {r['sent_total']:,} sent: "
              + ("ok (no acknowledged event lost, none counted twice)" if r["ok"]
                 else f"FAILED ({r['mismatches']} picos off)"))


def main(argv):
    def opt(name, default):
        if name in argv:
            i = argv.index(name)
            v = argv[i + 1]
            del argv[i:i + 2]
            return int(v)
        return default

    workers = opt("--workers", 16)
    procs = opt("--procs", 1)
    fanout = opt("--fanout", 0)
    max_seconds = opt("--max-seconds", 0)
    separate = opt("--separate-installs", 0)
    idle_sample = opt("--idle-sample", 1000)
    use_wrk = opt("--wrk", 0)
    if len(argv) >= 6 and argv[1] == "setup":
        if use_wrk and (separate or max_seconds):
            print("--wrk makes picos with their installs, with no time limit", file=sys.stderr)
            return 2
        setup(argv[2], argv[3], int(argv[4]), argv[5], workers, procs, fanout, max_seconds,
              separate, bool(use_wrk))
        return 0
    if len(argv) >= 3 and argv[1] == "record":
        record(argv[2], argv[3:])
        return 0
    if len(argv) == 3 and argv[1] == "report":
        report(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == "verify":
        return verify(argv[2], argv[3:], workers, idle_sample)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
