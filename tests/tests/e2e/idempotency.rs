//! Idempotent events (issue 13, item 7; docs/server.md, "Idempotent
//! events"): an event resent with the same `Idempotency-Key` (or Twilio's
//! `I-Twilio-Idempotency-Token`) after its first try was committed is
//! answered with the stored answer and applies nothing again — across a
//! `kill -9` between the commit and the answer. The eid in the URL is not
//! a key.

use krl_tests::api::{send, server_at, wait_for, Api};
use krl_tests::ScratchDir;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::time::Duration;

const RULESET: &str = r#"ruleset io.example.idem {
  meta { shares n }
  global { n = function() { ent:n.defaultsTo(0) } }
  rule count {
    select when idem hit
    send_directive("counted", {"n": ent:n.defaultsTo(0) + 1})
    always { ent:n := ent:n.defaultsTo(0) + 1 }
  }
  rule call {
    select when twilio inbound_call
    twilio:say("You are caller " + (ent:n.defaultsTo(0) + 1))
    always { ent:n := ent:n.defaultsTo(0) + 1 }
  }
  rule fail {
    select when idem fail
    pre {
      x = ent:n.defaultsTo(0) + 1;
      y = event:attrs{"boom"} => event:attrs{"boom"} * 2 | 0
    }
    send_directive("x", {"n": x, "y": y})
    always { ent:n := x }
  }
}
"#;

fn post(url: &str, key: Option<(&str, &str)>, body: Value) -> (u16, Value) {
    let mut req = Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((header, key)) = key {
        req = req.header(header, key);
    }
    send(req)
}

fn count(api: &Api, eci: &str) -> Value {
    let (status, n) = api.query(eci, "io.example.idem", "n", json!({}));
    assert_eq!(status, 200, "{n}");
    n
}

#[test]
fn a_resent_event_after_a_kill_between_commit_and_answer_applies_once() {
    let dir = ScratchDir::new("idem-kill");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let (eci, url) = {
        let api = Api::new(&s);
        let (_, eci) = api.pico_with(RULESET);
        (eci, s.url.clone())
    };
    // The first try: /c/.../event answers the eid once the event is
    // queued, before the rules run, so the event's own answer (its
    // directives) reaches no one. A query answers only once the state it
    // reads is on disk: when it shows the count, the event (and its key)
    // is committed. Then kill -9: the answer is lost for good.
    let (status, eid) = post(
        &format!("{url}/c/{eci}/event/idem/hit"),
        Some(("Idempotency-Key", "order-1")),
        json!({}),
    );
    assert_eq!(status, 200, "{eid}");
    {
        let api = Api::new(&s);
        wait_for("the first try committed", Duration::from_secs(30), || {
            (count(&api, &eci) == json!(1)).then_some(())
        });
    }
    s.kill();

    // The client resends with the same key (and another eid): the stored
    // answer, nothing applied again.
    let s = server_at(&data, &[]);
    let url = s.url.clone();
    let api = Api::new(&s);
    let (status, first) = post(
        &format!("{url}/sky/event/{eci}/resent-eid/idem/hit"),
        Some(("Idempotency-Key", "order-1")),
        json!({}),
    );
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["directives"][0]["name"], json!("counted"), "{first}");
    assert_eq!(
        first["directives"][0]["options"],
        json!({"n": 1}),
        "{first}"
    );
    assert_eq!(count(&api, &eci), json!(1));
    // The stored answer is the first try's: its eid, not the resend's.
    assert_eq!(first["eid"], eid, "{first}");
    // Every event route replays it.
    let (status, again) = post(
        &format!("{url}/c/{eci}/event-wait/idem/hit"),
        Some(("Idempotency-Key", "order-1")),
        json!({}),
    );
    assert_eq!((status, &again), (200, &first));
    let (status, v) = post(
        &format!("{url}/c/{eci}/event/idem/hit/query/io.example.idem/n"),
        Some(("Idempotency-Key", "order-1")),
        json!({}),
    );
    assert_eq!((status, v), (200, json!(1)));
    assert_eq!(count(&api, &eci), json!(1));

    // Another key is another event.
    let (status, other) = post(
        &format!("{url}/sky/event/{eci}/none/idem/hit"),
        Some(("Idempotency-Key", "order-2")),
        json!({}),
    );
    assert_eq!(status, 200, "{other}");
    assert_eq!(
        other["directives"][0]["options"],
        json!({"n": 2}),
        "{other}"
    );

    // The eid alone is not a key: the same eid twice applies twice.
    for n in [3, 4] {
        let (status, a) = post(
            &format!("{url}/sky/event/{eci}/same-eid/idem/hit"),
            None,
            json!({}),
        );
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["directives"][0]["options"], json!({"n": n}), "{a}");
    }

    // A failed event records no key: its resend runs again.
    let (status, e) = post(
        &format!("{url}/sky/event/{eci}/none/idem/fail"),
        Some(("Idempotency-Key", "order-3")),
        json!({"boom": "not a number"}),
    );
    assert_eq!(status, 500, "{e}");
    assert_eq!(count(&api, &eci), json!(4));
    let (status, ok) = post(
        &format!("{url}/sky/event/{eci}/none/idem/fail"),
        Some(("Idempotency-Key", "order-3")),
        json!({}),
    );
    assert_eq!(status, 200, "{ok}");
    assert_eq!(count(&api, &eci), json!(5));
}

#[test]
fn twilio_s_idempotency_token_answers_the_same_twiml_once() {
    let dir = ScratchDir::new("idem-twilio");
    let s = server_at(&dir.path().join("data"), &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let url = format!("{}/sky/event/{eci}/none/twilio/inbound_call", s.url);
    let webhook = |token: &str| {
        let res = Client::new()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("I-Twilio-Idempotency-Token", token)
            .body("CallSid=CA1&From=%2B15550001")
            .send()
            .expect("posting");
        (res.status().as_u16(), res.text().unwrap())
    };
    let (status, first) = webhook("tw-token-1");
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("You are caller 1"), "{first}");
    // Twilio's retry of the same webhook: the same TwiML, counted once.
    let (status, retry) = webhook("tw-token-1");
    assert_eq!((status, &retry), (200, &first));
    assert_eq!(count(&api, &eci), json!(1));
    let (_, next) = webhook("tw-token-2");
    assert!(next.contains("You are caller 2"), "{next}");
}
