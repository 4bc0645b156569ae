//! `--max-ops`, `--max-depth`, `--max-raised`: runaway rulesets answer a
//! clear KRL error (with rid, rule, line, col) and the pico goes on.

use krl_tests::api::{server, Api};
use serde_json::{json, Value};

const LIMITS: &str = r#"ruleset io.example.limits {
  meta { shares deep, busy, hits }
  global {
    down = function(n) { down(n + 1) }
    deep = function() { down(0) }
    busy = function() { 1.range(50000).map(function(x) { x + 1 }).length() }
    hits = function() { ent:hits.defaultsTo(0) }
  }
  rule loop {
    select when loop go
    always { raise loop event "go" }
  }
  rule recurse {
    select when loop recurse
    pre { x = down(0) }
  }
  rule hello {
    select when echo hello
    send_directive("hi")
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}
"#;

/// A KRL runtime error as the engine answers it.
fn assert_krl_error(status: u16, body: &Value, rule: Option<&str>, words: &str) {
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{body}");
    assert_eq!(body["rid"], json!("io.example.limits"), "{body}");
    assert_eq!(body["rule"], json!(rule), "{body}");
    assert!(body["line"].as_u64().is_some_and(|l| l > 1), "{body}");
    assert!(body["col"].as_u64().is_some_and(|c| c >= 1), "{body}");
}

#[test]
fn runaway_raises_recursion_and_work_are_stopped_and_the_pico_goes_on() {
    let (_dir, s) = server(
        "limits",
        &[
            "--max-raised",
            "50",
            "--max-depth",
            "40",
            "--max-ops",
            "20000",
        ],
    );
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(LIMITS);
    let hello = |api: &Api| {
        let (status, body) = api.event(&eci, "echo", "hello", json!({}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["directives"][0]["name"], json!("hi"), "{body}");
    };

    let (status, body) = api.event(&eci, "loop", "go", json!({}));
    assert_krl_error(status, &body, Some("loop"), "more than 50 events raised");
    hello(&api);

    let (status, body) = api.event(&eci, "loop", "recurse", json!({}));
    assert_krl_error(status, &body, Some("recurse"), "deeper than 40");
    hello(&api);

    let (status, body) = api.query(&eci, "io.example.limits", "deep", json!({}));
    assert_krl_error(status, &body, None, "deeper than 40");
    let (status, body) = api.query(&eci, "io.example.limits", "busy", json!({}));
    assert_krl_error(status, &body, None, "more than 20000 steps");

    // The failed events wrote nothing; the two good ones did.
    let (status, body) = api.query(&eci, "io.example.limits", "hits", json!({}));
    assert_eq!((status, body), (200, json!(2)));
}

#[test]
fn limit_flags_refuse_zero() {
    let dir = krl_tests::ScratchDir::new("limits-zero");
    let failure = krl_tests::Server::try_start(&dir.path().join("data"), &["--max-depth", "0"])
        .err()
        .expect("--max-depth 0 is refused");
    assert!(failure.stderr.contains("--max-depth"), "{}", failure.stderr);
}
