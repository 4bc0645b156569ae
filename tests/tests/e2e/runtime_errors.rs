//! A KRL runtime error through the server: the event's answer is a JSON
//! error naming the ruleset, rule, line and column; none of the failed
//! event's writes are kept; and the pico goes on serving the next event.

use krl_tests::{ScratchDir, Server};
use reqwest::blocking::Client;
use serde_json::{json, Value};

const TOKEN: &str = "test-token";

// Line 9 multiplies a string; `ent:tries` is written before the failing
// statement, in the same postlude.
const RULESET: &str = r#"ruleset io.example.fragile {
  meta { shares tries, ok }
  global {
    tries = function() { ent:tries.defaultsTo(0) }
    ok = function() { ent:ok.defaultsTo(0) }
  }
  rule fragile {
    select when test go
    always { ent:tries := tries() + 1; boom = event:attrs{"x"} * 2 }
  }
  rule fine {
    select when test fine
    send_directive("fine")
    always { ent:ok := ok() + 1 }
  }
}
"#;

fn post(c: &Client, s: &Server, path: &str, ct: &str, body: String) -> (u16, Value) {
    let res = c
        .post(format!("{}{path}", s.url))
        .bearer_auth(&s.admin_token)
        .header("content-type", ct)
        .body(body)
        .send()
        .expect("request");
    let status = res.status().as_u16();
    (
        status,
        serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

fn get(c: &Client, s: &Server, path: &str) -> (u16, Value) {
    let res = c.get(format!("{}{path}", s.url)).send().expect("request");
    let status = res.status().as_u16();
    (
        status,
        serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

#[test]
fn runtime_error_is_positioned_json_and_the_next_event_works() {
    let dir = ScratchDir::new("runtime-errors");
    let s = Server::start(&dir.path().join("data"), &["--admin-token", TOKEN]);
    let c = Client::new();
    let (status, body) = post(&c, &s, "/api/rulesets", "text/plain", RULESET.into());
    assert_eq!(status, 200, "{body}");
    let (status, pico) = post(
        &c,
        &s,
        "/api/picos",
        "application/json",
        json!({"name": "f"}).to_string(),
    );
    assert_eq!(status, 200, "{pico}");
    let (id, eci) = (pico["id"].as_str().unwrap(), pico["eci"].as_str().unwrap());
    let (status, body) = post(
        &c,
        &s,
        &format!("/api/picos/{id}/rulesets"),
        "application/json",
        json!({"rid": "io.example.fragile"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");

    let (status, err) = post(
        &c,
        &s,
        &format!("/sky/event/{eci}/none/test/go"),
        "application/json",
        r#"{"x": "abc"}"#.into(),
    );
    assert!((400..600).contains(&status), "{status} {err}");
    let message = err["error"].as_str().expect("an error message");
    for part in ["io.example.fragile", "fragile", "9:"] {
        assert!(message.contains(part), "{message:?} should name {part}");
    }
    // the failed event kept none of its writes
    assert_eq!(
        get(
            &c,
            &s,
            &format!("/sky/cloud/{eci}/io.example.fragile/tries")
        ),
        (200, json!(0))
    );

    let (status, body) = post(
        &c,
        &s,
        &format!("/sky/event/{eci}/none/test/fine"),
        "application/json",
        "{}".into(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directives"][0]["name"], json!("fine"));
    assert_eq!(
        get(&c, &s, &format!("/sky/cloud/{eci}/io.example.fragile/ok")),
        (200, json!(1))
    );
}
