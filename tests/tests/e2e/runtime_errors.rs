//! A KRL runtime error through the server: the event's answer is a JSON
//! error naming the ruleset, rule, line and column; none of the failed
//! event's writes are kept; and the pico goes on serving the next event.

use krl_tests::api::{server, Api};
use serde_json::json;

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

#[test]
fn runtime_error_is_positioned_json_and_the_next_event_works() {
    let (_dir, s) = server("runtime-errors", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let tries = format!("/sky/cloud/{eci}/io.example.fragile/tries");

    let (status, err) = api.event(&eci, "test", "go", json!({"x": "abc"}));
    assert!((400..600).contains(&status), "{status} {err}");
    let message = err["error"].as_str().expect("an error message");
    for part in ["io.example.fragile", "fragile", "9:"] {
        assert!(message.contains(part), "{message:?} should name {part}");
    }
    // the failed event kept none of its writes
    assert_eq!(api.get_public(&tries), (200, json!(0)));

    let (status, body) = api.event(&eci, "test", "fine", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directives"][0]["name"], json!("fine"));
    assert_eq!(
        api.get_public(&format!("/sky/cloud/{eci}/io.example.fragile/ok")),
        (200, json!(1))
    );
}
