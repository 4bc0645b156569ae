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

use base64::Engine as _;
use hmac::{Hmac, Mac};
use krl_tests::api::{server, wait_for, Api};
use krl_tests::fake_http::{form_encode, read_request, write_response};
use krl_tests::ScratchDir;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use sha1::Sha1;
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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

/// Twilio's signature (twilio.md 3.1).
fn signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(AUTH.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts a webhook to `path` (public path) as Twilio does: form body,
/// signed over `PUBLIC + path`. Returns status and body.
fn webhook(c: &Client, base: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    let body = form_encode(params);
    let res = c
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "X-Twilio-Signature",
            signature(&format!("{PUBLIC}{path}"), params),
        )
        .body(body)
        .send()
        .expect("posting a webhook");
    (res.status().as_u16(), res.text().unwrap())
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

/// A request one of the local servers received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    auth: String,
    form: Vec<(String, String)>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request off `stream`, as recorded.
fn read_seen(stream: &std::net::TcpStream) -> std::io::Result<Seen> {
    let req = read_request(stream)?;
    Ok(Seen {
        auth: req.header("authorization").unwrap_or("").to_string(),
        form: req.form(),
        method: req.method,
        path: req.target,
    })
}

/// A local server that records each request and answers it with what
/// `answers` hands it: `Gate` answers only when the test releases it,
/// `Twilio` answers at once as Twilio's REST API does.
struct Local {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Local {
    fn start(mut answer_of: impl FnMut(&Seen) -> (u16, String) + Send + 'static) -> Local {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            // one at a time: the gate's answer may wait for the test
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(req) = read_seen(&stream) else {
                    continue;
                };
                log.lock().unwrap().push(req.clone());
                let (status, body) = answer_of(&req);
                let _ = write_response(
                    &stream,
                    &format!("{status} X"),
                    "application/json",
                    &[],
                    &body,
                );
            }
        });
        Local { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The slow work: `GET /weather` is answered with what the test sends
/// through the returned channel, not before.
fn gate() -> (Local, mpsc::Sender<(u16, String)>) {
    let (tx, rx) = mpsc::channel::<(u16, String)>();
    let local = Local::start(move |_| rx.recv().unwrap_or((503, "gone".into())));
    (local, tx)
}

/// Twilio's REST API: a call update answers 200 with the call resource.
fn fake_twilio() -> Local {
    Local::start(|req| {
        let sid = req
            .path
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".json")
            .to_string();
        (
            200,
            json!({"sid": sid, "status": "in-progress", "account_sid": ACCOUNT}).to_string(),
        )
    })
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
fn line(name: &str, twilio: &Local, weather_url: &str) -> Line {
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
            &twilio.url,
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
fn ring(l: &Line, c: &Client) {
    let path = format!("/sky/event/{}/none/twilio/inbound_call", l.eci);
    let (status, twiml) = webhook(c, &l.s.url, &path, &call_params("ringing"));
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
fn redirected(twilio: &Local) -> String {
    let req = wait_for("the call update at the fake Twilio API", LIMIT, || {
        twilio.seen().first().cloned()
    });
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{AUTH}"));
    assert_eq!(req.auth, format!("Basic {basic}"));
    assert_eq!(req.field("Method"), Some("POST"), "{:?}", req.form);
    let url = req.field("Url").expect("a Url").to_string();
    assert_eq!(twilio.seen().len(), 1, "one update only");
    url
}

/// Twilio requests the new document from `url` (signed, the standard
/// call parameters); the TwiML it gets.
fn follow(l: &Line, c: &Client, url: &str) -> String {
    let path = url
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{url} is not under the public URL"));
    let (status, twiml) = webhook(c, &l.s.url, path, &call_params("in-progress"));
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
    let twilio = fake_twilio();
    let (weather, release) = gate();
    let l = line("live_call_ok", &twilio, &format!("{}/weather", weather.url));
    let c = Client::new();
    ring(&l, &c);

    // The work has started (the lookup reached the slow server) and the
    // caller is on hold: nothing has gone to Twilio yet.
    wait_for("the slow work to start", LIMIT, || {
        (weather.seen().len() == 1).then_some(())
    });
    assert_eq!(weather.seen()[0].path, "/weather");
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
        follow(&l, &c, &url),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
         <Say>The weather: Sunny and 75 degrees</Say><Hangup/></Response>"
    );
}

#[test]
fn failed_work_moves_the_call_to_an_apology() {
    let twilio = fake_twilio();
    let (weather, release) = gate();
    let l = line(
        "live_call_fail",
        &twilio,
        &format!("{}/weather", weather.url),
    );
    let c = Client::new();
    ring(&l, &c);
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
        follow(&l, &c, &url),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
         <Say>Sorry, we could not get the weather. Goodbye.</Say><Hangup/></Response>"
    );
}
