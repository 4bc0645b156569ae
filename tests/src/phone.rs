//! What the seed scenario tests share (`scenario_phone_tree.rs`,
//! `scenario_ivr.rs`, `scenario_hello_monkey.rs`): a phone line (a pico
//! with a shipped ruleset and a channel guarded by a Twilio auth token),
//! calls and texts through the `krl call` / `krl sms` binaries signed over
//! the public URL, the transcript in short form, and a fake of Twilio's
//! REST API that records what the outbox sends.

use crate::api::{str_of, Api};
use crate::fake_http::{read_request, write_response};
use crate::{krl, workspace_root, Server};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What Twilio believes the engine's address is (behind a TLS proxy).
pub const PUBLIC: &str = "https://ivr.example.test";
/// The Twilio auth token of the lines' channels.
pub const AUTH: &str = "5c1b0f1e2d3c4b5a69788796a5b4c3d2";

/// `krl serve` flags every scenario server gets.
pub fn serve_args<'a>(more: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--public-url", PUBLIC];
    v.extend_from_slice(more);
    v
}

/// Registers `rulesets/<file>` (once per server is enough; again is harmless).
pub fn register(api: &Api, file: &str) -> String {
    let path = workspace_root().join("rulesets").join(file);
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (status, body) = api.register(&src);
    assert_eq!(status, 200, "registering {file}: {body}");
    str_of(&body["rid"])
}

/// Installs `rid` with `config` on a new pico: the admin API's answer.
pub fn try_line(api: &Api, rid: &str, config: Value) -> (u16, Value, String) {
    let (pico, _) = api.new_pico();
    let (status, body) = api.post(
        &format!("/api/picos/{pico}/rulesets"),
        json!({"rid": rid, "config": config}),
    );
    (status, body, pico)
}

/// A phone line: a new pico with `rid` installed with `config`, and the
/// eci of a channel of it guarded by [`AUTH`] (the one Twilio calls).
pub fn line(api: &Api, rid: &str, config: Value) -> String {
    line_and_pico(api, rid, config).0
}

/// [`line`], and the pico's id.
pub fn line_and_pico(api: &Api, rid: &str, config: Value) -> (String, String) {
    let (status, body, pico) = try_line(api, rid, config);
    assert_eq!(status, 200, "install {rid}: {body}");
    let (status, ch) = api.post(
        &format!("/api/picos/{pico}/channels"),
        json!({"tags": ["twilio"], "twilio_auth_token": AUTH}),
    );
    assert_eq!(status, 200, "{ch}");
    (str_of(&ch["eci"]), pico)
}

/// The pico's first (system) channel, unguarded: for queries.
pub fn system_eci(api: &Api, pico: &str) -> String {
    let (status, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(status, 200, "{info}");
    str_of(&info["channels"][0])
}

/// One call through `krl call ECI --json` with `args` (e.g. `--digits`,
/// `--from`, `--dial-status`), signed with [`AUTH`] over [`PUBLIC`]; must
/// run to its end. The transcript's JSON lines.
pub fn call(s: &Server, eci: &str, args: &[&str]) -> Vec<Value> {
    let out = krl()
        .args(["call", eci, "--json", "--auth-token", AUTH])
        .args(["--url", &s.url, "--public-url", PUBLIC])
        .args(args)
        .env_remove("KRL_URL")
        .output()
        .expect("running krl call");
    assert!(
        out.status.success(),
        "krl call {eci} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Several calls at once (one `krl call` process each), in order of `calls`.
pub fn calls(s: &Server, calls: &[(&str, Vec<&str>)]) -> Vec<Vec<Value>> {
    std::thread::scope(|scope| {
        let running: Vec<_> = calls
            .iter()
            .map(|(eci, args)| scope.spawn(move || call(s, eci, args)))
            .collect();
        running.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The call as heard: `say: text`, `play: url`, `pause: 2`, `gather`,
/// `digits: 1`, `no input`, `dial: +1555...`, `record`, `redirect: URL`,
/// `hangup`, `end`. Requests and the summary are left out.
pub fn heard(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let verb = l.get("verb")?.as_str()?;
            Some(match l.get("text").and_then(Value::as_str) {
                Some(t) => format!("{verb}: {}", short(t)),
                None => verb.to_string(),
            })
        })
        .collect()
}

/// The event of each request, `twilio/` and what follows it (`inbound_call`,
/// `ivr_menu?loop=2`, ...).
pub fn requests(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.get("request")?.as_str().map(short))
        .collect()
}

/// A callback URL of the engine without its base: `twilio/TYPE?QUERY`.
pub fn short(url: &str) -> String {
    match url.find("/none/twilio/") {
        Some(i) if url.contains("/sky/event/") => format!("twilio/{}", &url[i + 13..]),
        _ => url.to_string(),
    }
}

/// The attributes of the first verb `verb` of the transcript.
pub fn attrs_of<'a>(lines: &'a [Value], verb: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["verb"] == verb)
        .map(|l| &l["attrs"])
        .unwrap_or_else(|| panic!("no {verb} in {lines:?}"))
}

/// One text through `krl sms ECI BODY`: the `<Message>` replies.
pub fn sms(s: &Server, eci: &str, body: &str, from: &str) -> Vec<String> {
    let out = krl()
        .args(["sms", eci, body, "--from", from, "--auth-token", AUTH])
        .args(["--url", &s.url, "--public-url", PUBLIC])
        .env_remove("KRL_URL")
        .output()
        .expect("running krl sms");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A request the fake Twilio API received: path, Authorization header,
/// form fields.
#[derive(Clone, Debug)]
pub struct Sent {
    /// `/2010-04-01/Accounts/AC.../Messages.json`
    pub path: String,
    /// `Basic ...`
    pub auth: String,
    /// The form, in order.
    pub form: Vec<(String, String)>,
}

impl Sent {
    /// The form field `name`.
    pub fn field(&self, name: &str) -> &str {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.form))
    }
}

/// A fake of Twilio's REST API on 127.0.0.1: records each request and
/// answers 201 with a fresh `SM...` sid, as Twilio does; under `/twiml`
/// it is another TwiML application instead (`<Say>Another system
/// answers.</Say><Hangup/>`).
pub struct FakeTwilio {
    port: u16,
    seen: Arc<Mutex<Vec<Sent>>>,
}

impl FakeTwilio {
    /// Starts it on a free port.
    pub fn start() -> FakeTwilio {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake");
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, &log);
                });
            }
        });
        FakeTwilio { port, seen }
    }

    /// Its base URL (`--twilio-api-url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The REST requests it received so far (not the `/twiml` ones).
    pub fn sent(&self) -> Vec<Sent> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| !s.path.starts_with("/twiml"))
            .cloned()
            .collect()
    }
}

fn answer(stream: std::net::TcpStream, log: &Mutex<Vec<Sent>>) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    let path = req.target.clone();
    let n = {
        let mut l = log.lock().unwrap();
        l.push(Sent {
            path: path.clone(),
            auth: req.header("authorization").unwrap_or("").to_string(),
            form: req.form(),
        });
        l.len()
    };
    // Another TwiML application (an IVR's redirect elsewhere), or the API.
    if path.starts_with("/twiml") {
        let twiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <Response><Say>Another system answers.</Say><Hangup/></Response>";
        write_response(&stream, "200 OK", "text/xml", &[], twiml)
    } else {
        let sid = json!({"sid": format!("SM{n:032}"), "status": "queued"});
        write_response(
            &stream,
            "201 Created",
            "application/json",
            &[],
            &sid.to_string(),
        )
    }
}
