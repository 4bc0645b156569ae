//! A small W3C WebDriver client over HTTP (reqwest and serde_json): it
//! starts `chromedriver` on a free port and drives a headless Chromium
//! through it, for the console's browser tests
//! (tests/tests/e2e/console_browser.rs). Only what those tests need:
//! navigate, find, click, type, read text, run a script, screenshots.
//!
//! Chromium and chromedriver are Debian's `chromium` and
//! `chromium-driver` (`.ci/run` installs them when missing);
//! [`Browser::available`] says whether they are here, `KRL_CHROMIUM` and
//! `KRL_CHROMEDRIVER` override their paths.

use crate::free_port;
use base64::Engine as _;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn path_of(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn chromium() -> Option<PathBuf> {
    path_of(
        "KRL_CHROMIUM",
        &[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ],
    )
}

fn chromedriver() -> Option<PathBuf> {
    path_of(
        "KRL_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )
}

/// A headless Chromium driven through chromedriver; both end when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: Client,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Whether Chromium and chromedriver are installed.
    pub fn available() -> bool {
        chromium().is_some() && chromedriver().is_some()
    }

    /// Starts chromedriver and a headless Chromium of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver().expect("chromedriver is installed"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            assert!(Instant::now() < end, "chromedriver not ready within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile =
            std::env::temp_dir().join(format!("krl-chromium-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium().expect("chromium is installed"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    /// A WebDriver command: its `value`; panics on an error answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let res = req.send().map_err(|e| e.to_string())?;
        let status = res.status();
        let v: Value = res.json().map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching the CSS selector, waiting for it (10 s).
    pub fn find(&self, css: &str) -> Element<'_> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.try_call(
                "POST",
                &self.s("/element"),
                Some(json!({"using": "css selector", "value": css})),
            );
            match found {
                Ok(v) => {
                    return Element {
                        browser: self,
                        id: v[ELEMENT]
                            .as_str()
                            .unwrap_or_else(|| panic!("no element id in {v}"))
                            .to_string(),
                    }
                }
                Err(e) if Instant::now() >= end => panic!("no element {css}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Clicks the first element matching `css`. A page that re-renders
    /// (the console refreshes its lists) may replace the element between
    /// the find and the click ("stale element reference"): it is then
    /// found again and clicked, as a person would, for up to 10 s.
    pub fn click(&self, css: &str) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let el = self.find(css);
            match self.try_call("POST", &el.e("/click"), None) {
                Ok(_) => return,
                Err(e) if e.contains("stale element reference") && Instant::now() < end => {}
                Err(e) => panic!("webdriver click {css}: {e}"),
            }
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) and
    /// answers its return value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The page's visible text of the element matching `css` ("" when
    /// there is none).
    pub fn text_of(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits (at most `limit`) until the text of `css` contains `want`;
    /// panics with what it is otherwise.
    pub fn wait_text(&self, css: &str, want: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let t = self.text_of(css);
            if t.contains(want) {
                return t;
            }
            assert!(
                Instant::now() < end,
                "{css} never showed {want:?}; it shows:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `condition` (a script returning a boolean) holds.
    pub fn wait_until(&self, what: &str, condition: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while self.script(condition, json!([])) != json!(true) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes a PNG screenshot of the window to `file`.
    pub fn screenshot(&self, file: &Path) {
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 text"))
            .expect("a base64 PNG");
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("creating the screenshot folder");
        }
        std::fs::write(file, png).expect("writing the screenshot");
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }
}

impl Element<'_> {
    fn e(&self, rest: &str) -> String {
        self.browser.s(&format!("/element/{}{rest}", self.id))
    }

    /// Types `text` into it.
    pub fn send_keys(&self, text: &str) {
        self.browser
            .call("POST", &self.e("/value"), Some(json!({ "text": text })));
    }

    /// Empties it (an input or textarea).
    pub fn clear(&self) {
        self.browser.call("POST", &self.e("/clear"), None);
    }

    /// Its visible text.
    pub fn text(&self) -> String {
        self.browser
            .call("GET", &self.e("/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
