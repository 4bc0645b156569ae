//! A stored ruleset that no longer compiles (written by an older engine,
//! or an edited store) does not stop `krl serve`: it is marked broken, the
//! admin API and the log say why, picos keep running their other
//! rulesets, queries to it answer the error, and registering it again
//! repairs it.
//!
//! The test plays the edit by opening the stopped engine's data folder
//! with the engine's own store code (`krl::store`), so the keys are the
//! real ones.

use krl::ids::Rid;
use krl::store::{Key, Store, WriteBuf};
use krl_tests::api::{server_at, str_of, Api};
use krl_tests::ScratchDir;
use serde_json::json;

const OK: &str = r#"ruleset io.example.ok {
  meta { shares hello }
  global { hello = function() { "still here" } }
  rule hi {
    select when echo hello
    send_directive("ok")
  }
}
"#;

const FRAGILE: &str = r#"ruleset io.example.fragile {
  meta { shares hits }
  global { hits = function() { ent:hits.defaultsTo(0) } }
  rule count {
    select when echo hello
    send_directive("fragile")
    always { ent:hits := hits() + 1 }
  }
}
"#;

/// What an older engine might have written: `}` where an expression
/// should be, on line 4, column 19.
const OLD_SOURCE: &str = "ruleset io.example.fragile {\n  rule r {\n    select when echo hello\n    pre { x = 1 + }\n  }\n}\n";

const OTHER: &str = r#"ruleset io.example.other {
  rule r { select when echo other send_directive("other") }
}
"#;

/// Raises `echo hello` (it must be answered): the directives.
fn echo_hello(api: &Api, eci: &str) -> Vec<serde_json::Value> {
    let (status, body) = api.event(eci, "echo", "hello", json!({}));
    assert_eq!(status, 200, "{body}");
    body["directives"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_ruleset_that_no_longer_compiles_is_marked_broken_and_the_rest_runs() {
    if krl_tests::sled_only(
        "a_ruleset_that_no_longer_compiles",
        "it edits the sled folder",
    ) {
        return;
    }
    let dir = ScratchDir::new("broken");
    let data = dir.path().join("data");
    let (pico, eci) = {
        let s = server_at(&data, &[]);
        let api = Api::new(&s);
        api.register_ok(OK);
        api.register_ok(FRAGILE);
        let (pico, eci) = api.new_pico();
        api.install_ok(&pico, "io.example.ok");
        api.install_ok(&pico, "io.example.fragile");
        let directives = echo_hello(&api, &eci);
        assert_eq!(directives.len(), 2, "{directives:?}");
        s.kill();
        (pico, eci)
    };

    // The edit: fragile's stored source no longer compiles, and a record
    // that is not a ruleset record at all sits under another rid.
    {
        let store = Store::open(&data).expect("the stopped engine's store");
        let rid = Rid::new("io.example.fragile");
        let mut rec = store.ruleset(&rid).unwrap().expect("fragile is stored");
        rec.source = OLD_SOURCE.to_string();
        let mut buf = WriteBuf::new();
        buf.put(Key::ruleset(&rid), &rec);
        buf.put(
            Key::ruleset(&Rid::new("io.example.garbage")),
            &json!("garbage"),
        );
        store.apply(buf).unwrap();
        store.flush_now().unwrap();
    }

    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    s.log_line("the log to name the broken ruleset", |l| {
        l.contains("io.example.fragile") && l.contains("no longer compiles")
    });

    // The admin API shows it broken, with line and column.
    let (status, list) = api.get("/api/rulesets");
    assert_eq!(status, 200, "{list}");
    let rids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| str_of(&r["rid"]))
        .collect();
    assert_eq!(
        rids,
        ["io.example.fragile", "io.example.garbage", "io.example.ok"]
    );
    let broken = str_of(&list[0]["broken"]);
    assert!(broken.starts_with("4:19: "), "{broken}");
    assert!(list[0]["hash"].is_string(), "{list}");
    assert!(
        str_of(&list[1]["broken"]).contains("not valid JSON"),
        "{list}"
    );
    assert!(list[2].get("broken").is_none(), "{list}");
    let (status, one) = api.get("/api/rulesets/io.example.fragile");
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["broken"], json!(broken));
    assert_eq!(one["source"], json!(OLD_SOURCE));

    // The pico runs its other ruleset; the broken one answers its error.
    let directives = echo_hello(&api, &eci);
    assert_eq!(directives.len(), 1, "{directives:?}");
    assert_eq!(directives[0]["name"], json!("ok"));
    let (status, body) = api.query(&eci, "io.example.ok", "hello", json!({}));
    assert_eq!((status, body), (200, json!("still here")));
    let (status, body) = api.query(&eci, "io.example.fragile", "hits", json!({}));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["rid"], json!("io.example.fragile"));
    let message = str_of(&body["error"]);
    assert!(
        message.contains("broken") && message.contains("4:19"),
        "{message}"
    );

    // It cannot be installed anywhere else meanwhile.
    let (other_pico, _) = api.new_pico();
    let (status, body) = api.install(&other_pico, "io.example.fragile");
    assert_eq!(status, 409, "{body}");
    assert!(str_of(&body["error"]).contains("4:19"), "{body}");

    // Its install stays, also when the pico writes its installs again.
    api.register_ok(OTHER);
    api.install_ok(&pico, "io.example.other");
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(
        info["rulesets"],
        json!(["io.example.ok", "io.example.fragile", "io.example.other"])
    );

    // Registering it again repairs it, with its entity variables.
    api.register_ok(FRAGILE);
    let (status, list) = api.get("/api/rulesets");
    assert_eq!(status, 200);
    assert!(list[0].get("broken").is_none(), "{list}");
    let (status, body) = api.query(&eci, "io.example.fragile", "hits", json!({}));
    assert_eq!((status, body), (200, json!(1)));
    let directives = echo_hello(&api, &eci);
    assert_eq!(directives.len(), 2, "{directives:?}");
}
