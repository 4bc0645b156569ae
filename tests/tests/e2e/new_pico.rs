//! `POST /api/picos` with `"rulesets": [{"rid", "config"}]`: the pico is
//! made with those rulesets installed, or not at all (no pico, no
//! channel, no entry in its parent's children).

use krl::store::{Key, Store};
use krl_tests::api::{server_at, str_of, Api};
use krl_tests::ScratchDir;
use serde_json::json;

const OK: &str = r#"ruleset io.example.ok {
  meta { shares hello }
  global { hello = function() { "hello" } }
}
"#;

/// Its globals fail unless the install config has a number `n`.
const NEEDS_N: &str = r#"ruleset io.example.needs_n {
  meta { shares twice }
  global {
    nothing = null
    n = meta:rulesetConfig{"n"}
    doubled = n.isnull() => nothing() | n * 2
    twice = function() { doubled }
  }
}
"#;

const USES_OK: &str = r#"ruleset io.example.uses_ok {
  meta { use module io.example.ok alias ok }
}
"#;

#[test]
fn a_new_pico_gets_its_rulesets_or_is_not_made() {
    let dir = ScratchDir::new("new-pico-rulesets");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    api.register_ok(OK);
    api.register_ok(NEEDS_N);
    api.register_ok(USES_OK);
    let (_, engine) = api.get("/api/engine");
    let root = str_of(&engine["root_pico"]);
    let children = || api.get(&format!("/api/picos/{root}")).1["children"].clone();

    // Refused before anything is made.
    let refused = [
        (
            json!([{"rid": "io.example.ok"}, {"rid": "no.such.rid"}]),
            404,
            "no.such.rid",
        ),
        (
            json!([{"rid": "io.example.ok", "config": [1]}]),
            400,
            "config",
        ),
        (
            json!([{"rid": "io.example.ok"}, {"rid": "io.example.ok"}]),
            400,
            "twice",
        ),
        (
            json!([{"rid": "io.example.uses_ok"}, {"rid": "io.example.ok"}]),
            409,
            "io.example.ok",
        ),
        (json!([{"rid": "io.example.ok", "nope": 1}]), 400, "nope"),
    ];
    for (rulesets, status, words) in refused {
        let (got, body) = api.post("/api/picos", json!({"name": "x", "rulesets": rulesets}));
        assert_eq!(got, status, "{rulesets}: {body}");
        assert!(str_of(&body["error"]).contains(words), "{rulesets}: {body}");
    }
    assert_eq!(children(), json!([]));

    // An install that fails (its globals) takes the new pico back.
    let (got, body) = api.post(
        "/api/picos",
        json!({"rulesets": [{"rid": "io.example.ok"}, {"rid": "io.example.needs_n"}]}),
    );
    assert_eq!(got, 500, "{body}");
    assert_eq!(body["rid"], json!("io.example.needs_n"), "{body}");
    assert_eq!(children(), json!([]));

    // All good: made with both, in order, configs applied.
    let (got, body) = api.post(
        "/api/picos",
        json!({"name": "full", "rulesets": [
            {"rid": "io.example.ok"},
            {"rid": "io.example.needs_n", "config": {"n": 21}},
            {"rid": "io.example.uses_ok"}
        ]}),
    );
    assert_eq!(got, 200, "{body}");
    let (pico, eci) = (str_of(&body["id"]), str_of(&body["eci"]));
    assert_eq!(children(), json!([pico]));
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(
        info["rulesets"],
        json!(["io.example.ok", "io.example.needs_n", "io.example.uses_ok"])
    );
    assert_eq!(
        api.query(&eci, "io.example.needs_n", "twice", json!({})),
        (200, json!(42))
    );

    // In the store: the root and the one pico, and their channels only:
    // each one's open channel and self channel, and the two family
    // channels between them (docs/pico-engine.md).
    if s.is_cluster() {
        return; // the rest reads the sled folder
    }
    s.kill();
    let store = Store::open(&data).unwrap();
    assert_eq!(store.keys(&Key::picos()).unwrap().len(), 2);
    assert_eq!(store.keys(&Key::channels()).unwrap().len(), 6);
}
