#!/usr/bin/env python3
"""Set-up and check for the TwiML webhook benchmark (bench/twiml.sh),
through the admin API and the Sky routes of a running `krl serve`.
Python standard library only; the HTTP client and the result tables are
bench/load.py's.

    twiml.py body   BODY_FILE
    twiml.py setup  URL TOKEN N ECIS_FILE BODY_FILE [--auth AUTH_TOKEN]
    twiml.py verify URL COUNTS_FILE... [--auth AUTH_TOKEN]

`body` writes the form body of the benchmark's webhook: the parameters
Twilio sends with a ringing inbound call (twilio.md 1.3), fixed.

`setup` registers bench/twiml.krl and makes N picos with bench.twiml
installed (one `POST /api/picos` each, with "rulesets"). ECIS_FILE gets
"ECI SIGNATURE" a line: with --auth, the X-Twilio-Signature of the
webhook to that ECI, computed as Twilio does (twilio.md 3.1) over URL
(the engine's public URL: the default, its listening URL) + the path +
the sorted parameters of BODY_FILE; without, "-" (unsigned).

`verify` checks, as load.py does, that every pico's counter (a signed
query with --auth) lies between what wrk saw acknowledged and what it
sent. Prints one JSON line; exits 1 on a mismatch.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import load  # noqa: E402  (bench/load.py: Client, run_parallel)

RID = "bench.twiml"
PARAMS = [
    ("AccountSid", "AC00000000000000000000000000bench"),
    ("ApiVersion", "2010-04-01"),
    ("CallSid", "CA000000000000000000000000000bench"),
    ("CallStatus", "ringing"),
    ("Called", "+15005550006"),
    ("CalledCountry", "US"),
    ("Caller", "+18015552311"),
    ("CallerCountry", "US"),
    ("Direction", "inbound"),
    ("From", "+18015552311"),
    ("FromCity", "SALT LAKE CITY"),
    ("FromState", "UT"),
    ("To", "+15005550006"),
    ("ToCountry", "US"),
]


def signature(token, url, params):
    """base64(HMAC-SHA1(token, url + sorted names and values))."""
    data = url + "".join(k + v for k, v in sorted(params))
    mac = hmac.new(token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def read_params(body_file):
    with open(body_file) as f:
        return urllib.parse.parse_qsl(f.read(), keep_blank_values=True)


class Signed(load.Client):
    """A keep-alive client whose GETs carry X-Twilio-Signature."""

    def __init__(self, url, auth):
        super().__init__(url)
        self.public = url.rstrip("/")
        self.auth = auth

    def get(self, path):
        headers = {}
        if self.auth:
            headers["X-Twilio-Signature"] = signature(self.auth, self.public + path, [])
        for attempt in range(3):
            if self.conn is None:
                self.conn = load.http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request("GET", path, headers=headers)
                res = self.conn.getresponse()
                data = res.read()
                break
            except (ConnectionError, load.http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if res.status != 200:
            raise RuntimeError(f"GET {path}: {res.status} {data[:200]!r}")
        return json.loads(data)


def setup(url, token, n, ecis_file, body_file, auth, workers):
    admin = load.Client(url, token)
    with open(os.path.join(HERE, "twiml.krl"), "rb") as f:
        admin.call("POST", "/api/rulesets", f.read(), "text/plain")
    t0 = time.monotonic()
    picos = load.run_parallel(
        range(n), workers, lambda: load.Client(url, token),
        lambda c, i: c.call("POST", "/api/picos",
                            {"name": f"line{i}", "rulesets": [{"rid": RID}]}))
    took = time.monotonic() - t0
    params = read_params(body_file)
    public = url.rstrip("/")
    with open(ecis_file, "w") as f:
        for p in picos:
            eci = p["eci"]
            path = f"/sky/event/{eci}/none/twilio/inbound_call"
            sig = signature(auth, public + path, params) if auth else "-"
            f.write(f"{eci} {sig}\n")
    print(json.dumps({"picos": len(picos), "requested": n, "stopped_early": False,
                      "fanout": 0, "create_s": round(took, 2), "create_per_s":
                      round(len(picos) / took, 1) if took else None,
                      "create_per_s_first": None, "create_per_s_last": None,
                      "install_s": 0.0, "install_per_s": None, "signed": bool(auth)}))


def verify(url, counts_files, auth, workers):
    issued, acked = {}, {}
    for path in counts_files:
        with open(path) as f:
            for line in f:
                eci, i, a = line.split()
                issued[eci] = issued.get(eci, 0) + int(i)
                acked[eci] = acked.get(eci, 0) + int(a)
    rows = [(eci, issued[eci], acked[eci]) for eci in issued]
    counters = load.run_parallel(
        rows, workers, lambda: Signed(url, auth),
        lambda c, r: c.get(f"/sky/cloud/{r[0]}/{RID}/n"))
    bad = [(r, n) for r, n in zip(rows, counters) if not (r[2] <= n <= r[1])]
    out = {
        "ok": not bad,
        "picos_checked": len(rows),
        "sent_total": sum(r[1] for r in rows),
        "acked_total": sum(r[2] for r in rows),
        "counted": sum(counters),
        "mismatches": len(bad),
        "examples": [{"eci": r[0], "issued": r[1], "acked": r[2], "counter": n}
                     for r, n in bad[:5]],
    }
    print(json.dumps(out))
    return 0 if out["ok"] else 1


def main(argv):
    auth = None
    if "--auth" in argv:
        i = argv.index("--auth")
        auth = argv[i + 1]
        del argv[i:i + 2]
    workers = 16
    if len(argv) == 3 and argv[1] == "body":
        with open(argv[2], "w") as f:
            f.write(urllib.parse.urlencode(PARAMS))
        return 0
    if len(argv) == 7 and argv[1] == "setup":
        setup(argv[2], argv[3], int(argv[4]), argv[5], argv[6], auth, workers)
        return 0
    if len(argv) >= 4 and argv[1] == "verify":
        return verify(argv[2], argv[3:], auth, workers)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
