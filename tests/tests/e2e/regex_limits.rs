//! Regexes that can't stall a pico (issue 13, item 2): the issue's
//! catastrophic pattern answers at once through the linear engine; a
//! pattern that needs backtracking stops within `--max-ops` with a
//! positioned error; the pico's next query and event work.

use krl_tests::api::{server, Api};
use serde_json::json;
use std::time::{Duration, Instant};

const RE: &str = r#"ruleset io.example.re {
  meta { shares linear, backref, hits }
  global {
    linear = function(s) { s.match(re#^(a+)+$#) }
    backref = function(s) { s.extract(re#^(a+)+\1$#) }
    hits = function() { ent:hits.defaultsTo(0) }
  }
  rule bad {
    select when re bad
    pre { x = event:attrs{"s"}.extract(re#^(a+)+\1$#) }
    always { ent:hits := ent:hits.defaultsTo(0) + 100 }
  }
  rule hello {
    select when re hello
    send_directive("hi")
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}
"#;

#[test]
fn a_catastrophic_regex_answers_promptly_and_the_pico_goes_on() {
    let (_dir, s) = server("regex_limits", &["--max-ops", "2000000"]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RE);
    let hostile = format!("{}b", "a".repeat(37));

    // The issue's example: linear time, the right answer.
    let t0 = Instant::now();
    let (status, body) = api.query(&eci, "io.example.re", "linear", json!({"s": hostile}));
    assert_eq!((status, body), (200, json!(false)));
    let (status, body) = api.query(&eci, "io.example.re", "linear", json!({"s": "aaaa"}));
    assert_eq!((status, body), (200, json!(true)));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    // A back reference needs the backtracker: stopped within --max-ops.
    let t0 = Instant::now();
    let (status, body) = api.query(&eci, "io.example.re", "backref", json!({"s": hostile}));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("steps of backtracking on this input: stopped"),
        "{body}"
    );
    assert_eq!(
        (body["line"].as_u64(), body["col"].as_u64()),
        (Some(5), Some(29)),
        "{body}"
    );

    // The next query answers, and an event with the same search fails
    // alone: nothing it would have written is kept.
    let (status, body) = api.query(&eci, "io.example.re", "backref", json!({"s": "aaaa"}));
    assert_eq!((status, body), (200, json!(["a"])));
    let (status, body) = api.event(&eci, "re", "bad", json!({"s": hostile}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["rule"], json!("bad"), "{body}");
    let (status, body) = api.event(&eci, "re", "hello", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directives"][0]["name"], json!("hi"), "{body}");
    let (status, body) = api.query(&eci, "io.example.re", "hits", json!({}));
    assert_eq!((status, body), (200, json!(1)));
}
