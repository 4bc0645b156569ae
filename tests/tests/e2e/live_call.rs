//! Live-call control through `krl serve` (docs/twilio.md): a rule answers
//! a signed call at once with hold music (`<Play loop="0">` of a
//! fingerprinted `--static` file) and starts slow work (an `http:get` to
//! a local server that answers only when the test lets it). When the work
//! ends, a rule moves the caller on with `twilio:redirect_call(CallSid,
//! "weather_ready")`: the fake Twilio REST API receives `POST
//! .../Calls/{CallSid}.json` with `Url` = the channel's event URL for
//! `twilio weather_ready` (absolute from `--public-url`) and `Method`; the
//! test then delivers that webhook, signed, and hears the next step, which
//! reads the work's result from the call session. If the work fails the
//! call goes to an apology step instead.

use krl_tests::api::{server, wait_for, Api};
use krl_tests::fake_http::{Fake, Reply};
use krl_tests::twilio::{self, basic_auth, FakeApi};
use krl_tests::ScratchDir;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
/// What Twilio believes the engine's address is.
const PUBLIC: &str = "https://krl.example.test";
const AUTH: &str = "live-call-auth-token";
const ACCOUNT: &str = "AC0000000000000000000000000000live";
const CALL: &str = "CA00000000000000000000000000000042";

const WEATHER: &str = r#"ruleset io.example.weather_line {
  rule answer {
    select when twilio inbound_call
    every {
      twilio:say("We're looking up the weather. Please hold on.")
      twilio:play(twilio:url_for("hold.mp3")) with loop = 0
      // the slow work runs in its own event, after this answer
      event:send({"eci": meta:eci, "domain": "weather", "type": "lookup",
                  "attrs": {"CallSid": event:attrs{"CallSid"}}})
    }
    always { session:step := "holding" }
  }
  rule lookup {
    select when weather lookup
    pre {
      answer = http:get(meta:rulesetConfig{"weather_url"})
      ok = answer{"status_code"} == 200
    }
    twilio:redirect_call(event:attrs{"CallSid"}, ok => "weather_ready" | "weather_failed")
      with Method = "POST"
    always {
      session:weather := answer{"content"} if ok;
      session:step := ok => "ready" | "failed"
    }
  }
  rule ready {
    select when twilio weather_ready
    every {
      twilio:say("The weather: " + session:weather)
      twilio:hangup()
    }
  }
  rule failed {
    select when twilio weather_failed
    every {
      twilio:say("Sorry, we could not get the weather. Goodbye.")
      twilio:hangup()
    }
  }
}
"#;

// ------------------------------------------------------------ helpers

/// Posts a webhook to `path` (public path) as Twilio does: form body,
/// signed over `PUBLIC + path`. Returns status and body.
fn webhook(base: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    twilio::webhook(
        &format!("{base}{path}"),
        &format!("{PUBLIC}{path}"),
        AUTH,
        params,
    )
}

/// The parameters of every voice request of the call.
fn call_params(status: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("From", "+15550100"),
        ("To", "+15550199"),
    ]
}

/// The slow work: `GET /weather` is answered with what the test sends
/// through the returned channel, not before.
fn gate() -> (Fake, mpsc::Sender<(u16, String)>) {
    let (tx, rx) = mpsc::channel::<(u16, String)>();
    let rx = Mutex::new(rx);
    let fake = Fake::start(move |_, _| {
        let (status, body) = rx.lock().unwrap().recv().unwrap_or((503, "gone".into()));
        Reply::text(status, "application/json", body)
    });
    (fake, tx)
}

struct Line {
    _dir: ScratchDir,
    _statics: ScratchDir,
    s: krl_tests::Server,
    eci: String,
    hold_url: String,
}

/// `krl serve` with the static folder, the engine-wide auth token and the
/// fake API; the weather line installed with `weather_url`.
fn line(name: &str, twilio: &FakeApi, weather_url: &str) -> Line {
    let statics = ScratchDir::new(&format!("{name}-static"));
    statics.file("hold.mp3", "ID3 hold music, looped");
    let static_dir = statics.path().to_str().unwrap().to_string();
    let (dir, s) = server(
        name,
        &[
            "--public-url",
            PUBLIC,
            "--twilio-auth-token",
            AUTH,
            "--twilio-account-sid",
            ACCOUNT,
            "--twilio-api-url",
            &twilio.url(),
            "--static",
            &static_dir,
        ],
    );
    let api = Api::new(&s);
    api.register_ok(WEATHER);
    let (status, body) = api.post(
        "/api/picos",
        json!({"name": "weather line",
               "rulesets": [{"rid": "io.example.weather_line",
                             "config": {"weather_url": weather_url}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let eci = body["eci"].as_str().unwrap().to_string();
    // the fingerprinted URL of the hold music, as /static-loop writes it
    let res = Client::new()
        .get(format!("{}/static-loop/hold.mp3", s.url))
        .send()
        .unwrap();
    let doc = res.text().unwrap();
    let hold_url = doc
        .split("<Play loop=\"0\">")
        .nth(1)
        .and_then(|r| r.split("</Play>").next())
        .unwrap_or_else(|| panic!("no hold music in {doc}"))
        .replace("&amp;", "&");
    assert!(
        hold_url.starts_with(&format!("{PUBLIC}/static/hold.mp3?v=")),
        "{hold_url}"
    );
    drop(api);
    Line {
        _dir: dir,
        _statics: statics,
        s,
        eci,
        hold_url,
    }
}

/// The call comes in: the answer is the hold message and the looped
/// music, at once (the slow work has not answered yet).
fn ring(l: &Line) {
    let path = format!("/sky/event/{}/none/twilio/inbound_call", l.eci);
    let (status, twiml) = webhook(&l.s.url, &path, &call_params("ringing"));
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        twiml,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say>We&apos;re looking up the weather. Please hold on.</Say>\
             <Play loop=\"0\">{}</Play></Response>",
            l.hold_url.replace('&', "&amp;")
        )
    );
}

/// Waits for the call update at the fake API and checks it; returns its
/// `Url`.
fn redirected(twilio: &FakeApi) -> String {
    let req = wait_for("the call update at the fake Twilio API", LIMIT, || {
        twilio.seen().first().cloned()
    });
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.target,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json")
    );
    assert_eq!(req.auth(), basic_auth(ACCOUNT, AUTH));
    assert_eq!(
        req.field("Method").as_deref(),
        Some("POST"),
        "{:?}",
        req.form()
    );
    let url = req.field("Url").expect("a Url");
    assert_eq!(twilio.seen().len(), 1, "one update only");
    url
}

/// Twilio requests the new document from `url` (signed, the standard
/// call parameters); the TwiML it gets.
fn follow(l: &Line, url: &str) -> String {
    let path = url
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{url} is not under the public URL"));
    let (status, twiml) = webhook(&l.s.url, path, &call_params("in-progress"));
    assert_eq!(status, 200, "{twiml}");
    twiml
}

/// The outbox's state of the update, once the API answered.
fn outbox_state(l: &Line) -> Value {
    let api = Api::new(&l.s);
    wait_for("the outbox to record the update as sent", LIMIT, || {
        let (_, list) = api.get("/api/outbox");
        let e = list.as_array()?.first()?.clone();
        (e["state"] != "queued").then_some(e)
    })
}

// ------------------------------------------------------------ tests

#[test]
fn hold_music_then_the_finished_work_moves_the_call_on() {
    let twilio = FakeApi::start();
    let (weather, release) = gate();
    let l = line(
        "live_call_ok",
        &twilio,
        &format!("{}/weather", weather.url()),
    );
    ring(&l);

    // The work has started (the lookup reached the slow server) and the
    // caller is on hold: nothing has gone to Twilio yet.
    wait_for("the slow work to start", LIMIT, || {
        (weather.seen().len() == 1).then_some(())
    });
    assert_eq!(weather.seen()[0].target, "/weather");
    assert!(twilio.seen().is_empty(), "{:?}", twilio.seen());

    // The work finishes: the call is moved on through Twilio's REST API.
    release.send((200, "Sunny and 75 degrees".into())).unwrap();
    let url = redirected(&twilio);
    assert_eq!(
        url,
        format!("{PUBLIC}/sky/event/{}/none/twilio/weather_ready", l.eci)
    );
    let e = outbox_state(&l);
    assert_eq!(
        (&e["action"], &e["state"], &e["call_sid"]),
        (&json!("redirect_call"), &json!("sent"), &json!(CALL)),
        "{e}"
    );

    // Twilio fetches the next step: it reads the work's result from the
    // call session.
    assert_eq!(
        follow(&l, &url),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
         <Say>The weather: Sunny and 75 degrees</Say><Hangup/></Response>"
    );
}

#[test]
fn failed_work_moves_the_call_to_an_apology() {
    let twilio = FakeApi::start();
    let (weather, release) = gate();
    let l = line(
        "live_call_fail",
        &twilio,
        &format!("{}/weather", weather.url()),
    );
    ring(&l);
    wait_for("the slow work to start", LIMIT, || {
        (weather.seen().len() == 1).then_some(())
    });
    assert!(twilio.seen().is_empty());

    release
        .send((500, r#"{"error": "upstream down"}"#.into()))
        .unwrap();
    let url = redirected(&twilio);
    assert_eq!(
        url,
        format!("{PUBLIC}/sky/event/{}/none/twilio/weather_failed", l.eci)
    );
    assert_eq!(
        follow(&l, &url),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
         <Say>Sorry, we could not get the weather. Goodbye.</Say><Hangup/></Response>"
    );
}
