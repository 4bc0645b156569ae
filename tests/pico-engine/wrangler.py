#!/usr/bin/env python3
"""Runs the Pico Engine's own wrangler, subscription and UI rulesets on krl.

Usage: tests/pico-engine/wrangler.py PICO_ENGINE_REPO [KRL_BINARY]

PICO_ENGINE_REPO is a checkout of github.com/Picolab/pico-engine (1.x). The
script starts `krl serve --pico-engine REPO/packages/pico-engine` on a free
port with a fresh data folder, then, as the Pico Engine's UI and wrangler
clients do: makes two children with wrangler:new_child_request, sees them in
wrangler:children, installs a ruleset on one by file URL through
engine_ui:install and calls its query, subscribes the two children
(wrangler:subscription, then wrangler:pending_subscription_approval) and
sees the subscription established on both sides, sends an event across it,
and deletes a child with wrangler:child_deletion_request. Exit status 0 when
every step checked out; each step prints one line. CI has no copy of the
Pico Engine: the same engine features are tested with the project's own KRL
in tests/tests/e2e/family.rs. docs/pico-engine.md.
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

HELLO = """ruleset hello.world {
  meta { shares hello }
  global { hello = function(name) { "Hello " + name } }
  rule say {
    select when say hello
    send_directive("say", {"something": "Hello " + event:attr("name")})
  }
}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Engine:
    def __init__(self, repo, binary):
        self.data = tempfile.mkdtemp(prefix="krl-pe-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
             "--admin-token", "secret", "--no-mqtt",
             "--pico-engine", os.path.join(repo, "packages", "pico-engine")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.root_eci = None
        for line in self.proc.stdout:
            if line.startswith("root_eci "):
                self.root_eci = line.split()[1]
                break
        if not self.root_eci:
            sys.exit("krl did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def call(self, path, attrs=None, token=False):
        data = None if attrs is None else json.dumps(attrs).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        if data:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", "Bearer secret")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                body = r.read().decode()
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            raise SystemExit(f"{path}: HTTP {e.code}: {body}")
        return json.loads(body) if body else None

    def event(self, eci, domain, name, attrs=None):
        return self.call(f"/c/{eci}/event-wait/{domain}/{name}", attrs or {})

    def query(self, eci, rid, name, args=None):
        q = "?" + urllib.parse.urlencode(args) if args else ""
        return self.call(f"/c/{eci}/query/{rid}/{name}{q}")


def wait(what, f, limit=30):
    end = time.time() + limit
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def ok(msg):
    print(f"ok  {msg}", flush=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = os.path.abspath(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else "krl"
    e = Engine(repo, binary)
    try:
        ui = e.call("/api/ui-context", token=True)["eci"]
        ok(f"/api/ui-context answers the root's engine,ui channel {ui}")
        root = e.root_eci
        for name in ["Alice", "Bob"]:
            e.event(root, "wrangler", "new_child_request", {"name": name})
        kids = wait("two children", lambda: (lambda c: c if len(c) == 2 else None)(
            e.query(root, "io.picolabs.wrangler", "children")))
        assert sorted(k["name"] for k in kids) == ["Alice", "Bob"], kids
        ok("wrangler:new_child_request made two children, listed by wrangler:children")
        box = e.query(ui, "io.picolabs.pico-engine-ui", "box")
        child_ui = wait("the children's UI channels", lambda: (
            lambda b: b["children"] if len(b["children"]) == 2 else None)(
            e.query(ui, "io.picolabs.pico-engine-ui", "box")))
        names = {c: e.query(c, "io.picolabs.pico-engine-ui", "name") for c in child_ui}
        a_ui = [c for c, n in names.items() if n == "Alice"][0]
        b_ui = [c for c, n in names.items() if n == "Bob"][0]
        rids = lambda c: [r["rid"] for r in e.query(c, "io.picolabs.pico-engine-ui", "pico")["rulesets"]]
        wait("the children's system rulesets", lambda: all(
            {"io.picolabs.wrangler", "io.picolabs.subscription"} <= set(rids(c)) for c in child_ui))
        ok("each child has its system rulesets (" + ", ".join(rids(a_ui)) + ")")

        hello = os.path.join(e.data, "hello.krl")
        with open(hello, "w") as f:
            f.write(HELLO)
        e.event(a_ui, "engine_ui", "install", {"url": "file://" + hello, "config": {}})
        wait("hello.world on Alice", lambda: "hello.world" in rids(a_ui))
        e.event(a_ui, "engine_ui", "new_channel", {
            "tags": ["testing"],
            "eventPolicy": {"allow": [{"domain": "*", "name": "*"}], "deny": []},
            "queryPolicy": {"allow": [{"rid": "*", "name": "*"}], "deny": []}})
        chans = e.query(a_ui, "io.picolabs.pico-engine-ui", "pico")["channels"]
        testing = [c["id"] for c in chans if c["tags"] == ["testing"]][0]
        answer = e.query(testing, "hello.world", "hello", {"name": "Ann"})
        assert answer == "Hello Ann", answer
        said = e.event(testing, "say", "hello", {"name": "Ann"})
        assert said["directives"][0]["options"] == {"something": "Hello Ann"}, said
        ok("engine_ui:install by file URL installed hello.world; its query and event answer")

        b_rx = e.query(b_ui, "io.picolabs.subscription", "wellKnown_Rx")["id"]
        e.event(a_ui, "wrangler", "subscription", {
            "wellKnown_Tx": b_rx, "Rx_role": "alice", "Tx_role": "bob", "name": "ab", "channel_type": "subscription"})
        inbound = wait("Bob's pending subscription", lambda: e.query(b_ui, "io.picolabs.subscription", "inbound"))
        e.event(b_ui, "wrangler", "pending_subscription_approval", {"Id": inbound[0]["Id"]})
        a_est = wait("Alice's established subscription",
                     lambda: e.query(a_ui, "io.picolabs.subscription", "established"))
        b_est = wait("Bob's established subscription",
                     lambda: e.query(b_ui, "io.picolabs.subscription", "established"))
        assert a_est[0]["Id"] == b_est[0]["Id"], (a_est, b_est)
        ok(f"subscription {a_est[0]['Id']} established on both sides")
        sent = e.call(f"/c/{a_est[0]['Tx']}/event-wait/wrangler/subscription_ping", {})
        assert "eid" in sent, sent
        ok("an event sent across the subscription's channel was accepted by Bob")

        alice = [k for k in kids if k["name"] == "Alice"][0]
        e.event(root, "wrangler", "child_deletion_request", {"eci": alice["eci"]})
        wait("Alice gone", lambda: len(e.query(root, "io.picolabs.wrangler", "children")) == 1)
        ok("wrangler:child_deletion_request deleted Alice with her subtree")
    finally:
        e.stop()
    print("all steps passed")


if __name__ == "__main__":
    main()
