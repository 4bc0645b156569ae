//! Twilio's side, as the tests play it: webhooks signed as Twilio signs
//! them (docs/spec/twilio.md 3.1), and a fake of its REST API
//! (`--twilio-api-url`) that records what the engine sends.
//!
//! [`signature`] is the tests' one signer; it is written here from the
//! documented algorithm, not taken from the engine, so that the tests
//! check the engine against the specification.

use crate::fake_http::{form_encode, Fake, Reply, Request};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::blocking::{Client, Response};
use serde_json::json;
use sha1::Sha1;
use std::collections::VecDeque;
use std::sync::Mutex;

/// `X-Twilio-Signature` of a request to `url` with the form `params`
/// (docs/spec/twilio.md 3.1): base64 of the HMAC-SHA1, keyed by the auth
/// token, of the URL followed by each parameter name and its distinct
/// values, names and values sorted. A GET, or a body that is not a form:
/// no `params`.
pub fn signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header the engine sends Twilio's REST API:
/// `Basic base64(ACCOUNT_SID:AUTH_TOKEN)`.
pub fn basic_auth(account_sid: &str, token: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{token}"));
    format!("Basic {encoded}")
}

/// POSTs the form `params` to `url` as Twilio posts a webhook, with
/// `signature` as `X-Twilio-Signature` when given.
pub fn post(url: &str, params: &[(&str, &str)], signature: Option<&str>) -> Response {
    let mut req = Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "TwilioProxy/1.1")
        .body(form_encode(params));
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().expect("posting a webhook")
}

/// [`post`], signed with `token` over `signed_url`: the URL Twilio
/// believes it requests (the engine's `--public-url` and the path), which
/// is `url` itself when the engine has no public URL.
pub fn post_signed(url: &str, signed_url: &str, token: &str, params: &[(&str, &str)]) -> Response {
    post(url, params, Some(&signature(token, signed_url, params)))
}

/// [`post_signed`]: status and body.
pub fn webhook(url: &str, signed_url: &str, token: &str, params: &[(&str, &str)]) -> (u16, String) {
    let res = post_signed(url, signed_url, token, params);
    let status = res.status().as_u16();
    (status, res.text().expect("reading the answer"))
}

/// A fake of Twilio's REST API on 127.0.0.1 that records each request.
/// Its script's replies come first, one a request; then it answers as
/// Twilio does: a new call (`.../Calls.json`) 201 with a fresh `CA...`
/// sid, a call update (`.../Calls/CA....json`) 200 with the call, a
/// message (`.../Messages.json`, or anything else) 201 with a fresh
/// `SM...` sid (the number: how many requests it has received). Under
/// `/twiml` it is another TwiML application instead (`<Say>Another system
/// answers.</Say><Hangup/>`), for redirects elsewhere.
pub struct FakeApi {
    fake: Fake,
}

impl FakeApi {
    /// Starts it on a free port.
    pub fn start() -> FakeApi {
        FakeApi::scripted(Vec::new())
    }

    /// Starts it on a free port with `script`.
    pub fn scripted(script: Vec<Reply>) -> FakeApi {
        FakeApi::start_on(0, script)
    }

    /// Starts it on `port` (0: a free one) with `script`.
    pub fn start_on(port: u16, script: Vec<Reply>) -> FakeApi {
        let script = Mutex::new(VecDeque::from(script));
        let fake = Fake::start_on(port, move |req, n| {
            if req.target.starts_with("/twiml") {
                return Reply::text(
                    200,
                    "text/xml",
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <Response><Say>Another system answers.</Say><Hangup/></Response>",
                );
            }
            if let Some(reply) = script.lock().unwrap().pop_front() {
                return reply;
            }
            as_twilio(req, n)
        });
        FakeApi { fake }
    }

    /// Its base URL (`--twilio-api-url`).
    pub fn url(&self) -> String {
        self.fake.url()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.fake.port()
    }

    /// The REST requests so far (not the `/twiml` ones).
    pub fn seen(&self) -> Vec<Request> {
        self.fake
            .seen()
            .into_iter()
            .filter(|r| !r.target.starts_with("/twiml"))
            .collect()
    }

    /// The messages sent so far (`.../Messages.json`).
    pub fn messages(&self) -> Vec<Request> {
        self.seen()
            .into_iter()
            .filter(|r| r.path().ends_with("/Messages.json"))
            .collect()
    }
}

/// Twilio's answer to the `n`th request, `req`.
fn as_twilio(req: &Request, n: usize) -> Reply {
    let path = req.path();
    if path.ends_with("/Calls.json") {
        return Reply::json(
            201,
            &json!({"sid": format!("CA{n:032}"), "status": "queued"}),
        );
    }
    // .../Accounts/AC.../Calls/CA....json: an update of a live call
    let parts: Vec<&str> = path.split('/').collect();
    if let [.., "Accounts", account, "Calls", call] = parts[..] {
        let sid = call.trim_end_matches(".json");
        return Reply::json(
            200,
            &json!({"sid": sid, "status": "in-progress", "account_sid": account}),
        );
    }
    Reply::json(
        201,
        &json!({"sid": format!("SM{n:032}"), "status": "queued"}),
    )
}
