#!/usr/bin/env python3
"""The fault-test driver (tests/cluster/README.md).

Starts krl nodes, registers a counter ruleset, creates picos, and sends
events from client threads for a while, each with a unique eid and the same
value as its Idempotency-Key, to a random node. A request whose answer is
lost (connection refused or reset, time-out, 5xx) is resent with the same
eid and key to another node, a bounded number of times. Meanwhile one fault
is injected (--fault):

  none     nothing
  kill     kill -9 one node, restart it on the same settings a few
           seconds later
  stop     SIGSTOP one node for longer than a lease (--stop-seconds),
           then SIGCONT
  primary  the PostgreSQL primary dies: tests/cluster/patroni.sh
           kill-primary, then wait-primary (--patroni-dir)

From the fault on, one prober per pico sends it one event with short
tries (--probe-timeout) until it is acknowledged: "recovery_s" is when the
last pico was served again, whatever the load clients are waiting on.

At the end every pico is queried, and every acknowledged event must have
been applied exactly once: each acknowledged eid is in the pico's `seen`
map with count 1, no eid has a count above 1, and `n` (the number of
events the pico applied) equals the number of eids in `seen`. A JSON
summary is the last line on stdout. Exit status: 0 all good, 1 an event
lost or applied twice (or a count that does not add up), 3 no loss but
the service did not come back (events given up, no recovery within the
run), 2 the test could not run (a node did not start, the setup failed).

--trace FILE writes every try (when, which node, what answer) as JSON
lines; when a run fails, its logs folder keeps the nodes' logs and the
picos' final states (states.json).

Python 3 standard library only. Every wait has a time limit; every
process started is stopped on exit (finally, atexit, SIGTERM, SIGINT).
"""

import argparse
import atexit
import http.client
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RID = "io.krl.faults.counter"

# The counter: `test count` adds one to ent:n and to ent:seen{eid}, so that
# an event applied twice shows as a count of 2 for its eid.
RULESET = """// The fault driver's counter (tests/cluster/faults.py).
ruleset io.krl.faults.counter {
  meta {
    shares state
  }

  global {
    state = function() {
      {"n": ent:n.defaultsTo(0), "seen": ent:seen.defaultsTo({})}
    }
  }

  rule count {
    select when test count
    pre {
      eid = event:eid
    }
    send_directive("counted", {"eid": eid})
    always {
      ent:n := ent:n.defaultsTo(0) + 1;
      ent:seen{eid} := ent:seen{eid}.defaultsTo(0) + 1
    }
  }
}
"""

EXIT_OK, EXIT_WRONG, EXIT_SETUP, EXIT_UNAVAILABLE = 0, 1, 2, 3


class SetupError(Exception):
    """The test could not run: a node did not start, a setup call failed."""


def log(msg):
    print(f"faults: {msg}", file=sys.stderr, flush=True)


def free_port():
    """A port nothing listens on now (the node binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `krl serve` process, restartable on the same command line."""

    def __init__(self, cluster, name, argv, url, logdir):
        self.cluster = cluster
        self.name = name
        self.argv = argv
        self.url = url
        self.host, self.port = url.removeprefix("http://").split(":")
        self.port = int(self.port)
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self._log = None

    def start(self, timeout):
        """Starts it and waits (at most `timeout` s) for its `listening` line."""
        self._log = open(self.log_path, "ab")
        self._log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        env = dict(os.environ)
        env.setdefault("KRL_LOG", "warn")
        # Under the cluster's lock: once stop_all has begun (the run is
        # ending), a restart by the fault thread would outlive us.
        with self.cluster.lock:
            if self.cluster.closed:
                raise SetupError(f"not starting {self.name}: the run is stopping")
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        lines = queue.Queue()

        # Both pipes are drained into the log for the whole life of the
        # process, so that it never blocks on a full pipe; stdout's lines
        # also go to the queue the start-up waits on.
        logf = self._log

        def drain(pipe, to_queue):
            for raw in iter(pipe.readline, b""):
                logf.write(raw)
                logf.flush()
                if to_queue:
                    lines.put(raw.decode(errors="replace").rstrip("\n"))
            if to_queue:
                lines.put(None)

        drains = [
            threading.Thread(target=drain, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=drain, args=(self.proc.stderr, False), daemon=True),
        ]
        for t in drains:
            t.start()
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.kill()
                raise SetupError(
                    f"{self.name} printed no `listening` line within {timeout}s (log: {self.log_path})"
                )
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=10)
                for t in drains:  # its last words into the log
                    t.join(5)
                raise SetupError(
                    f"{self.name} exited ({code}) before listening (log: {self.log_path}):\n{self.tail()}"
                )
            if line.startswith("listening "):
                got = line.split(" ", 1)[1].strip()
                if got.rstrip("/") != self.url:
                    raise SetupError(f"{self.name} listens on {got}, expected {self.url}")
                return

    def tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9, and wait (bounded) until it is gone."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.stopped = False

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)
            self.stopped = sig == signal.SIGSTOP

    def stop(self):
        """SIGTERM (a graceful stop), SIGKILL after 15 s."""
        if not self.alive():
            return
        if self.stopped:
            self.proc.send_signal(signal.SIGCONT)
            self.stopped = False
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within 15 s of SIGTERM: SIGKILL")
            self.kill()


class Cluster:
    """The nodes, and stopping all of them whatever happens."""

    def __init__(self):
        self.nodes = []
        self.lock = threading.Lock()
        self.closed = False  # no node starts any more

    def stop_all(self):
        with self.lock:
            self.closed = True
            for n in self.nodes:
                try:
                    n.stop()
                except Exception as e:  # keep stopping the others
                    log(f"stopping {n.name}: {e}")


def request(node, method, path, body=None, headers=None, timeout=10.0):
    """One HTTP request on a new connection: (status, parsed body)."""
    conn = http.client.HTTPConnection(node.host, node.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode(errors="replace")
        return res.status, parsed
    finally:
        conn.close()


def admin(node, token, method, path, body=None, content_type="application/json", timeout=30.0):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = content_type
    status, parsed = request(node, method, path, body, headers, timeout)
    if status != 200:
        raise SetupError(f"{method} {path} on {node.name}: {status} {parsed}")
    return parsed


class Stats:
    """What the clients saw; one lock, short sections."""

    def __init__(self, picos, run_id):
        self.lock = threading.Lock()
        self.run_id = run_id  # the prefix of this run's eids
        self.acked = {i: set() for i in range(picos)}  # pico -> acknowledged eids
        self.ack_info = {}  # eid -> (node, seconds into the load, tries)
        self.sent = 0  # events (eids) tried
        self.resends = 0
        self.given_up = []  # (pico, eid, last error)
        self.rejected = []  # (pico, eid, status, body): a 4xx, not resent
        self.eid_mismatch = []  # answers naming another eid
        self.latencies = []  # seconds, first send to acknowledgement
        # kind -> {"count", "first_s", "last_s" (seconds into the load), "sample"}
        self.errors = {}
        self.t0 = None  # monotonic start of the load
        self.per_second = {}  # whole seconds into the load -> acknowledgements
        self.trace = None  # --trace: a file, one JSON line per try
        self.fault_at = None  # monotonic time of the fault
        self.recovered = {}  # pico -> first ack of a try started after the fault

    def record(self, **fields):
        """One try in the --trace file, if any."""
        if self.trace is not None:
            line = json.dumps(fields) + "\n"
            with self.lock:
                self.trace.write(line)

    def error(self, kind, detail, started):
        """A failed try of `kind` that began at `started` (monotonic);
        `detail` (the first one is kept) says more."""
        at = round(started - self.t0, 1)
        with self.lock:
            e = self.errors.setdefault(kind, {"count": 0, "first_s": at, "last_s": at, "sample": detail})
            e["count"] += 1
            e["first_s"] = min(e["first_s"], at)
            e["last_s"] = max(e["last_s"], at)


class Client(threading.Thread):
    """Sends events, resending lost answers: a load client sends to random
    picos until the deadline; a prober (`pico` given) sends one event to
    its pico, with short tries, until it is acknowledged or the deadline
    passes, so that the time a pico is served again after the fault is
    known to about a second, whatever the load clients are stuck on."""

    def __init__(self, name, args, cluster, ecis, stats, deadline, pico=None, timeout=None):
        super().__init__(name=name, daemon=True)
        self.args, self.cluster, self.ecis, self.stats = args, cluster, ecis, stats
        self.deadline, self.pico = deadline, pico
        self.timeout = timeout or args.request_timeout
        self.rng = random.Random(f"{stats.run_id}-{name}")
        self.conns = {}  # node name -> kept-alive connection
        self.suspect = {}  # node name -> monotonic time until which it is avoided
        self.failure = None

    def pick(self, exclude=None):
        """A random node, avoiding `exclude` and nodes that failed a try in
        the last --suspect-seconds (as a load balancer's health check
        would) while there is another choice."""
        nodes = [n for n in self.cluster.nodes if n is not exclude] or self.cluster.nodes
        now = time.monotonic()
        healthy = [n for n in nodes if self.suspect.get(n.name, 0) <= now]
        return self.rng.choice(healthy or nodes)

    def conn(self, node):
        c = self.conns.get(node.name)
        if c is None:
            c = http.client.HTTPConnection(node.host, node.port, timeout=self.timeout)
            self.conns[node.name] = c
        return c

    def drop(self, node):
        c = self.conns.pop(node.name, None)
        if c is not None:
            c.close()

    def attempt(self, node, path, body, eid):
        """One try: ('ok', answer) | ('retry', (kind, detail)) | ('reject', (status, body))."""
        try:
            c = self.conn(node)
            headers = {"Content-Type": "application/json"}
            if not self.args.no_key:
                headers["Idempotency-Key"] = eid
            c.request("POST", path, body=body, headers=headers)
            res = c.getresponse()
            data = res.read()
        except (OSError, http.client.HTTPException) as e:
            # Refused, reset, timed out, closed mid-answer: the answer is
            # lost; the event may or may not have been applied.
            self.drop(node)
            return "retry", (type(e).__name__, str(e)[:200])
        if res.will_close:
            self.drop(node)
        if res.status == 200:
            try:
                answer = json.loads(data)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                return "retry", ("200 not a JSON object", data.decode(errors="replace")[:200])
            return "ok", answer
        if res.status >= 500:
            text = data.decode(errors="replace").strip().replace("\n", " ")
            return "retry", (f"HTTP {res.status}", text[:200])
        return "reject", (res.status, data.decode(errors="replace")[:300])

    def run(self):
        try:
            if self.pico is None:
                seq = 0
                while time.monotonic() < self.deadline:
                    seq += 1
                    self.send(self.rng.randrange(len(self.ecis)), f"{self.stats.run_id}-{self.name}-{seq}")
            else:
                self.send(self.pico, f"{self.stats.run_id}-{self.name}")
        except Exception as e:  # reported, not swallowed
            self.failure = repr(e)
        finally:
            for c in self.conns.values():
                c.close()

    def send(self, p, eid):
        """Sends event `eid` to pico `p` until it is acknowledged, rejected
        or given up (--tries, --event-deadline; a prober: the deadline)."""
        a, st = self.args, self.stats
        body = json.dumps({"sender": self.name}).encode()
        path = f"/sky/event/{self.ecis[p]}/{eid}/test/count"
        with st.lock:
            st.sent += 1
        first = time.monotonic()
        node = self.pick()
        why = None
        t = 0
        while True:
            if t > 0:
                if self.pico is None:
                    out_of_time = t >= a.tries or time.monotonic() - first > a.event_deadline
                else:
                    out_of_time = time.monotonic() > self.deadline
                if out_of_time:
                    break
                with st.lock:
                    st.resends += 1
                # Another node when there is one; a short back-off so that
                # a node coming back is not hammered.
                node = self.pick(exclude=node)
                # (A prober waits at most 0.25 s: it measures.)
                cap = a.max_backoff if self.pico is None else min(a.max_backoff, 0.25)
                time.sleep(min(cap, 0.05 * 2**t))
            t += 1
            started = time.monotonic()
            kind, res = self.attempt(node, path, body, eid)
            now = time.monotonic()
            st.record(
                start_s=round(started - st.t0, 3),
                end_s=round(now - st.t0, 3),
                sender=self.name,
                eid=eid,
                pico=p,
                node=node.name,
                outcome=kind,
                detail=res,
            )
            if kind == "ok":
                with st.lock:
                    st.acked[p].add(eid)
                    st.ack_info[eid] = (node.name, round(now - st.t0, 2), t)
                    st.latencies.append(now - first)
                    second = int(now - st.t0)
                    st.per_second[second] = st.per_second.get(second, 0) + 1
                    if res.get("eid") != eid:
                        st.eid_mismatch.append((eid, res.get("eid")))
                    if st.fault_at is not None and started > st.fault_at and p not in st.recovered:
                        st.recovered[p] = now
                return
            if kind == "reject":
                with st.lock:
                    st.rejected.append((p, eid) + res)
                return
            why = res
            self.suspect[node.name] = time.monotonic() + a.suspect_seconds
            st.error(f"{res[0]} ({node.name})", res[1], started)
        with st.lock:
            st.given_up.append((p, eid, why))


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="krl fault-test driver: load with idempotent resends, one fault, exactly-once check",
    )
    ap.add_argument("--bin", required=True, help="the krl binary")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="postgres:// URL: a cluster of --nodes nodes on it")
    where.add_argument("--data", help="sled data folder: one node (kept across its restarts)")
    ap.add_argument("--nodes", type=int, default=None, help="nodes (default 3 with --store, 1 with --data)")
    ap.add_argument("--picos", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=40.0, help="seconds of load")
    ap.add_argument("--fault", choices=["none", "kill", "stop", "primary"], default="none")
    ap.add_argument(
        "--fault-at", type=float, default=None, help="seconds into the load (default: a quarter of it)"
    )
    ap.add_argument(
        "--victim", type=int, default=None, help="index of the node to kill or stop (default: the last)"
    )
    ap.add_argument("--restart-after", type=float, default=3.0, help="kill: seconds before the restart")
    ap.add_argument(
        "--stop-seconds", type=float, default=20.0, help="stop: seconds between SIGSTOP and SIGCONT"
    )
    ap.add_argument("--patroni-dir", help="primary: the folder of tests/cluster/patroni.sh up")
    ap.add_argument(
        "--failover-timeout", type=int, default=120, help="primary: seconds wait-primary may take"
    )
    ap.add_argument("--token", default="faults-token", help="the admin token given to the nodes")
    ap.add_argument(
        "--node-arg",
        action="append",
        default=[],
        help="one more argument for every node (repeatable; --node-arg=--flag for one that starts with -)",
    )
    ap.add_argument("--tries", type=int, default=40, help="most tries of one event")
    ap.add_argument("--max-backoff", type=float, default=1.0, help="seconds, longest pause between tries")
    ap.add_argument(
        "--event-deadline", type=float, default=90.0, help="seconds after which an event is given up"
    )
    ap.add_argument(
        "--request-timeout", type=float, default=10.0, help="seconds one try of a load client may take"
    )
    ap.add_argument(
        "--suspect-seconds",
        type=float,
        default=5.0,
        help="seconds a client avoids a node after a failed try, while another node is there",
    )
    ap.add_argument(
        "--probe-timeout",
        type=float,
        default=1.0,
        help="seconds one try of a prober (after the fault) may take",
    )
    ap.add_argument("--start-timeout", type=float, default=60.0, help="seconds a node may take to start")
    ap.add_argument(
        "--trace", help="write every try (times, eid, pico, node, outcome, answer) to this file, JSON lines"
    )
    ap.add_argument("--logs", help="folder for the nodes' logs (default: a temporary one, kept on failure)")
    ap.add_argument(
        "--no-key",
        action="store_true",
        help="send no Idempotency-Key (a check of the checker: resends of applied events must show as duplicates)",
    )
    ap.add_argument("--print-ruleset", action="store_true", help="print the counter ruleset and exit")
    a = ap.parse_args(argv)
    if a.nodes is None:
        a.nodes = 3 if a.store else 1
    if a.data and a.nodes != 1:
        ap.error("--data runs one node (sled is a single-process store); use --store for more")
    if a.nodes < 1 or a.picos < 1 or a.clients < 1 or a.duration <= 0 or a.tries < 1:
        ap.error("--nodes, --picos, --clients, --tries must be at least 1 and --duration positive")
    if a.fault == "primary" and not a.patroni_dir:
        ap.error("--fault primary needs --patroni-dir (the folder of patroni.sh up)")
    if a.fault == "primary" and not a.store:
        ap.error("--fault primary needs --store (the Patroni cluster's URL)")
    if a.fault_at is None:
        a.fault_at = a.duration / 4
    # The fault must be over before the load ends, or recovery cannot be
    # seen.
    busy = {"kill": a.restart_after, "stop": a.stop_seconds}.get(a.fault, 0.0)
    if a.fault != "none" and a.fault_at + busy >= a.duration:
        ap.error(
            f"the fault ends at {a.fault_at + busy:g} s (--fault-at plus its length) but the load "
            f"stops at {a.duration:g} s: give a longer --duration"
        )
    if a.victim is None:
        a.victim = a.nodes - 1
    if not 0 <= a.victim < a.nodes:
        ap.error(f"--victim must be 0..{a.nodes - 1}")
    return a


def node_argv(a, i, port):
    url = f"http://127.0.0.1:{port}"
    argv = [a.bin, "serve"]
    if a.store:
        argv += ["--store", a.store, "--node-id", f"n{i + 1}", "--advertise", url]
    else:
        argv += ["--data", a.data]
    argv += ["--listen", f"127.0.0.1:{port}", "--admin-token", a.token, "--no-mqtt"] + a.node_arg
    return argv, url


def check_ruleset(a, tmp):
    path = os.path.join(tmp, "counter.krl")
    with open(path, "w") as f:
        f.write(RULESET)
    r = subprocess.run([a.bin, "check", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SetupError(f"the counter ruleset does not check:\n{r.stdout}{r.stderr}")


def setup(a, cluster):
    """Registers the counter and creates the picos: their ecis."""
    first = cluster.nodes[0]
    answer = admin(first, a.token, "POST", "/api/rulesets", RULESET.encode(), "text/plain")
    if answer.get("rid") != RID:
        raise SetupError(f"registering the counter answered {answer}")
    ecis = []
    for i in range(a.picos):
        node = cluster.nodes[i % len(cluster.nodes)]
        pico = admin(node, a.token, "POST", "/api/picos", json.dumps({"name": f"faults-{i}"}).encode())
        admin(node, a.token, "POST", f"/api/picos/{pico['id']}/rulesets", json.dumps({"rid": RID}).encode())
        ecis.append(pico["eci"])
    return ecis


def inject(a, cluster, t0, report, stop_event, on_fault):
    """The fault, at t0 + fault_at; what happened goes into `report`.
    `on_fault` is called once it has struck (so that no try begun after
    it can be answered by what it struck)."""
    wait = t0 + a.fault_at - time.monotonic()
    if wait > 0 and stop_event.wait(wait):
        return
    victim = cluster.nodes[a.victim] if a.fault in ("kill", "stop") else None
    if a.fault == "kill":
        log(f"kill -9 {victim.name} (pid {victim.proc.pid})")
        victim.kill()
        on_fault()
        if stop_event.wait(a.restart_after):
            return
        log(f"restarting {victim.name} on the same settings")
        began = time.monotonic()
        victim.start(a.start_timeout)
        report["restart_s"] = round(time.monotonic() - began, 2)
        log(f"{victim.name} listening again after {report['restart_s']} s")
    elif a.fault == "stop":
        log(f"SIGSTOP {victim.name} (pid {victim.proc.pid}) for {a.stop_seconds} s")
        victim.signal(signal.SIGSTOP)
        on_fault()
        stop_event.wait(a.stop_seconds)
        log(f"SIGCONT {victim.name}")
        victim.signal(signal.SIGCONT)
    elif a.fault == "primary":
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "patroni.sh")
        r = subprocess.run(
            ["bash", script, "kill-primary", a.patroni_dir], capture_output=True, text=True, timeout=60
        )
        log(f"patroni.sh kill-primary: {r.stdout.strip()} {r.stderr.strip()}".strip())
        if r.returncode != 0:
            report["fault_error"] = f"kill-primary failed ({r.returncode}): {r.stderr.strip()}"
            return
        on_fault()
        r = subprocess.run(
            ["bash", script, "wait-primary", a.patroni_dir, str(a.failover_timeout)],
            capture_output=True,
            text=True,
            timeout=a.failover_timeout + 30,
        )
        if r.returncode != 0:
            report["fault_error"] = f"wait-primary failed ({r.returncode}): {r.stderr.strip()}"
            return
        report["failover_s"] = float(r.stdout.strip().splitlines()[-1])
        log(f"new primary after {report['failover_s']} s")


def verify(a, cluster, ecis, stats):
    """Each pico's counter against what was acknowledged."""
    out = {
        "lost": [],
        "duplicates": [],
        "count_mismatch": [],
        "applied_unacked": 0,
        "unknown": [],
        "states": {},
    }
    for p, eci in enumerate(ecis):
        state = None
        last = None
        end = time.monotonic() + 60
        # Any live node may answer; a 5xx or a refused connection (a node
        # still taking over shards) is asked again, for at most 60 s.
        while state is None and time.monotonic() < end:
            for node in cluster.nodes:
                if not node.alive():
                    continue
                try:
                    status, body = request(
                        node, "GET", f"/sky/cloud/{eci}/{RID}/state", timeout=a.request_timeout
                    )
                except (OSError, http.client.HTTPException) as e:
                    last = repr(e)
                    continue
                if status == 200 and isinstance(body, dict):
                    state = body
                    break
                last = f"{status} {body}"
            else:
                time.sleep(0.5)
        if state is None:
            raise SetupError(f"pico {p} ({eci}): no answer to the final query within 60 s ({last})")
        out["states"][eci] = state
        seen = state.get("seen") or {}
        n = state.get("n")
        acked = stats.acked[p]
        for eid in sorted(acked):
            if seen.get(eid, 0) < 1:
                out["lost"].append(eid)
        for eid, count in seen.items():
            if count != 1:
                out["duplicates"].append((eid, count))
            if eid not in acked:
                # Applied, answer never received (the client gave up) or
                # never sent by this run (a leftover of an earlier run on
                # the same --data).
                if eid.startswith(f"{stats.run_id}-"):
                    out["applied_unacked"] += 1
                else:
                    out["unknown"].append(eid)
        if n != len(seen):
            out["count_mismatch"].append((eci, n, len(seen)))
    return out


def main(argv):
    a = parse_args(argv)
    if a.print_ruleset:
        sys.stdout.write(RULESET)
        return EXIT_OK
    cluster = Cluster()
    atexit.register(cluster.stop_all)

    # SIGTERM and SIGINT unwind through the finally below.
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    own_logs = a.logs is None
    logdir = a.logs or tempfile.mkdtemp(prefix="krl-faults.")
    os.makedirs(logdir, exist_ok=True)
    run_id = "%06x" % random.getrandbits(24)
    stats = Stats(a.picos, run_id)
    if a.trace:
        stats.trace = open(a.trace, "w")
    report = {}
    code = EXIT_SETUP
    stop_event = threading.Event()  # set: the fault thread stops waiting
    try:
        check_ruleset(a, logdir)
        for i in range(a.nodes):
            port = free_port()
            argv_i, url = node_argv(a, i, port)
            cluster.nodes.append(Node(cluster, f"n{i + 1}", argv_i, url, logdir))
        # Nodes start one after the other: the first creates the tables.
        for n in cluster.nodes:
            n.start(a.start_timeout)
            log(f"{n.name} listening on {n.url}")
        ecis = setup(a, cluster)
        stats.record(picos=ecis, nodes={n.name: n.url for n in cluster.nodes})
        log(
            f"{len(ecis)} picos with {RID}; load from {a.clients} clients for {a.duration} s, fault {a.fault}"
        )

        t0 = time.monotonic()
        stats.t0 = t0
        deadline = t0 + a.duration
        clients = [Client(f"c{k}", a, cluster, ecis, stats, deadline) for k in range(a.clients)]
        for c in clients:
            c.start()
        fault_thread = None
        fault_failure = []
        probers = []

        def on_fault():
            # The fault's time, and one prober per pico from then on.
            with stats.lock:
                stats.fault_at = time.monotonic()
            report["fault_at_s"] = round(stats.fault_at - t0, 1)
            for p in range(a.picos):
                probe = Client(
                    f"probe{p}", a, cluster, ecis, stats, deadline, pico=p, timeout=a.probe_timeout
                )
                probe.start()
                probers.append(probe)

        if a.fault != "none":

            def run_fault():
                try:
                    inject(a, cluster, t0, report, stop_event, on_fault)
                except Exception as e:
                    fault_failure.append(repr(e))

            fault_thread = threading.Thread(target=run_fault, name="fault", daemon=True)
            fault_thread.start()
        # Clients end at the deadline, plus the time their last event may
        # take (resends included).
        join_limit = a.duration + a.event_deadline + a.request_timeout + 30
        for c in clients:
            c.join(max(0.0, t0 + join_limit - time.monotonic()))
        stuck = [c.name for c in clients if c.is_alive()]
        if fault_thread is not None:
            fault_thread.join(max(0.0, a.stop_seconds + a.failover_timeout + a.start_timeout + 60))
            if fault_thread.is_alive():
                stuck.append("fault")
        # Probers end at the deadline too, or with their last try.
        for c in probers:
            c.join(max(0.0, deadline + a.probe_timeout + a.max_backoff + 10 - time.monotonic()))
        stuck += [c.name for c in probers if c.is_alive()]
        clients += probers
        elapsed = time.monotonic() - t0
        if stuck:
            raise SetupError(f"threads still running after their time limit: {stuck}")
        failures = [f"{c.name}: {c.failure}" for c in clients if c.failure] + fault_failure
        if failures:
            raise SetupError("; ".join(failures))
        if "fault_error" in report:
            raise SetupError(report["fault_error"])
        for n in cluster.nodes:
            if not n.alive():
                raise SetupError(f"{n.name} is not running at the end (log: {n.log_path}):\n{n.tail()}")

        checked = verify(a, cluster, ecis, stats)
        lat = sorted(stats.latencies)
        acked = sum(len(s) for s in stats.acked.values())
        recovery = None
        if stats.fault_at is not None and len(stats.recovered) == a.picos:
            recovery = round(max(stats.recovered.values()) - stats.fault_at, 2)
        summary = {
            "fault": a.fault,
            "idempotency_key": not a.no_key,
            "nodes": a.nodes,
            "store": "postgres" if a.store else "sled",
            "picos": a.picos,
            "clients": a.clients,
            "duration_s": round(elapsed, 1),
            "events_sent": stats.sent,
            "events_acked": acked,
            "resends": stats.resends,
            "given_up": len(stats.given_up),
            "rejected": len(stats.rejected),
            "lost": len(checked["lost"]),
            "duplicates": len(checked["duplicates"]),
            "count_mismatch": len(checked["count_mismatch"]),
            "applied_unacked": checked["applied_unacked"],
            "eid_mismatch": len(stats.eid_mismatch),
            "recovery_s": recovery,
            "events_per_s": round(acked / elapsed, 1) if elapsed > 0 else None,
            "latency_ms": {
                "p50": round(percentile(lat, 0.50) * 1000, 1) if lat else None,
                "p99": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
                "max": round(lat[-1] * 1000, 1) if lat else None,
            },
            "errors": stats.errors,
        }
        summary.update(report)
        if stats.fault_at is not None:
            # When each pico was served again, in seconds after the fault.
            summary["recovery_by_pico_s"] = sorted(
                round(t - stats.fault_at, 1) for t in stats.recovered.values()
            )
        last = max(stats.per_second, default=-1)
        summary["acked_per_second"] = [stats.per_second.get(i, 0) for i in range(last + 1)]
        wrong = checked["lost"] or checked["duplicates"] or checked["count_mismatch"] or stats.eid_mismatch
        unavailable = stats.given_up or stats.rejected or (a.fault != "none" and recovery is None)
        for eid in checked["lost"][:10]:
            node, at, tries = stats.ack_info.get(eid, ("?", "?", "?"))
            log(
                f"LOST: {eid} was acknowledged (by {node} at {at} s, try {tries}) "
                "but is not in its pico's seen"
            )
        for eid, count in checked["duplicates"][:10]:
            log(f"DUPLICATE: {eid} applied {count} times")
        for eci, n, seen in checked["count_mismatch"][:10]:
            log(f"COUNT: pico {eci} has n = {n} but {seen} eids in seen")
        for eid, got in stats.eid_mismatch[:10]:
            log(f"EID: the answer to {eid} names {got}")
        for p, eid, why in stats.given_up[:10]:
            log(
                f"GIVEN UP: {eid} (pico {p}) after {a.tries} tries or {a.event_deadline} s: {why[0]} {why[1]}"
            )
        for p, eid, status, body in stats.rejected[:10]:
            log(f"REJECTED: {eid} (pico {p}): {status} {body}")
        if checked["unknown"]:
            log(f"note: {len(checked['unknown'])} eids in seen are from an earlier run on the same data")
        if a.fault != "none" and recovery is None:
            log(
                f"NOT RECOVERED: {len(stats.recovered)} of {a.picos} picos acknowledged an event sent after the fault"
            )
        summary["ok"] = not wrong and not unavailable
        if not summary["ok"]:
            # What each pico held at the end, for a look at what went wrong.
            with open(os.path.join(logdir, "states.json"), "w") as f:
                json.dump(checked["states"], f)
        print(json.dumps(summary), flush=True)
        code = EXIT_WRONG if wrong else EXIT_UNAVAILABLE if unavailable else EXIT_OK
    except SetupError as e:
        log(f"error: {e}")
        code = EXIT_SETUP
    finally:
        stop_event.set()
        cluster.stop_all()
        if stats.trace is not None:
            stats.trace.close()
        if code == EXIT_OK and own_logs:
            for f in os.listdir(logdir):
                os.remove(os.path.join(logdir, f))
            os.rmdir(logdir)
        else:
            log(f"logs: {logdir}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
