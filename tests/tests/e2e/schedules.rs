//! Scheduled events are stored with the pico and still fire after the
//! engine was killed and started again.

use krl_tests::{ScratchDir, Server};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token";

const RULESET: &str = r#"ruleset io.example.later {
  meta { shares fired, pending }
  global {
    fired = function() { ent:fired.defaultsTo(0) }
    pending = function() { schedule:list().length() }
  }
  rule plan {
    select when later plan
    fired { schedule later event "ring" at time:add(time:now(), {"seconds": 2}) }
  }
  rule ring {
    select when later ring
    always { ent:fired := fired() + 1 }
  }
}
"#;

fn call(c: &Client, s: &Server, path: &str, body: Option<(&str, String)>) -> (u16, Value) {
    let req = match body {
        Some((ct, b)) => c
            .post(format!("{}{path}", s.url))
            .header("content-type", ct)
            .body(b),
        None => c.get(format!("{}{path}", s.url)),
    };
    let res = req.bearer_auth(&s.admin_token).send().expect("request");
    let status = res.status().as_u16();
    (
        status,
        serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

#[test]
fn a_scheduled_event_fires_after_a_restart() {
    let dir = ScratchDir::new("schedules");
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--admin-token", TOKEN]);
    let c = Client::new();
    let json = |v: Value| Some(("application/json", v.to_string()));
    assert_eq!(
        call(
            &c,
            &s,
            "/api/rulesets",
            Some(("text/plain", RULESET.into()))
        )
        .0,
        200
    );
    let (_, pico) = call(&c, &s, "/api/picos", json(json!({"name": "p"})));
    let (id, eci) = (
        pico["id"].as_str().unwrap().to_string(),
        pico["eci"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        call(
            &c,
            &s,
            &format!("/api/picos/{id}/rulesets"),
            json(json!({"rid": "io.example.later"}))
        )
        .0,
        200
    );
    let (status, body) = call(
        &c,
        &s,
        &format!("/sky/event/{eci}/none/later/plan"),
        json(json!({})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        call(
            &c,
            &s,
            &format!("/sky/cloud/{eci}/io.example.later/pending"),
            None
        ),
        (200, json!(1))
    );
    s.kill(); // kill -9, before the event is due

    let s = Server::start(&data, &["--admin-token", TOKEN]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, fired) = call(
            &c,
            &s,
            &format!("/sky/cloud/{eci}/io.example.later/fired"),
            None,
        );
        if fired == json!(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled event never fired after the restart"
        );
        std::thread::sleep(Duration::from_millis(100)); // polling the observable result
    }
    assert_eq!(
        call(
            &c,
            &s,
            &format!("/sky/cloud/{eci}/io.example.later/pending"),
            None
        ),
        (200, json!(0))
    );
}
