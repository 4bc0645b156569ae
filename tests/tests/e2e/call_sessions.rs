//! Call sessions through `krl serve` (docs/twilio.md, "Call sessions"):
//! `session:` variables keyed by the event's `CallSid` keep two calls on
//! one pico apart across their Gather callbacks, end with the call's
//! `completed` status callback (after its rules ran), expire after
//! `--call-session-ttl` (swept by the engine, not only hidden on read),
//! survive a restart, and are a positioned runtime error in an event with
//! no `CallSid`.

use krl::ids::PicoId;
use krl::store::{Key, Store};
use krl_tests::api::{read, server, server_at, str_of, wait_for, Api};
use krl_tests::twilio;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A phone tree that keeps the caller's progress in the call session.
const IVR: &str = r#"ruleset io.example.ivr {
  meta { shares step, picked }
  global {
    step = function() { session:step }
    picked = function() { session:picked }
  }
  rule answer {
    select when twilio inbound_call
    every {
      twilio:gather_start("pick") with numDigits = 1
      twilio:say("Pick a number")
      twilio:gather_stop()
    }
    always {
      session:step := "menu";
      session:caller{["from"]} := event:attrs{"From"}
    }
  }
  rule pick {
    select when twilio pick
    pre {
      so_far = session:picked.defaultsTo([]).append(event:attrs{"Digits"})
    }
    twilio:say(session:caller{"from"} + " picked " + so_far.join(","))
    always {
      session:picked := so_far;
      session:step := "picked"
    }
  }
  rule peek {
    select when twilio peek
    twilio:say("step " + session:step.defaultsTo("none") + ", picked " + session:picked.defaultsTo([]).join(","))
  }
  rule status {
    select when twilio status
    twilio:say("status with step " + session:step.defaultsTo("none"))
  }
  rule no_call {
    select when echo hello
    send_directive("step", {"step": session:step})
  }
}
"#;

/// Posts a Twilio webhook (form body, unsigned) and returns the TwiML.
fn twilio(url: &str, eci: &str, kind: &str, params: &[(&str, &str)]) -> String {
    let res = twilio::post(
        &format!("{url}/sky/event/{eci}/none/twilio/{kind}"),
        params,
        None,
    );
    let status = res.status().as_u16();
    let body = res.text().unwrap();
    assert_eq!(status, 200, "{kind}: {body}");
    body
}

/// The texts of the `<Say>` elements of a TwiML document.
fn says(twiml: &str) -> Vec<String> {
    twiml
        .split("<Say>")
        .skip(1)
        .map(|s| s.split("</Say>").next().unwrap().to_string())
        .collect()
}

fn answer(url: &str, eci: &str, call: &str, from: &str) {
    let twiml = twilio(
        url,
        eci,
        "inbound_call",
        &[("CallSid", call), ("CallStatus", "ringing"), ("From", from)],
    );
    assert!(twiml.contains("<Gather"), "{twiml}");
}

fn pick(url: &str, eci: &str, call: &str, digit: &str) -> String {
    let twiml = twilio(
        url,
        eci,
        "pick",
        &[
            ("CallSid", call),
            ("CallStatus", "in-progress"),
            ("Digits", digit),
        ],
    );
    says(&twiml).join("|")
}

fn peek(url: &str, eci: &str, call: &str) -> String {
    let twiml = twilio(
        url,
        eci,
        "peek",
        &[("CallSid", call), ("CallStatus", "in-progress")],
    );
    says(&twiml).join("|")
}

fn setup(api: &Api) -> (String, String) {
    let (pico, eci) = api.pico_with(IVR);
    (pico, eci)
}

#[test]
fn two_calls_on_one_pico_keep_their_own_session_across_gathers() {
    let (_dir, s) = server("call_sessions_two", &[]);
    let api = Api::new(&s);
    let (_, eci) = setup(&api);
    let url = s.url.as_str();

    // interleaved, step by step
    answer(url, &eci, "CA1", "+15550001");
    answer(url, &eci, "CA2", "+15550002");
    assert_eq!(pick(url, &eci, "CA1", "1"), "+15550001 picked 1");
    assert_eq!(pick(url, &eci, "CA2", "2"), "+15550002 picked 2");
    assert_eq!(pick(url, &eci, "CA1", "3"), "+15550001 picked 1,3");
    assert_eq!(pick(url, &eci, "CA2", "4"), "+15550002 picked 2,4");

    // and at the same time, from two threads
    std::thread::scope(|scope| {
        for (call, from, digit) in [("CA3", "+15550003", "5"), ("CA4", "+15550004", "6")] {
            let eci = eci.clone();
            scope.spawn(move || {
                answer(url, &eci, call, from);
                let mut expected = Vec::new();
                for _ in 0..8 {
                    expected.push(digit);
                    assert_eq!(
                        pick(url, &eci, call, digit),
                        format!("{from} picked {}", expected.join(","))
                    );
                }
            });
        }
    });

    // a query names its call with a CallSid argument
    let (status, body) = api.query(&eci, "io.example.ivr", "picked", json!({"CallSid": "CA2"}));
    assert_eq!((status, body), (200, json!(["2", "4"])));
    let (status, body) = api.query(&eci, "io.example.ivr", "picked", json!({"CallSid": "CA9"}));
    assert_eq!((status, body), (200, Value::Null));
}

#[test]
fn the_completed_status_callback_ends_the_session_after_its_rules() {
    let (_dir, s) = server("call_sessions_completed", &[]);
    let api = Api::new(&s);
    let (_, eci) = setup(&api);
    let url = s.url.as_str();
    answer(url, &eci, "CA1", "+15550001");
    answer(url, &eci, "CA2", "+15550002");
    pick(url, &eci, "CA1", "7");

    // a status that is not the end keeps it
    let twiml = twilio(
        url,
        &eci,
        "status",
        &[("CallSid", "CA1"), ("CallStatus", "in-progress")],
    );
    assert_eq!(says(&twiml), ["status with step picked"]);
    // `completed`: its own rules still see the session ...
    let twiml = twilio(
        url,
        &eci,
        "status",
        &[
            ("CallSid", "CA1"),
            ("CallStatus", "completed"),
            ("CallDuration", "42"),
        ],
    );
    assert_eq!(says(&twiml), ["status with step picked"]);
    // ... and the next event of that call finds nothing
    assert_eq!(peek(url, &eci, "CA1"), "step none, picked ");
    let (status, body) = api.query(&eci, "io.example.ivr", "step", json!({"CallSid": "CA1"}));
    assert_eq!((status, body), (200, Value::Null));
    // the other call is untouched
    assert_eq!(peek(url, &eci, "CA2"), "step menu, picked ");
}

/// A rule that fails on the `completed` status callback does not keep the
/// call's session alive: the event's writes are dropped, but the session
/// still ends (nothing more will come for that call).
#[test]
fn a_failing_completed_callback_still_ends_the_session() {
    let (_dir, s) = server("call_sessions_completed_fails", &[]);
    let api = Api::new(&s);
    let (pico, eci) = setup(&api);
    api.register_ok(
        r#"ruleset io.example.failing_status {
  rule fail_on_status {
    select when twilio status
    twilio:say("bye") with voice = event:attrs{"Voice"}
  }
}"#,
    );
    api.install_ok(&pico, "io.example.failing_status");
    let url = s.url.as_str();
    answer(url, &eci, "CA1", "+15550001");
    answer(url, &eci, "CA2", "+15550002");
    let listed = |api: &Api| {
        let (status, body) = api.get(&format!("/api/picos/{pico}/sessions"));
        assert_eq!(status, 200, "{body}");
        let mut calls: Vec<String> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| str_of(&s["call_sid"]))
            .collect();
        calls.sort();
        calls
    };
    assert_eq!(listed(&api), ["CA1", "CA2"]);
    // `robot` is not a voice: the event fails (the caller hears the
    // apology), and CA1's session ends all the same
    let twiml = twilio(
        url,
        &eci,
        "status",
        &[
            ("CallSid", "CA1"),
            ("CallStatus", "completed"),
            ("Voice", "robot"),
        ],
    );
    assert!(twiml.contains("<Say"), "the apology: {twiml}");
    assert_eq!(listed(&api), ["CA2"]);
    assert_eq!(peek(url, &eci, "CA1"), "step none, picked ");
    assert_eq!(peek(url, &eci, "CA2"), "step menu, picked ");
}

#[test]
fn sessions_expire_after_the_ttl_and_are_swept() {
    let (dir, s) = server("call_sessions_ttl", &["--call-session-ttl", "0.5"]);
    let api = Api::new(&s);
    let (pico, eci) = setup(&api);
    let url = s.url.as_str();
    answer(url, &eci, "CA1", "+15550001");
    assert_eq!(pick(url, &eci, "CA1", "1"), "+15550001 picked 1");

    // The admin API lists what is stored: the session, not yet expired.
    let sessions = |api: &Api| {
        let (status, body) = api.get(&format!("/api/picos/{pico}/sessions"));
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    };
    let listed = sessions(&api);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["call_sid"], json!("CA1"));
    assert_eq!(
        listed[0]["vars"]["io.example.ivr"]["picked"],
        json!(["1"]),
        "{listed:?}"
    );

    // Nothing is sent to the pico: its own timer sweeps the session off
    // the disk (a query would only hide it).
    wait_for("the engine to sweep the expired session", LIMIT, || {
        sessions(&api).is_empty().then_some(())
    });
    let (status, body) = api.query(&eci, "io.example.ivr", "step", json!({"CallSid": "CA1"}));
    assert_eq!((status, body), (200, Value::Null));

    // A second call expires the same way (that a read past the expiry
    // finds nothing even before the sweep is a unit test in host.rs).
    answer(url, &eci, "CA2", "+15550002");
    wait_for("the second session to expire", LIMIT, || {
        let (_, body) = api.query(&eci, "io.example.ivr", "step", json!({"CallSid": "CA2"}));
        body.is_null().then_some(())
    });
    wait_for("the engine to sweep the second session", LIMIT, || {
        sessions(&api).is_empty().then_some(())
    });

    // and the store holds no trace of either (a clean stop flushes; the
    // clients go first, so no idle connection holds up the drain)
    drop(api);
    assert_eq!(s.terminate(), Some(0));
    let store = Store::open(&dir.path().join("data")).unwrap();
    let pico = PicoId::new(pico);
    assert!(store.keys(&Key::sessions(&pico)).unwrap().is_empty());
    for call in ["CA1", "CA2"] {
        assert!(store
            .keys(&Key::session_vars(&pico, "io.example.ivr", call))
            .unwrap()
            .is_empty());
    }
    assert!(store.session_picos().unwrap().is_empty());
}

#[test]
fn sessions_survive_a_restart() {
    let dir = krl_tests::ScratchDir::new("call_sessions_restart");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    let (_, eci) = setup(&api);
    answer(&s.url, &eci, "CA1", "+15550001");
    assert_eq!(pick(&s.url, &eci, "CA1", "4"), "+15550001 picked 4");
    // answered means durable: a kill -9 loses nothing
    s.kill();

    let s = server_at(&data, &[]);
    assert_eq!(pick(&s.url, &eci, "CA1", "2"), "+15550001 picked 4,2");
    assert_eq!(peek(&s.url, &eci, "CA1"), "step picked, picked 4,2");
    twilio(
        &s.url,
        &eci,
        "status",
        &[("CallSid", "CA1"), ("CallStatus", "completed")],
    );
    assert_eq!(peek(&s.url, &eci, "CA1"), "step none, picked ");
}

#[test]
fn session_variables_in_an_event_without_a_call_are_a_positioned_error() {
    let (_dir, s) = server("call_sessions_no_call", &[]);
    let api = Api::new(&s);
    let (_, eci) = setup(&api);
    let (status, body) = api.event(&eci, "echo", "hello", json!({}));
    assert_eq!(status, 500, "{body}");
    assert!(
        str_of(&body["error"])
            .starts_with("session: variables need a call: this event has no CallSid"),
        "{body}"
    );
    assert_eq!(body["rid"], json!("io.example.ivr"));
    assert_eq!(body["rule"], json!("no_call"));
    // `send_directive("step", {"step": session:step})`
    assert_eq!((&body["line"], &body["col"]), (&json!(40), &json!(37)));

    // a twilio event without one answers the apology (and logs the error)
    let twiml = twilio(&s.url, &eci, "peek", &[("From", "+15550001")]);
    assert_eq!(says(&twiml), ["Sorry, something went wrong."]);
    s.log_line("the error in the log", |l| {
        l.contains("this event has no CallSid") && l.contains("peek")
    });
    // a query without a CallSid argument is a 500 naming it
    let res = Client::new()
        .post(format!("{}/sky/cloud/{eci}/io.example.ivr/step", s.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let (status, body) = read(res);
    assert_eq!(status, 500, "{body}");
    assert!(
        str_of(&body["error"]).contains("this query has no CallSid argument"),
        "{body}"
    );
}
