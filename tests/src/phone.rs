//! What the phone tests share (`scenario_*.rs`, `phone*.rs`): a phone
//! line (a pico with a shipped ruleset and a channel guarded by a Twilio
//! auth token), calls and texts through the `krl call` / `krl sms`
//! binaries signed over the public URL, and the transcript in short form.

use crate::api::{str_of, Api};
use crate::{krl, source, Server};
use serde_json::{json, Value};

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
    api.register_ok(&source(&format!("rulesets/{file}")))
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
    (api.twilio_channel(&pico, AUTH), pico)
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
    call_as(s, PUBLIC, AUTH, eci, args)
}

/// [`call`] signed with `auth` over `public` (the server's
/// `--public-url`).
pub fn call_as(s: &Server, public: &str, auth: &str, eci: &str, args: &[&str]) -> Vec<Value> {
    let out = krl()
        .args(["call", eci, "--json", "--auth-token", auth])
        .args(["--url", &s.url, "--public-url", public])
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
    transcript(&out.stdout)
}

/// The JSON lines of `krl call --json`'s output.
pub fn transcript(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
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
/// `hangup`, `end`, with the engine's callback URLs in [`short`] form.
/// Requests and the summary are left out.
pub fn heard(lines: &[Value]) -> Vec<String> {
    heard_with(lines, short)
}

/// [`heard`] with every URL in full.
pub fn heard_in_full(lines: &[Value]) -> Vec<String> {
    heard_with(lines, str::to_string)
}

fn heard_with(lines: &[Value], url: fn(&str) -> String) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let verb = l.get("verb")?.as_str()?;
            Some(match l.get("text").and_then(Value::as_str) {
                Some(t) => format!("{verb}: {}", url(t)),
                None => verb.to_string(),
            })
        })
        .collect()
}

/// The event of each request, `twilio/` and what follows it (`inbound_call`,
/// `ivr_menu?loop=2`, ...).
pub fn requests(lines: &[Value]) -> Vec<String> {
    requests_with(lines, short)
}

/// The URL of each request, in full.
pub fn requests_in_full(lines: &[Value]) -> Vec<String> {
    requests_with(lines, str::to_string)
}

fn requests_with(lines: &[Value], url: fn(&str) -> String) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.get("request")?.as_str().map(url))
        .collect()
}

/// Owned strings, to compare with what [`heard`] answers.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
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
