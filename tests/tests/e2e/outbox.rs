//! The durable Twilio outbox through `krl serve` (docs/twilio.md): the
//! seed's `twilio:send_sms` reaches a local fake of Twilio's REST API
//! (`--twilio-api-url`), results come back as `twilio sms_sent` /
//! `sms_failed` events, 500 and 429 are retried (after `Retry-After`), 400
//! is not, and a kill -9 with the API down still delivers exactly once
//! after a restart. `twilio:call` (`call_started` with the new `CallSid`,
//! `call_failed`), MMS (`MediaUrl` fields), and no credentials in the log.

use krl_tests::api::{server, server_at, wait_for, Api};
use krl_tests::fake_http::Reply;
use krl_tests::twilio::{basic_auth, FakeApi};
use krl_tests::{free_port, source, ScratchDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const SID: &str = "ACtest0001";
const AUTH: &str = "sekret-token";
const LIMIT: Duration = Duration::from_secs(30);
const RESULTS_RID: &str = "io.example.outbox_results";
const CALLS_RID: &str = "io.example.outbox_calls";

/// The seed ruleset with real-looking keys.
fn seed() -> String {
    source("engine/lang/tests/fixtures/seed003_twilio_sms.krl")
        .replace("<account SID here>", SID)
        .replace("<auth token here>", AUTH)
}

/// Keeps what the outbox reports.
const RESULTS: &str = r#"ruleset io.example.outbox_results {
  meta { shares sent, failed }
  global {
    sent = function() { ent:sent.defaultsTo([]) }
    failed = function() { ent:failed.defaultsTo([]) }
  }
  rule on_sent {
    select when twilio sms_sent
    always { ent:sent := sent().append([event:attrs]) }
  }
  rule on_failed {
    select when twilio sms_failed
    always { ent:failed := failed().append([event:attrs]) }
  }
}
"#;

/// A pico with the seed and the results ruleset: its eci.
fn setup(api: &Api) -> String {
    api.register_ok(&seed());
    api.register_ok(RESULTS);
    let (pico, eci) = api.new_pico();
    api.install_ok(&pico, "twilio_sms");
    api.install_ok(&pico, RESULTS_RID);
    eci
}

fn notify(api: &Api, eci: &str, to: &str) {
    let (status, body) = api.event(
        eci,
        "notification",
        "status",
        json!({"phone_number": to, "from_number": "+15005550006", "message": "Your order shipped"}),
    );
    assert_eq!(status, 200, "{body}");
}

/// The results ruleset's (or [`calls_ruleset`]'s) list `which`.
fn reports(api: &Api, eci: &str, rid: &str, which: &str) -> Vec<Value> {
    let (status, body) = api.query(eci, rid, which, json!({}));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// [`reports`], once there are some.
fn first_reports(api: &Api, eci: &str, rid: &str, which: &str, what: &str) -> Vec<Value> {
    wait_for(what, LIMIT, || {
        let r = reports(api, eci, rid, which);
        (!r.is_empty()).then_some(r)
    })
}

fn results(api: &Api, eci: &str, which: &str) -> Vec<Value> {
    reports(api, eci, RESULTS_RID, which)
}

/// The one request the fake received: to `.../Accounts/SID/{resource}`,
/// with the test credentials. Its form.
fn only_request(fake: &FakeApi, resource: &str) -> Vec<(String, String)> {
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].target,
        format!("/2010-04-01/Accounts/{SID}/{resource}")
    );
    assert_eq!(seen[0].auth(), basic());
    seen[0].form()
}

fn basic() -> String {
    basic_auth(SID, AUTH)
}

/// A form as pairs of `&str`, to compare.
fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn seed_send_sms_reaches_twilio_and_sms_sent_comes_back() {
    let fake = FakeApi::start();
    let (_dir, s) = server("outbox-ok", &["--twilio-api-url", &fake.url()]);
    let api = Api::new(&s);
    let eci = setup(&api);
    notify(&api, &eci, "+15558675310");
    let sent = first_reports(&api, &eci, RESULTS_RID, "sent", "sms_sent");
    let form = only_request(&fake, "Messages.json");
    assert_eq!(
        pairs(&form),
        vec![
            ("To", "+15558675310"),
            ("From", "+15005550006"),
            ("Body", "Your order shipped")
        ]
    );
    assert_eq!(sent[0]["sid"], json!(format!("SM{:032}", 1)));
    assert_eq!(sent[0]["status"], "queued");
    assert_eq!(sent[0]["to"], "+15558675310");
    // The admin API shows it sent, without the token.
    let (status, list) = api.get("/api/outbox?state=sent");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["sid"], sent[0]["sid"]);
    assert_eq!(list[0]["id"], sent[0]["id"]);
    assert!(!list.to_string().contains(AUTH));
    let (_, queued) = api.get("/api/outbox?state=queued");
    assert_eq!(queued, json!([]));
    let (status, _) = api.get("/api/outbox?state=bogus");
    assert_eq!(status, 400);
}

#[test]
fn server_errors_and_429_are_retried_and_sent_once() {
    // The 429's Retry-After (3 s) is three times the backoff after a
    // first attempt (1 s + up to 10%): the wait shows it was honoured.
    let fake = FakeApi::scripted(vec![
        Reply::json(429, &json!({"code": 20429, "message": "Too many"}))
            .with_header("retry-after", "3"),
        Reply::json(500, &json!({"code": 20500, "message": "Internal"})),
    ]);
    let (_dir, s) = server("outbox-retry", &["--twilio-api-url", &fake.url()]);
    let api = Api::new(&s);
    let eci = setup(&api);
    notify(&api, &eci, "+15558675310");
    let sent = first_reports(&api, &eci, RESULTS_RID, "sent", "sms_sent after retries");
    let seen = fake.seen();
    assert_eq!(seen.len(), 3, "429, 500, then 201");
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_secs(3),
        "the retry after `429 Retry-After: 3` came after {waited:?}"
    );
    assert_eq!(sent.len(), 1);
    let (_, list) = api.get("/api/outbox");
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["state"], "sent");
    // No more requests come.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.seen().len(), 3);
}

#[test]
fn a_400_fails_at_once_with_twilios_code() {
    let fake = FakeApi::scripted(vec![Reply::json(
        400,
        &json!({"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}),
    )]);
    let (_dir, s) = server("outbox-400", &["--twilio-api-url", &fake.url()]);
    let api = Api::new(&s);
    let eci = setup(&api);
    notify(&api, &eci, "+1");
    let failed = first_reports(&api, &eci, RESULTS_RID, "failed", "sms_failed");
    assert_eq!(failed[0]["code"], 21211);
    assert_eq!(failed[0]["message"], "Invalid 'To' Phone Number");
    let (_, list) = api.get("/api/outbox?state=failed");
    assert_eq!(list[0]["error_code"], 21211);
    assert_eq!(list[0]["attempts"], 1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fake.seen().len(), 1, "no retry after a 400");
    assert!(results(&api, &eci, "sent").is_empty());
}

#[test]
fn kill_9_with_the_api_down_then_restart_sends_exactly_once() {
    // A port with nothing behind it (yet).
    let port = free_port();
    let api_url = format!("http://127.0.0.1:{port}");
    let dir = ScratchDir::new("outbox-kill");
    let data = dir.path().join("data");
    let s = server_at(&data, &["--twilio-api-url", &api_url]);
    let eci = {
        let api = Api::new(&s);
        let eci = setup(&api);
        notify(&api, &eci, "+15558675310");
        // At least one attempt failed (connection refused) and is stored.
        wait_for("a failed attempt", LIMIT, || {
            let (_, list) = api.get("/api/outbox?state=queued");
            (list[0]["attempts"].as_u64().unwrap_or(0) >= 1).then_some(())
        });
        eci
    };
    s.kill();
    let fake = FakeApi::start_on(port, vec![]);
    let s = server_at(&data, &["--twilio-api-url", &api_url]);
    let api = Api::new(&s);
    let sent = first_reports(
        &api,
        &eci,
        RESULTS_RID,
        "sent",
        "sms_sent after the restart",
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(fake.seen().len(), 1);
    let (_, list) = api.get("/api/outbox");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["state"], "sent");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.seen().len(), 1, "sent exactly once");
}

#[test]
fn a_hanging_api_times_out_and_is_retried() {
    let fake = FakeApi::scripted(vec![Reply::Hang(Duration::from_secs(4))]);
    let (_dir, s) = server(
        "outbox-hang",
        &["--twilio-api-url", &fake.url(), "--http-timeout", "1"],
    );
    let api = Api::new(&s);
    let eci = setup(&api);
    notify(&api, &eci, "+15558675310");
    let sent = first_reports(&api, &eci, RESULTS_RID, "sent", "sms_sent after a timeout");
    assert_eq!(sent.len(), 1);
    assert_eq!(fake.seen().len(), 2, "the hung request, then the retry");
    let (_, list) = api.get("/api/outbox");
    assert_eq!(list[0]["attempts"], 2);
}

/// Places calls and sends MMS with the test credentials, and keeps what
/// comes back.
fn calls_ruleset() -> String {
    r#"ruleset io.example.outbox_calls {
  meta {
    key twilio {"account_sid": "SID_HERE", "auth_token": "AUTH_HERE"}
    use module a8x115 alias twilio with twiliokeys = keys:twilio()
    shares started, failed, sent
  }
  global {
    started = function() { ent:started.defaultsTo([]) }
    failed = function() { ent:failed.defaultsTo([]) }
    sent = function() { ent:sent.defaultsTo([]) }
  }
  rule place {
    select when office ring
    twilio:call(event:attr("to"), "+15005550006", "answered");
  }
  rule picture {
    select when office picture
    twilio:send_sms(event:attr("to"), "+15005550006", "Look", event:attr("media"));
  }
  rule on_started {
    select when twilio call_started
    always { ent:started := started().append([event:attrs]) }
  }
  rule on_failed {
    select when twilio call_failed
    always { ent:failed := failed().append([event:attrs]) }
  }
  rule on_sent {
    select when twilio sms_sent
    always { ent:sent := sent().append([event:attrs]) }
  }
}
"#
    .replace("SID_HERE", SID)
    .replace("AUTH_HERE", AUTH)
}

const PUBLIC: &str = "https://krl.example.com";

/// A pico with [`calls_ruleset`]: its eci.
fn setup_calls(api: &Api) -> String {
    let (_, eci) = api.pico_with(&calls_ruleset());
    eci
}

fn calls(api: &Api, eci: &str, which: &str) -> Vec<Value> {
    reports(api, eci, CALLS_RID, which)
}

fn ring(api: &Api, eci: &str, to: &str) {
    let (status, body) = api.event(eci, "office", "ring", json!({"to": to}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn twilio_call_posts_to_calls_json_and_call_started_carries_the_call_sid() {
    let fake = FakeApi::start();
    let (_dir, s) = server(
        "outbox-call",
        &["--twilio-api-url", &fake.url(), "--public-url", PUBLIC],
    );
    let api = Api::new(&s);
    let eci = setup_calls(&api);
    ring(&api, &eci, "+15558675310");
    let started = first_reports(&api, &eci, CALLS_RID, "started", "call_started");
    let form = only_request(&fake, "Calls.json");
    // The event type became the channel's event URL under --public-url.
    let url = format!("{PUBLIC}/sky/event/{eci}/none/twilio/answered");
    assert_eq!(
        pairs(&form),
        vec![
            ("To", "+15558675310"),
            ("From", "+15005550006"),
            ("Url", url.as_str())
        ]
    );
    let sid = format!("CA{:032}", 1);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["sid"], json!(sid));
    assert_eq!(started[0]["CallSid"], json!(sid), "{}", started[0]);
    assert_eq!(started[0]["to"], "+15558675310");
    assert_eq!(started[0]["status"], "queued");
    let (_, list) = api.get("/api/outbox");
    assert_eq!(list[0]["action"], "call");
    assert_eq!(list[0]["state"], "sent");
    assert_eq!(list[0]["sid"], json!(sid));
    assert!(calls(&api, &eci, "failed").is_empty());
}

#[test]
fn a_refused_call_raises_call_failed_with_twilios_code_and_is_not_retried() {
    let fake = FakeApi::scripted(vec![Reply::json(
        400,
        &json!({"code": 21215, "message": "Geo Permission not enabled", "status": 400}),
    )]);
    let (_dir, s) = server(
        "outbox-call-400",
        &["--twilio-api-url", &fake.url(), "--public-url", PUBLIC],
    );
    let api = Api::new(&s);
    let eci = setup_calls(&api);
    ring(&api, &eci, "+2125550100");
    let failed = first_reports(&api, &eci, CALLS_RID, "failed", "call_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["code"], 21215);
    assert_eq!(failed[0]["message"], "Geo Permission not enabled");
    assert_eq!(failed[0]["status"], 400);
    assert_eq!(failed[0]["to"], "+2125550100");
    assert!(failed[0].get("CallSid").is_none(), "no call was created");
    let (_, list) = api.get("/api/outbox");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["state"], "failed");
    assert_eq!(list[0]["error_code"], 21215);
    assert_eq!(list[0]["attempts"], 1);
    // Longer than the first backoff (1.1 s at most): no retry comes.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fake.seen().len(), 1, "no retry after a 400");
    assert!(calls(&api, &eci, "started").is_empty());
}

#[test]
fn send_sms_with_media_posts_one_media_url_field_per_url() {
    let fake = FakeApi::start();
    let (_dir, s) = server("outbox-mms", &["--twilio-api-url", &fake.url()]);
    let api = Api::new(&s);
    let eci = setup_calls(&api);
    let media = [
        "https://cdn.example.com/a.jpg",
        "https://cdn.example.com/b.png?size=large&x=1",
    ];
    let (status, body) = api.event(
        &eci,
        "office",
        "picture",
        json!({"to": "+15558675310", "media": media}),
    );
    assert_eq!(status, 200, "{body}");
    let sent = first_reports(&api, &eci, CALLS_RID, "sent", "sms_sent");
    let form = only_request(&fake, "Messages.json");
    assert_eq!(
        pairs(&form),
        vec![
            ("To", "+15558675310"),
            ("From", "+15005550006"),
            ("Body", "Look"),
            ("MediaUrl", media[0]),
            ("MediaUrl", media[1]),
        ]
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["sid"], json!(format!("SM{:032}", 1)));
    assert_eq!(sent[0]["to"], "+15558675310");
}

/// `krl serve` logging everything (`KRL_LOG=trace`, but sled's page cache
/// at `info`) with its stderr in a file (the shared [`krl_tests::Server`]
/// runs at `warn`), killed when dropped.
struct DebugServer {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl DebugServer {
    fn start(dir: &ScratchDir, args: &[&str]) -> DebugServer {
        use std::process::{Command, Stdio};
        let log = dir.path().join("stderr.log");
        let mut child = Command::new(krl_tests::krl_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--no-mqtt", "--data"])
            .arg(dir.path().join("data"))
            .args(["--admin-token", krl_tests::api::TOKEN])
            .args(args)
            .env_remove("KRL_ADMIN_TOKEN")
            .env_remove("KRL_TWILIO_AUTH_TOKEN")
            .env_remove("KRL_TWILIO_ACCOUNT_SID")
            .env("KRL_LOG", "trace,sled=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("creating the log file"))
            .spawn()
            .expect("spawning krl serve");
        // The start-up lines: `listening URL`, `root_eci ECI`.
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut url = None;
        for line in stdout.lines().take(2) {
            let line = line.expect("reading krl serve's stdout");
            if let Some(u) = line.strip_prefix("listening ") {
                url = Some(u.trim().to_string());
            }
        }
        let url = url.unwrap_or_else(|| {
            panic!(
                "no `listening` line; stderr:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        DebugServer { child, url, log }
    }
}

impl Drop for DebugServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn credentials_never_reach_the_log_even_at_trace() {
    // A retried 429, then a 400: the outbox logs a warning for each.
    let fake = FakeApi::scripted(vec![
        Reply::json(429, &json!({"code": 20429, "message": "Too many"}))
            .with_header("retry-after", "0"),
        Reply::json(
            400,
            &json!({"code": 21211, "message": "Invalid 'To' Phone Number"}),
        ),
    ]);
    let dir = ScratchDir::new("outbox-log");
    let d = DebugServer::start(&dir, &["--twilio-api-url", &fake.url()]);
    // The admin API by hand: `Api` wants a `krl_tests::Server`.
    let c = reqwest::blocking::Client::new();
    let admin = |path: &str, ct: &str, body: String| {
        let (status, body) = krl_tests::api::send(
            c.post(format!("{}{path}", d.url))
                .bearer_auth(krl_tests::api::TOKEN)
                .header("content-type", ct)
                .body(body),
        );
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    admin("/api/rulesets", "text/plain", seed());
    admin("/api/rulesets", "text/plain", RESULTS.to_string());
    let pico = admin(
        "/api/picos",
        "application/json",
        json!({"name": "t"}).to_string(),
    );
    let (id, eci) = (
        krl_tests::api::str_of(&pico["id"]),
        krl_tests::api::str_of(&pico["eci"]),
    );
    for rid in ["twilio_sms", RESULTS_RID] {
        admin(
            &format!("/api/picos/{id}/rulesets"),
            "application/json",
            json!({"rid": rid}).to_string(),
        );
    }
    let sky = |path: String, body: Value| {
        krl_tests::api::send(
            c.post(format!("{}{path}", d.url))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    let (status, body) = sky(
        format!("/sky/event/{eci}/none/notification/status"),
        json!({"phone_number": "+1", "from_number": "+15005550006", "message": "hi"}),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("sms_failed", LIMIT, || {
        let (_, r) = sky(
            format!("/sky/cloud/{eci}/io.example.outbox_results/failed"),
            json!({}),
        );
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(())
    });
    assert_eq!(fake.seen().len(), 2);
    assert_eq!(fake.seen()[1].auth(), basic(), "the token did go to Twilio");
    let log = std::fs::read_to_string(&d.log).unwrap();
    // The log was captured, at trace (reqwest's and hyper's too), with
    // the outbox's warnings.
    assert!(log.contains("TRACE"), "{log}");
    assert!(log.contains("twilio outbox: HTTP 429"), "{log}");
    assert!(log.contains("twilio outbox: send_sms failed"), "{log}");
    let encoded = basic();
    let encoded = encoded.trim_start_matches("Basic ");
    for secret in [AUTH, encoded] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}
