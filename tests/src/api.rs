//! An HTTP client for the admin API and the Sky routes of one running
//! `krl serve`, and small helpers.

use crate::{ScratchDir, Server};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The admin token the tests give `krl serve`.
pub const TOKEN: &str = "test-token";

/// Status and body (JSON when it parses, else a JSON string).
pub fn read(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().expect("reading the body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Sends and reads.
pub fn send(req: RequestBuilder) -> (u16, Value) {
    read(req.send().expect("sending the request"))
}

/// A JSON string's text (panics on anything else).
pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// A server on port 0 with a fresh data folder and the admin token
/// [`TOKEN`], plus `args`.
pub fn server(name: &str, args: &[&str]) -> (ScratchDir, Server) {
    let dir = ScratchDir::new(name);
    let mut all = vec!["--admin-token", TOKEN];
    all.extend_from_slice(args);
    let s = Server::start(&dir.path().join("data"), &all);
    (dir, s)
}

/// A server on port 0 on the data folder `data` (kept across restarts),
/// with the admin token [`TOKEN`], plus `args`.
pub fn server_at(data: &std::path::Path, args: &[&str]) -> Server {
    let mut all = vec!["--admin-token", TOKEN];
    all.extend_from_slice(args);
    Server::start(data, &all)
}

/// Waits (at most `limit`) until `f` answers `Some`: a condition, not a
/// guessed delay. Panics with `what` on time-out.
pub fn wait_for<T>(what: &str, limit: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll(limit, f).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Asks `f` every 20 ms until it answers `Some` (that answer) or `limit`
/// has passed (`None`).
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The admin API and the Sky routes of one server.
pub struct Api<'a> {
    /// The server.
    pub s: &'a Server,
    c: Client,
    /// The next node to ask (a cluster's nodes in turn).
    next: std::sync::atomic::AtomicUsize,
}

impl<'a> Api<'a> {
    /// A client of `s`.
    pub fn new(s: &'a Server) -> Api<'a> {
        Api {
            s,
            c: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The URL of the node to send the next request to: the server's, or
    /// with a cluster ([`crate::cluster_url`]) each node in turn.
    pub fn base(&self) -> &str {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.s.urls[n % self.s.urls.len()]
    }

    /// `GET` an admin path.
    pub fn get(&self, path: &str) -> (u16, Value) {
        send(
            self.c
                .get(format!("{}{path}", self.base()))
                .bearer_auth(&self.s.admin_token),
        )
    }

    /// `POST` JSON to an admin path.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(
            self.c
                .post(format!("{}{path}", self.base()))
                .bearer_auth(&self.s.admin_token)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// `DELETE` an admin path.
    pub fn delete(&self, path: &str) -> (u16, Value) {
        send(
            self.c
                .delete(format!("{}{path}", self.base()))
                .bearer_auth(&self.s.admin_token),
        )
    }

    /// Registers KRL source.
    pub fn register(&self, src: &str) -> (u16, Value) {
        send(
            self.c
                .post(format!("{}/api/rulesets", self.base()))
                .bearer_auth(&self.s.admin_token)
                .header("content-type", "text/plain")
                .body(src.to_string()),
        )
    }

    /// Registers KRL source that must be accepted: its rid.
    pub fn register_ok(&self, src: &str) -> String {
        let (status, body) = self.register(src);
        assert_eq!(status, 200, "{body}");
        str_of(&body["rid"])
    }

    /// Registers `src` (must be accepted) and installs it on a new pico:
    /// (pico id, eci).
    pub fn pico_with(&self, src: &str) -> (String, String) {
        let rid = self.register_ok(src);
        let (pico, eci) = self.new_pico();
        self.install_ok(&pico, &rid);
        (pico, eci)
    }

    /// A new channel of `pico` guarded by the Twilio auth token `token`
    /// (tagged `twilio`): its eci.
    pub fn twilio_channel(&self, pico: &str, token: &str) -> String {
        let (status, ch) = self.post(
            &format!("/api/picos/{pico}/channels"),
            json!({"tags": ["twilio"], "twilio_auth_token": token}),
        );
        assert_eq!(status, 200, "{ch}");
        str_of(&ch["eci"])
    }

    /// A new pico under the root: (id, eci).
    pub fn new_pico(&self) -> (String, String) {
        let (status, body) = self.post("/api/picos", json!({"name": "t"}));
        assert_eq!(status, 200, "{body}");
        (str_of(&body["id"]), str_of(&body["eci"]))
    }

    /// Installs `rid` on `pico`.
    pub fn install(&self, pico: &str, rid: &str) -> (u16, Value) {
        self.post(&format!("/api/picos/{pico}/rulesets"), json!({"rid": rid}))
    }

    /// Installs `rid` on `pico`; must succeed.
    pub fn install_ok(&self, pico: &str, rid: &str) {
        let (status, body) = self.install(pico, rid);
        assert_eq!(status, 200, "install {rid}: {body}");
    }

    /// Raises `domain:kind` with JSON attributes.
    pub fn event(&self, eci: &str, domain: &str, kind: &str, attrs: Value) -> (u16, Value) {
        self.event_with(
            eci,
            domain,
            kind,
            Some(("application/json", &attrs.to_string())),
        )
    }

    /// Raises `domain:kind` with a body of a content type (none: no body).
    pub fn event_with(
        &self,
        eci: &str,
        domain: &str,
        kind: &str,
        body: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let mut req = self.c.post(format!(
            "{}/sky/event/{eci}/none/{domain}/{kind}",
            self.base()
        ));
        if let Some((content_type, body)) = body {
            req = req
                .header("content-type", content_type)
                .body(body.to_string());
        }
        send(req)
    }

    /// A `twilio` event as Twilio posts it, unsigned (a form): status and
    /// body (TwiML).
    pub fn twilio(&self, eci: &str, kind: &str, params: &[(&str, &str)]) -> (u16, String) {
        let url = format!("{}/sky/event/{eci}/none/twilio/{kind}", self.base());
        let res = crate::twilio::post(&url, params, None);
        let status = res.status().as_u16();
        (status, res.text().expect("reading the answer"))
    }

    /// `GET` a path without the admin token (a Sky query with its
    /// arguments in the query string, a static file, ...).
    pub fn get_public(&self, path: &str) -> (u16, Value) {
        send(self.c.get(format!("{}{path}", self.base())))
    }

    /// Calls `rid/function` with JSON arguments.
    pub fn query(&self, eci: &str, rid: &str, function: &str, args: Value) -> (u16, Value) {
        self.try_query(eci, rid, function, args)
            .expect("sending the request")
    }

    /// [`Api::query`], answering the client's error (a time-out, ...)
    /// instead of panicking on it.
    pub fn try_query(
        &self,
        eci: &str,
        rid: &str,
        function: &str,
        args: Value,
    ) -> reqwest::Result<(u16, Value)> {
        self.c
            .post(format!("{}/sky/cloud/{eci}/{rid}/{function}", self.base()))
            .header("content-type", "application/json")
            .body(args.to_string())
            .send()
            .map(read)
    }
}
