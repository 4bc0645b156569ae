#!/usr/bin/env python3
"""The Pico Engine's developer UI, unmodified, on krl, in headless Chromium.

Usage: tests/pico-engine/ui.py PICO_ENGINE_REPO [KRL_BINARY] [SCREENSHOT_DIR]

Starts `krl serve --pico-engine REPO/packages/pico-engine` (see
wrangler.py), makes a child "Alice" through wrangler, and drives Chromium
(Debian's `chromium` and `chromium-driver`) over the W3C WebDriver protocol:
sees that without logging in the UI gets no root channel, logs in at
/login (the HttpOnly `krl_admin` cookie), sees the root and Alice as boxes, opens Alice, installs a ruleset
by file URL on her Rulesets tab and sees it listed, and on her Testing tab
sends `say:hello` from the form the UI builds from `__testing` and sees the
directive. Screenshots of each page go to SCREENSHOT_DIR (default
target/pico-engine-ui). docs/pico-engine.md.
"""
import base64, json, os, socket, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrangler import Engine, HELLO, wait, ok, free_port  # noqa: E402

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class Browser:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait("chromedriver", lambda: self._up())
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def _up(self):
        try:
            urllib.request.urlopen(self.base + "/status", timeout=2)
            return True
        except Exception:
            return False

    def call(self, method, path, body=None):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read().decode())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.read().decode()}")

    def s(self, path):
        return f"/session/{self.sid}{path}"

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def find(self, css=None, xpath=None, limit=30):
        using, value = ("css selector", css) if css else ("xpath", xpath)

        def look():
            found = self.call("POST", self.s("/elements"), {"using": using, "value": value})
            return found[0][ELEMENT] if found else None
        return wait(f"element {value}", look, limit)

    def click(self, el):
        self.call("POST", self.s(f"/element/{el}/click"))

    def type(self, el, text):
        self.call("POST", self.s(f"/element/{el}/value"), {"text": text})

    def text(self, el):
        return self.call("GET", self.s(f"/element/{el}/text"))

    def page_text(self):
        return self.text(self.find(css="body"))

    def shot(self, path):
        png = self.call("GET", self.s("/screenshot"))
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))

    def quit(self):
        try:
            self.call("DELETE", self.s(""))
        finally:
            self.proc.terminate()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = os.path.abspath(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else "krl"
    shots = sys.argv[3] if len(sys.argv) > 3 else "target/pico-engine-ui"
    os.makedirs(shots, exist_ok=True)
    e = Engine(repo, binary)
    b = None
    try:
        e.event(e.root_eci, "wrangler", "new_child_request", {"name": "Alice"})
        b = Browser()
        # Without the admin cookie the UI gets no root channel.
        b.go(e.base + "/")
        b.find(xpath="//*[contains(text(),'admin token')]")
        ok("without logging in, the UI gets no root channel")
        # /login sets the HttpOnly krl_admin cookie and comes back to /.
        b.go(e.base + "/login?next=/")
        b.type(b.find(css="input[name='token']"), "secret")
        b.click(b.find(css="button[type='submit'], input[type='submit']"))
        b.find(xpath="//a[contains(@class,'pico-name-open-btn') and normalize-space()='Pico']")
        alice = b.find(xpath="//a[contains(@class,'pico-name-open-btn') and normalize-space()='Alice']")
        b.shot(os.path.join(shots, "1-picos.png"))
        ok("the root and its child Alice show as boxes")

        b.click(alice)
        b.click(b.find(xpath="//a[contains(@class,'nav-link') and normalize-space()='Rulesets']"))
        hello = os.path.join(e.data, "hello.krl")
        with open(hello, "w") as f:
            f.write(HELLO)
        b.type(b.find(css="#new-rs-url"), "file://" + hello)
        b.click(b.find(xpath="//button[@type='submit' and contains(normalize-space(),'Install')]"))
        b.find(xpath="//*[contains(text(),'hello.world')]")
        b.shot(os.path.join(shots, "2-rulesets.png"))
        ok("a ruleset installs by URL from the Rulesets tab")

        # a channel the Testing tab can use for any event (the UI's own
        # channel admits only the UI's events)
        ui = [c for c in e.query(e.call("/api/ui-context", token=True)["eci"],
                                 "io.picolabs.pico-engine-ui", "box")["children"]][0]
        e.event(ui, "engine_ui", "new_channel", {
            "tags": ["testing"],
            "eventPolicy": {"allow": [{"domain": "*", "name": "*"}], "deny": []},
            "queryPolicy": {"allow": [{"rid": "*", "name": "*"}], "deny": []}})
        b.click(b.find(xpath="//a[contains(@class,'nav-link') and normalize-space()='Testing']"))
        b.click(b.find(xpath="//option[contains(normalize-space(),'#testing')]"))
        b.click(b.find(css="input[id='rid-hello.world']"))
        b.type(b.find(xpath="//form[.//button[normalize-space()='say:hello']]//input[@name='name']"), "Ann")
        b.click(b.find(xpath="//button[normalize-space()='say:hello']"))
        pre = b.find(xpath="//pre[contains(.,'Hello Ann')]")
        result = b.text(pre)
        assert '"something": "Hello Ann"' in result, result
        b.shot(os.path.join(shots, "3-testing.png"))
        ok("the Testing tab sends say:hello and shows the directive")
    except BaseException:
        if b:
            b.shot(os.path.join(shots, "failed.png"))
            print(f"failed; the page is in {shots}/failed.png", file=sys.stderr)
        raise
    finally:
        if b:
            b.quit()
        e.stop()
    print(f"all steps passed; screenshots in {shots}")


if __name__ == "__main__":
    main()
