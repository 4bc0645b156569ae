//! Scenario tests of `rulesets/interactive_flow.krl` (seed 002, the IVR
//! written as explicit states; docs/seeds/002-interactive-flow.md):
//! real calls played with `krl call` against `krl serve` with
//! `--public-url`, `--static` (a folder of audio files), `--clock` (fixed
//! instants for the business-hours branch) and `--twilio-api-url` (a local
//! fake of Twilio's REST API that records the live-call redirects). The
//! asynchronous state's slow work is an `http:get` to a local server that
//! answers JSON, 500, or nothing at all.
//!
//! Every state and transition is covered: main menu 1/2/3, lunch special
//! 1/other, invalid and missing input retried up to `max_tries`, open and
//! closed at fixed instants in two time zones, the lookup's success, HTTP
//! failure, time-out and missing URL (each checked at the fake Twilio API,
//! then by following the redirect's Url with a signed webhook), a caller
//! who hung up while on hold, every state reachable by its event type,
//! fingerprinted audio URLs that follow the files, and a refused config.

use krl_tests::api::{server_at, str_of, wait_for, Api};
use krl_tests::fake_http::{Fake, Reply};
use krl_tests::phone::{call_as, heard_in_full, requests_in_full, strings};
use krl_tests::twilio::{self, basic_auth, FakeApi};
use krl_tests::{source, ScratchDir, Server};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// What Twilio believes the engine's address is (behind a proxy).
const PUBLIC: &str = "https://ivr.example.test";
/// The number's auth token: signs webhooks, and the REST credentials.
const AUTH: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const ACCOUNT: &str = "ACinteractive0000000000000000001";
const RID: &str = "io.krl.interactive_flow";
const LIMIT: Duration = Duration::from_secs(20);
/// Monday 9 March 2026, 10:30 in Denver (MDT, UTC-6): open there; in
/// Tokyo it is Tuesday 01:30, closed.
const MONDAY_MORNING_DENVER: &str = "2026-03-09T10:30:00-06:00";
/// Monday 9 March 2026, 18:30 in Denver: closed there; in Tokyo Tuesday
/// 09:30, open.
const MONDAY_EVENING_DENVER: &str = "2026-03-09T18:30:00-06:00";

const MENU: &str =
    "For our lunch special, press 1. For our hours, press 2. For today's forecast, press 3.";
const BYE: &str = "Thank you for calling Foo Corp. Goodbye.";
const HOURS: &str = "Our hours are 09:00 to 17:00, Monday, Tuesday, Wednesday, Thursday, Friday.";

// ------------------------------------------------------------ local servers

/// The slow work's server: `/forecast` answers JSON, `/broken` 500,
/// `/slow` nothing (the connection is held open past the engine's
/// `--http-timeout`).
fn upstream() -> Fake {
    Fake::start(|r, _| {
        if r.target.starts_with("/forecast") {
            Reply::json(
                200,
                &json!({"text": "Sunny & warm, a high of 75.", "source": "test"}),
            )
        } else if r.target.starts_with("/broken") {
            Reply::json(500, &json!({"error": "upstream exploded"}))
        } else {
            Reply::Hang(Duration::from_secs(5))
        }
    })
}

/// Twilio's REST API; when `hung_up`, it refuses the call redirect with
/// 400 (Twilio's 21220, "call is not in-progress").
fn fake_twilio(hung_up: bool) -> FakeApi {
    let refused = Reply::json(
        400,
        &json!({"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}),
    );
    FakeApi::scripted(if hung_up { vec![refused] } else { vec![] })
}

// ------------------------------------------------------------ the engine

/// A `krl serve` for IVRs: public URL, audio folder, fixed clock, the
/// fake Twilio API, a short `http:` time limit.
struct Ivr {
    _scratch: ScratchDir,
    data: ScratchDir,
    audio: std::path::PathBuf,
    twilio_api: String,
    s: Server,
    /// (system eci, pico id) of each number made.
    picos: Mutex<Vec<(String, String)>>,
}

impl Ivr {
    fn start(name: &str, clock: &str, twilio_api: &str) -> Ivr {
        let scratch = ScratchDir::new(&format!("if-{name}-audio"));
        let audio = scratch.path().join("audio");
        std::fs::create_dir_all(&audio).unwrap();
        std::fs::write(audio.join("welcome.mp3"), b"ID3 welcome, first take").unwrap();
        std::fs::write(audio.join("hold.mp3"), b"ID3 hold music").unwrap();
        let data = ScratchDir::new(&format!("if-{name}"));
        let s = server_at(
            &data.path().join("data"),
            &Ivr::args(&audio, clock, twilio_api),
        );
        let api = Api::new(&s);
        let (status, body) = api.register(&ruleset());
        assert_eq!(status, 200, "{body}");
        Ivr {
            _scratch: scratch,
            data,
            audio,
            twilio_api: twilio_api.to_string(),
            s,
            picos: Mutex::default(),
        }
    }

    fn args<'a>(audio: &'a std::path::Path, clock: &'a str, twilio_api: &'a str) -> Vec<&'a str> {
        vec![
            "--public-url",
            PUBLIC,
            "--static",
            audio.to_str().unwrap(),
            "--clock",
            clock,
            "--twilio-api-url",
            twilio_api,
            "--http-timeout",
            "0.5",
        ]
    }

    /// Stops the engine (as SIGKILL) and starts it again on the same data
    /// with its clock at `clock`.
    fn restart(self, clock: &str) -> Ivr {
        let Ivr {
            _scratch,
            data,
            audio,
            twilio_api,
            s,
            picos,
        } = self;
        s.kill();
        let s = server_at(
            &data.path().join("data"),
            &Ivr::args(&audio, clock, &twilio_api),
        );
        Ivr {
            _scratch,
            data,
            audio,
            twilio_api,
            s,
            picos,
        }
    }

    /// A pico for one phone number with the ruleset and `config` (merged
    /// over the defaults below): the Twilio channel (signed) and the
    /// system channel (queries).
    fn number(&self, config: Value) -> (String, String) {
        let api = Api::new(&self.s);
        let mut cfg = json!({
            "tz": "America/Denver",
            "welcome_audio": "welcome.mp3",
            "account_sid": ACCOUNT,
            "auth_token": AUTH,
        });
        for (k, v) in config.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let (status, body) = api.post(
            "/api/picos",
            json!({"name": "ivr", "rulesets": [{"rid": RID, "config": cfg}]}),
        );
        assert_eq!(status, 200, "{body}");
        let (id, system) = (str_of(&body["id"]), str_of(&body["eci"]));
        self.picos
            .lock()
            .unwrap()
            .push((system.clone(), id.clone()));
        (api.twilio_channel(&id, AUTH), system)
    }

    /// Plays a call with `krl call` (JSON transcript): its lines.
    fn call(&self, eci: &str, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["--from", "+13035550142"];
        args.extend_from_slice(extra);
        call_as(&self.s, PUBLIC, AUTH, eci, &args)
    }

    /// A call's record, its session variable `session:call` (a query on
    /// the system channel with the call's `CallSid`); null when none.
    fn record(&self, system: &str, call_sid: &str) -> Value {
        let (status, body) =
            Api::new(&self.s).query(system, RID, "call", json!({"CallSid": call_sid}));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The calls of the number whose system channel is `system` that
    /// still have a record (from the engine's list of call sessions).
    fn live_calls(&self, system: &str) -> Vec<String> {
        let api = Api::new(&self.s);
        let pico = self
            .picos
            .lock()
            .unwrap()
            .iter()
            .find(|(e, _)| e == system)
            .map(|(_, p)| p.clone())
            .expect("a number of this engine");
        let (status, body) = api.get(&format!("/api/picos/{pico}/sessions"));
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .filter(|c| !c["expired"].as_bool().unwrap() && !c["vars"][RID]["call"].is_null())
            .map(|c| str_of(&c["call_sid"]))
            .collect()
    }

    /// A signed webhook as Twilio sends it when it follows a live-call
    /// redirect: the call's parameters to the public `url`. The TwiML.
    fn follow(&self, url: &str, call_sid: &str) -> String {
        self.webhook(url, call_sid, &[])
    }

    /// A signed webhook of call `call_sid` to the public `url`, with the
    /// call's parameters and `more`: the TwiML.
    fn webhook(&self, url: &str, call_sid: &str, more: &[(&str, &str)]) -> String {
        let path = url
            .strip_prefix(PUBLIC)
            .unwrap_or_else(|| panic!("{url} is not under {PUBLIC}"));
        let mut params = vec![
            ("AccountSid", ACCOUNT),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", call_sid),
            ("Direction", "inbound"),
            ("From", "+13035550142"),
            ("To", "+13035550100"),
        ];
        if !more.iter().any(|(k, _)| *k == "CallStatus") {
            params.push(("CallStatus", "in-progress"));
        }
        params.extend_from_slice(more);
        let (status, twiml) = twilio::webhook(&format!("{}{path}", self.s.url), url, AUTH, &params);
        assert_eq!(status, 200, "{twiml}");
        twiml
    }
}

fn ruleset() -> String {
    source("rulesets/interactive_flow.krl")
}

/// The public URL of state (event type) `state` on channel `eci`.
fn state_url(eci: &str, state: &str) -> String {
    format!("{PUBLIC}/sky/event/{eci}/none/twilio/{state}")
}

/// The first `?v=` fingerprint in `s`.
fn fingerprint(s: &str) -> String {
    let i = s.find("?v=").unwrap_or_else(|| panic!("no ?v= in {s}")) + 3;
    s[i..i + 16].to_string()
}

/// The main menu as heard, with the welcome recording's fingerprint.
fn menu(v: &str) -> Vec<String> {
    vec![
        "gather".into(),
        format!("play: {PUBLIC}/static/welcome.mp3?v={v}"),
        format!("say: {MENU}"),
    ]
}

// ------------------------------------------------------------ the tests

#[test]
fn menu_transitions_lunch_special_hours_and_goodbye() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("menu", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({}));

    // 1 → lunch special, 1 → hours (an end state)
    let l = ivr.call(&eci, &["--digits", "1,1"]);
    let v = fingerprint(&heard_in_full(&l)[1]);
    let mut want = menu(&v);
    want.extend(strings(&[
        "digits: 1",
        "gather",
        "say: Our lunch special is a hamburger.",
        "say: To hear our hours, press 1.",
        "digits: 1",
    ]));
    want.extend([
        format!("say: {HOURS}"),
        format!("say: {BYE}"),
        "hangup".into(),
    ]);
    assert_eq!(heard_in_full(&l), want, "{l:?}");
    // the Gathers post to their states' input events, on the public URL
    let gathers: Vec<&Value> = l.iter().filter(|x| x["verb"] == "gather").collect();
    assert_eq!(
        gathers[0]["attrs"]["action"],
        state_url(&eci, "main_menu_input")
    );
    assert_eq!(gathers[0]["attrs"]["numDigits"], "1");
    assert_eq!(gathers[0]["attrs"]["timeout"], "5");
    assert_eq!(
        gathers[1]["attrs"]["action"],
        state_url(&eci, "lunch_special_input")
    );
    let real = |state: &str| format!("{}/sky/event/{eci}/none/twilio/{state}", ivr.s.url);
    assert_eq!(
        requests_in_full(&l),
        [
            real("inbound_call"),
            real("main_menu_input"),
            real("lunch_special_input")
        ]
    );

    // 1 → lunch special, anything else → goodbye
    let l = ivr.call(&eci, &["--digits", "1,5"]);
    let h = heard_in_full(&l);
    assert_eq!(
        h[h.len() - 4..],
        strings(&[
            "digits: 5",
            "say: Thanks for your call.",
            &format!("say: {BYE}"),
            "hangup"
        ]),
        "{h:?}"
    );

    // 2 → hours
    let l = ivr.call(&eci, &["--digits", "2"]);
    let mut want = menu(&v);
    want.extend([
        "digits: 2".into(),
        format!("say: {HOURS}"),
        format!("say: {BYE}"),
        "hangup".into(),
    ]);
    assert_eq!(heard_in_full(&l), want);

    // end states clear the call's record
    assert_eq!(ivr.live_calls(&system), Vec::<String>::new());
}

#[test]
fn invalid_and_missing_input_are_retried_up_to_max_tries() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("retry", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({}));

    // 9 (not an option), nothing, 7: three tries, then goodbye
    let l = ivr.call(&eci, &["--digits", "9,,7"]);
    let h = heard_in_full(&l);
    let v = fingerprint(&h[1]);
    let mut want = menu(&v);
    want.push("digits: 9".into());
    want.push("say: Sorry, that is not an option.".into());
    want.extend(menu(&v));
    want.push("no input".into());
    // no input: the Redirect after the Gather posts main_menu_input
    want.push(format!("redirect: {}", state_url(&eci, "main_menu_input")));
    want.push("say: Sorry, I didn't get that.".into());
    want.extend(menu(&v));
    want.push("digits: 7".into());
    want.extend([
        "say: Sorry, we could not understand your choice.".into(),
        format!("say: {BYE}"),
        "hangup".into(),
    ]);
    assert_eq!(h, want, "{l:?}");
    assert_eq!(ivr.live_calls(&system), Vec::<String>::new());

    // a wrong key, then a right one: the menu goes on
    let l = ivr.call(&eci, &["--digits", "0,2"]);
    let h = heard_in_full(&l);
    assert!(
        h.contains(&"say: Sorry, that is not an option.".to_string()),
        "{h:?}"
    );
    assert_eq!(h[h.len() - 3], format!("say: {HOURS}"), "{h:?}");

    // max_tries from the config: 1 means no second chance
    let (eci1, _) =
        ivr.number(json!({"max_tries": 1, "welcome_audio": null, "company": "Bar & Grill"}));
    let l = ivr.call(&eci1, &["--digits", "8"]);
    assert_eq!(
        heard_in_full(&l),
        strings(&[
            "gather",
            "say: Welcome to Bar & Grill.",
            &format!("say: {MENU}"),
            "digits: 8",
            "say: Sorry, we could not understand your choice.",
            "say: Thank you for calling Bar & Grill. Goodbye.",
            "hangup"
        ])
    );
}

#[test]
fn business_hours_branch_at_fixed_instants_in_two_time_zones() {
    let twilio = fake_twilio(false);
    let closed = |company: &str| {
        vec![
            format!("say: Thanks for calling {company}. We are closed right now. {HOURS}"),
            format!("say: Thank you for calling {company}. Goodbye."),
            "hangup".to_string(),
        ]
    };
    // Monday 10:30 in Denver is Tuesday 01:30 in Tokyo.
    let ivr = Ivr::start("hours-am", MONDAY_MORNING_DENVER, &twilio.url());
    let (denver, _) = ivr.number(json!({}));
    let (tokyo, _) = ivr.number(json!({"tz": "Asia/Tokyo", "company": "Tokyo Foo"}));
    let l = ivr.call(&denver, &["--digits", ""]);
    assert_eq!(
        heard_in_full(&l)[..3],
        menu(&fingerprint(&heard_in_full(&l)[1]))[..],
        "{l:?}"
    );
    let l = ivr.call(&tokyo, &[]);
    assert_eq!(heard_in_full(&l), closed("Tokyo Foo"), "{l:?}");
    // the branching state rendered nothing: one request, straight to closed
    assert_eq!(requests_in_full(&l).len(), 1);
    drop(ivr);

    // Monday 18:30 in Denver is Tuesday 09:30 in Tokyo.
    let ivr = Ivr::start("hours-pm", MONDAY_EVENING_DENVER, &twilio.url());
    let (denver, _) = ivr.number(json!({}));
    let (tokyo, _) = ivr.number(json!({"tz": "Asia/Tokyo", "company": "Tokyo Foo"}));
    let l = ivr.call(&denver, &[]);
    assert_eq!(heard_in_full(&l), closed("Foo Corp"), "{l:?}");
    let l = ivr.call(&tokyo, &["--digits", ""]);
    assert_eq!(heard_in_full(&l)[2], format!("say: {MENU}"), "{l:?}");

    // Days and hours come from the config: closed on Mondays.
    let (weekends, _) = ivr
        .number(json!({"open_days": [0, 6], "opens": "00:00", "closes": "23:59", "company": "W"}));
    let l = ivr.call(&weekends, &[]);
    assert_eq!(
        heard_in_full(&l)[0],
        "say: Thanks for calling W. We are closed right now. Our hours are 00:00 to 23:59, Sunday, Saturday."
    );
}

#[test]
fn is_open_follows_daylight_saving_in_the_zone() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("dst", MONDAY_MORNING_DENVER, &twilio.url());
    let (_, system) = ivr.number(json!({}));
    let api = Api::new(&ivr.s);
    let open = |when: &str| {
        let (status, body) = api.query(&system, RID, "is_open", json!({"when": when}));
        assert_eq!(status, 200, "{body}");
        body
    };
    // Friday 6 March 2026: MST (UTC-7). 15:59Z is 08:59, 16:00Z is 09:00.
    assert_eq!(open("2026-03-06T15:59:00Z"), json!(false));
    assert_eq!(open("2026-03-06T16:00:00Z"), json!(true));
    assert_eq!(open("2026-03-06T23:59:00Z"), json!(true)); // 16:59
    assert_eq!(open("2026-03-07T00:00:00Z"), json!(false)); // 17:00
                                                            // Monday 9 March, after the change to MDT (UTC-6): 15:00Z is 09:00.
    assert_eq!(open("2026-03-09T14:59:00Z"), json!(false));
    assert_eq!(open("2026-03-09T15:00:00Z"), json!(true));
    assert_eq!(open("2026-03-09T23:00:00Z"), json!(false)); // 17:00 MDT
                                                            // Saturday
    assert_eq!(open("2026-03-07T18:00:00Z"), json!(false));
}

/// The lookup state: please hold, the hold-music endpoint (a looping
/// fingerprinted Play), and the call's record waiting. Returns the CallSid
/// the fake Twilio API was asked to redirect and the Url it was given.
fn hold_then_redirect(ivr: &Ivr, twilio: &FakeApi, eci: &str) -> (String, String) {
    let before = twilio.seen().len();
    let l = ivr.call(eci, &["--digits", "3"]);
    let h = heard_in_full(&l);
    let hold = fingerprint(&h[h.len() - 2]);
    let tail = strings(&[
        "digits: 3",
        "say: Please hold while we look that up.",
        &format!("redirect: {PUBLIC}/static-loop/hold.mp3"),
        &format!("play: {PUBLIC}/static/hold.mp3?v={hold}"),
        "end",
    ]);
    assert_eq!(h[h.len() - 5..], tail[..], "{l:?}");
    let r = requests_in_full(&l);
    assert_eq!(
        r.last().unwrap(),
        &format!("{}/static-loop/hold.mp3", ivr.s.url)
    );
    // the redirect of the live call reaches Twilio's API
    let seen = wait_for("the call redirect at the fake Twilio API", LIMIT, || {
        let s = twilio.seen();
        (s.len() > before).then(|| s[before].clone())
    });
    assert_eq!(seen.method, "POST");
    let prefix = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/");
    let sid = seen
        .target
        .strip_prefix(&prefix)
        .and_then(|p| p.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("not a call redirect: {}", seen.target))
        .to_string();
    assert!(sid.starts_with("CA") && sid.len() == 34, "{sid}");
    assert_eq!(seen.auth(), basic_auth(ACCOUNT, AUTH));
    let form = seen.form();
    assert_eq!(form.len(), 1, "{form:?}");
    assert_eq!(form[0].0, "Url");
    (sid, form[0].1.clone())
}

#[test]
fn lookup_success_moves_the_live_call_to_the_result() {
    let twilio = fake_twilio(false);
    let up = upstream();
    let ivr = Ivr::start("lookup-ok", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({"lookup_url": format!("{}/forecast", up.url())}));

    let (sid, url) = hold_then_redirect(&ivr, &twilio, &eci);
    assert_eq!(url, state_url(&eci, "lookup_done"));
    // the slow work asked the configured URL, with the caller's number
    let asked = up.seen();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].method.as_str(), asked[0].target.as_str()),
        ("GET", "/forecast?From=%2B13035550142")
    );
    let rec = ivr.record(&system, &sid);
    assert_eq!(rec["lookup"], "done", "{rec}");
    assert_eq!(rec["from"], "+13035550142", "{rec}");
    assert_eq!(rec["result"], "Sunny & warm, a high of 75.");

    // Twilio follows the Url: the success state speaks the result.
    let twiml = ivr.follow(&url, &sid);
    assert_eq!(
        twiml,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say>Sunny &amp; warm, a high of 75.</Say><Say>{BYE}</Say><Hangup/></Response>"
        )
    );
    assert_eq!(ivr.record(&system, &sid), Value::Null);
    // the outbox reported the redirect as sent: it records that after the
    // fake Twilio API answered, which may come after the test saw the
    // request, so wait for the state asserted
    let sent = wait_for("the redirect recorded as sent", LIMIT, || {
        let (status, sent) = Api::new(&ivr.s).get("/api/outbox?state=sent");
        (status == 200 && sent.as_array().map(Vec::len) == Some(1)).then_some(sent)
    });
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent[0]["action"], "redirect_call");
    assert_eq!(sent[0]["call_sid"], sid.as_str());
}

const APOLOGY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
     <Say>We&apos;re sorry, we could not look that up right now. Please try again later.</Say>\
     <Say>Thank you for calling Foo Corp. Goodbye.</Say><Hangup/></Response>";

#[test]
fn lookup_failure_500_moves_the_live_call_to_the_apology() {
    let twilio = fake_twilio(false);
    let up = upstream();
    let ivr = Ivr::start("lookup-500", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({"lookup_url": format!("{}/broken", up.url())}));

    let (sid, url) = hold_then_redirect(&ivr, &twilio, &eci);
    assert_eq!(url, state_url(&eci, "lookup_failed"));
    assert_eq!(up.seen().len(), 1);
    let rec = ivr.record(&system, &sid);
    assert_eq!(
        (&rec["lookup"], &rec["error"]),
        (&json!("failed"), &json!("HTTP 500"))
    );
    assert_eq!(ivr.follow(&url, &sid), APOLOGY);
    // exactly one redirect: the settle event saw the call already moved
    assert_eq!(twilio.seen().len(), 1);
}

#[test]
fn lookup_time_out_is_settled_with_the_apology() {
    let twilio = fake_twilio(false);
    let up = upstream();
    let ivr = Ivr::start("lookup-slow", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({"lookup_url": format!("{}/slow", up.url())}));

    // the http:get times out (--http-timeout 0.5): the work event fails
    // and writes nothing; the settle event after it moves the call
    let (sid, url) = hold_then_redirect(&ivr, &twilio, &eci);
    assert_eq!(url, state_url(&eci, "lookup_failed"));
    let rec = ivr.record(&system, &sid);
    assert_eq!(rec["lookup"], "failed");
    assert_eq!(rec["error"], "the lookup failed (see the log)");
    assert!(
        ivr.s.stderr().contains("timed out"),
        "the log names the time-out: {}",
        ivr.s.stderr()
    );
    assert_eq!(ivr.follow(&url, &sid), APOLOGY);
    assert_eq!(twilio.seen().len(), 1);

    // without a lookup_url the lookup fails at once, the same way
    let (eci, system) = ivr.number(json!({}));
    let (sid, url) = hold_then_redirect(&ivr, &twilio, &eci);
    assert_eq!(url, state_url(&eci, "lookup_failed"));
    assert_eq!(
        ivr.record(&system, &sid)["error"],
        "no lookup_url configured"
    );
}

#[test]
fn a_caller_who_hung_up_on_hold_fails_the_redirect_once() {
    let twilio = fake_twilio(true);
    let up = upstream();
    let ivr = Ivr::start("hung-up", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({"lookup_url": format!("{}/forecast", up.url())}));
    let (_sid, _) = hold_then_redirect(&ivr, &twilio, &eci);
    // Twilio refuses (400, 21220): the outbox gives up at once, without
    // retrying, and twilio:call_redirect_failed (which carries the CallSid)
    // ends the call's record
    let failed = wait_for("the redirect to fail", LIMIT, || {
        let (_, failed) = Api::new(&ivr.s).get("/api/outbox?state=failed");
        (failed.as_array().unwrap().len() == 1).then_some(failed)
    });
    assert_eq!(failed[0]["error_code"], 21220, "{failed}");
    assert_eq!(failed[0]["attempts"], 1, "{failed}");
    assert_eq!(twilio.seen().len(), 1);
    wait_for("the call's record to go", LIMIT, || {
        ivr.live_calls(&system).is_empty().then_some(())
    });
}

#[test]
fn every_state_is_routable_by_its_event_type() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("routable", MONDAY_EVENING_DENVER, &twilio.url());
    let (eci, _) = ivr.number(json!({}));
    // closed in the evening, but a call redirected into main_menu gets it
    let l = ivr.call(&eci, &["--type", "main_menu", "--digits", "2"]);
    let h = heard_in_full(&l);
    assert_eq!(h[2], format!("say: {MENU}"));
    assert_eq!(h[h.len() - 3], format!("say: {HOURS}"));
    let l = ivr.call(&eci, &["--type", "lunch_special", "--digits", "9"]);
    assert_eq!(
        heard_in_full(&l)[1],
        "say: Our lunch special is a hamburger."
    );
    // the branching state too: evening → closed
    let l = ivr.call(&eci, &["--type", "check_hours"]);
    assert!(
        heard_in_full(&l)[0].contains("We are closed right now."),
        "{l:?}"
    );
    // a live-call redirect target, for a call the engine does not know
    let l = ivr.call(&eci, &["--type", "lookup_done"]);
    assert_eq!(
        heard_in_full(&l)[0],
        "say: Sorry, the result is no longer available."
    );
}

#[test]
fn audio_urls_are_fingerprinted_and_follow_the_files() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("audio", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, _) = ivr.number(json!({}));
    let first = heard_in_full(&ivr.call(&eci, &[]))[1].clone();
    let v1 = fingerprint(&first);
    assert_eq!(first, format!("play: {PUBLIC}/static/welcome.mp3?v={v1}"));
    let c = Client::new();
    let get = |v: &str| {
        c.get(format!("{}/static/welcome.mp3?v={v}", ivr.s.url))
            .send()
            .unwrap()
    };
    let res = get(&v1);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.bytes().unwrap().as_ref(), b"ID3 welcome, first take");

    // a new recording: the next call plays a new URL, no restart
    std::fs::write(ivr.audio.join("welcome.mp3"), b"ID3 welcome, second take").unwrap();
    let second = heard_in_full(&ivr.call(&eci, &[]))[1].clone();
    let v2 = fingerprint(&second);
    assert_ne!(v1, v2);
    assert_eq!(second, format!("play: {PUBLIC}/static/welcome.mp3?v={v2}"));
    let res = get(&v2);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.bytes().unwrap().as_ref(), b"ID3 welcome, second take");
    assert_eq!(get(&v1).headers()["cache-control"], "no-cache");
}

#[test]
fn invalid_configs_are_refused_at_install_naming_the_setting() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("bad-config", MONDAY_MORNING_DENVER, &twilio.url());
    let api = Api::new(&ivr.s);
    let (_, engine) = api.get("/api/engine");
    let root = str_of(&engine["root_pico"]);
    let install = |config: Value| {
        api.post(
            "/api/picos",
            json!({"name": "ivr", "rulesets": [{"rid": RID, "config": config}]}),
        )
    };
    let refused = |config: Value, want: &str| {
        let (status, body) = install(config.clone());
        assert_eq!(status, 400, "{config}: {body}");
        assert_eq!(
            body["error"],
            format!("interactive_flow: {want}"),
            "{config}"
        );
        assert_eq!(body["rid"], RID);
    };
    refused(
        json!({"timezone": "America/Denver"}),
        "timezone: unknown setting (known: company, voice, tz, open_days, opens, closes, \
         hours_text, welcome_audio, hold_music, lookup_url, lookup_field, lunch_special, \
         max_tries, gather_timeout, account_sid, auth_token)",
    );
    refused(
        json!({"opens": "9am"}),
        "opens: must be a 24-hour time HH:MM, not \"9am\"",
    );
    refused(
        json!({"opens": "18:00", "closes": "08:00"}),
        "closes: must be later than opens",
    );
    refused(
        json!({"open_days": [1, 7]}),
        "open_days: must be a list of weekdays, 0 (Sunday) to 6 (Saturday)",
    );
    refused(
        json!({"max_tries": 0, "lookup_url": "ftp://files.example.org/x", "company": 5}),
        "company: must be a string; lookup_url: must be an http:// or https:// URL; \
         max_tries: must be a whole number, 1 or more",
    );
    refused(
        json!({"gather_timeout": 2.5}),
        "gather_timeout: must be a whole number of seconds, 1 or more",
    );
    refused(
        json!({"tz": "Mars/Olympus_Mons"}),
        "tz: unknown time zone \"Mars/Olympus_Mons\" (an IANA name such as \"America/Denver\")",
    );
    // no pico was left behind
    let (_, root) = api.get(&format!("/api/picos/{root}"));
    assert_eq!(root["children"], json!([]), "{root}");
    // and a good config is installed
    ivr.number(json!({"open_days": [0, 6], "opens": "7:30", "closes": "23:59", "max_tries": 2}));
}

#[test]
fn call_records_end_with_the_call_or_expire() {
    let twilio = fake_twilio(false);
    let ivr = Ivr::start("forget", MONDAY_MORNING_DENVER, &twilio.url());
    let (eci, system) = ivr.number(json!({}));
    let a = "CA000000000000000000000000000000aa";
    let b = "CA000000000000000000000000000000bb";
    // two callers hear the menu, press nothing, and hang up
    for sid in [a, b] {
        let twiml = ivr.webhook(
            &state_url(&eci, "inbound_call"),
            sid,
            &[("CallStatus", "ringing")],
        );
        assert!(twiml.contains("For our lunch special, press 1."), "{twiml}");
        let rec = ivr.record(&system, sid);
        assert_eq!(rec["from"], "+13035550142", "{rec}");
        assert!(
            rec["started"]
                .as_str()
                .unwrap()
                .starts_with("2026-03-09T16:30"),
            "{rec}"
        );
    }
    // a's status callback (Twilio's "completed") ends its session
    let twiml = ivr.webhook(
        &state_url(&eci, "call_status"),
        a,
        &[("CallStatus", "completed")],
    );
    assert!(twiml.ends_with("<Response/>"), "{twiml}");
    assert_eq!(ivr.record(&system, a), Value::Null);
    assert_eq!(ivr.live_calls(&system), [b]);

    // b's record expires (--call-session-ttl, 4 h): five hours later (a
    // restart with a later clock) it is gone
    let ivr = ivr.restart("2026-03-09T15:30:00-06:00");
    assert_eq!(ivr.record(&system, b), Value::Null);
    assert_eq!(ivr.live_calls(&system), Vec::<String>::new());
}
