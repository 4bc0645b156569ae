//! `install:refuse(message)`: a ruleset refuses an install configuration
//! it cannot work with (docs/engine.md). The install answers 400 with the
//! ruleset's message and leaves the pico as it was; anywhere else the
//! call is an ordinary runtime error.

use krl_tests::api::{server, str_of, Api};
use serde_json::json;

const PICKY: &str = r#"ruleset io.example.picky {
  meta { shares size }
  global {
    config = meta:rulesetConfig.defaultsTo({})
    problems = config{"size"}.isnull() => ["[box] size: missing"]
             | (config{"size"} like re#^\d+$# => [] | ["[box] size: must be a whole number"])
    valid = problems.length() == 0 || install:refuse(problems.join("; "))
    size = function() { config{"size"} }
  }
  rule later {
    select when picky refuse
    send_directive("never", {"x": install:refuse("not at install")})
  }
}
"#;

#[test]
fn a_refused_install_is_400_with_the_rulesets_message_and_changes_nothing() {
    let (_dir, s) = server("refuse", &[]);
    let api = Api::new(&s);
    api.register_ok(PICKY);
    let (pico, eci) = api.new_pico();
    let install = |config: serde_json::Value| {
        api.post(
            &format!("/api/picos/{pico}/rulesets"),
            json!({"rid": "io.example.picky", "config": config}),
        )
    };

    let (status, body) = install(json!({}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "[box] size: missing", "{body}");
    assert_eq!(body["rid"], "io.example.picky", "{body}");
    assert!(body.get("line").is_none(), "no KRL position: {body}");
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["rulesets"], json!([]), "nothing installed: {info}");

    let (status, body) = install(json!({"size": "big"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "[box] size: must be a whole number");

    // A good configuration installs; a bad one later keeps the good one.
    let (status, body) = install(json!({"size": "12"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = install(json!({"size": "x"}));
    assert_eq!(status, 400, "{body}");
    let (status, size) = api.query(&eci, "io.example.picky", "size", json!({}));
    assert_eq!((status, str_of(&size)), (200, "12".to_string()));

    // Outside an install it is a runtime error like any other.
    let (status, body) = api.event(&eci, "picky", "refuse", json!({}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["error"],
        "install refused: not at install (io.example.picky, rule later, 12:35)"
    );
}

#[test]
fn a_new_pico_whose_install_is_refused_is_not_made() {
    let (_dir, s) = server("refuse-new", &[]);
    let api = Api::new(&s);
    api.register_ok(PICKY);
    let (_, before) = api.get("/api/picos");
    let (status, body) = api.post(
        "/api/picos",
        json!({"name": "p", "rulesets": [{"rid": "io.example.picky", "config": {"size": []}}]}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "[box] size: must be a whole number");
    let (_, after) = api.get("/api/picos");
    assert_eq!(before, after, "no pico left behind");
}
