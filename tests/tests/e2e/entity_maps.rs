//! Entity maps written by path (`ent:m{[k]} := v`): what rules and
//! queries see through the server, across restarts, failed events and an
//! uninstall. The store keeps such maps by entry (engine/server/src/host/ent.rs).

use krl_tests::api::{server_at, Api};
use krl_tests::ScratchDir;
use serde_json::json;

const CHOICES: &str = r#"
ruleset io.test.choices {
  meta { shares all, of }
  global {
    all = function() { ent:choices }
    of = function(caller) { ent:choices{caller} }
  }
  rule record {
    select when call choice
    pre {
      caller = event:attr("caller")
      digits = event:attr("digits")
    }
    send_directive("recorded", {"before": ent:choices{[caller]}})
    fired { ent:choices{[caller]} := digits }
  }
  rule nested {
    select when call note
    fired { ent:choices{[event:attr("caller"), "note"]} := event:attr("note") }
  }
  rule forget {
    select when call forget
    fired { clear ent:choices{event:attr("caller")} }
  }
  rule fail_after_write {
    select when call broken
    fired {
      ent:choices{["ghost"]} := "never";
      boom = event:attrs{"x"} * 2
    }
  }
}
"#;

#[test]
fn maps_written_by_path_read_back_in_order_survive_a_restart_and_go_with_an_uninstall() {
    let dir = ScratchDir::new("entity-maps");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(CHOICES);
    let all = |api: &Api| api.query(&eci, "io.test.choices", "all", json!({}));

    for (caller, digits) in [("+15550003", "1"), ("+15550001", "2"), ("+15550002", "3")] {
        let (status, body) = api.event(
            &eci,
            "call",
            "choice",
            json!({"caller": caller, "digits": digits}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["directives"][0]["options"]["before"], json!(null));
    }
    // Written again: the old value is read by path, the place is kept.
    let (_, body) = api.event(
        &eci,
        "call",
        "choice",
        json!({"caller": "+15550003", "digits": "9"}),
    );
    assert_eq!(body["directives"][0]["options"]["before"], json!("1"));
    let (_, body) = api.event(
        &eci,
        "call",
        "note",
        json!({"caller": "+15550001", "note": "late"}),
    );
    assert_eq!(body["directives"], json!([]));
    let expect = json!({"+15550003": "9", "+15550001": {"note": "late"}, "+15550002": "3"});
    let (status, got) = all(&api);
    assert_eq!(status, 200);
    assert_eq!(got.to_string(), expect.to_string(), "values and order");

    // A failing event writes none of its entries.
    let (status, err) = api.event(&eci, "call", "broken", json!({"x": "abc"}));
    assert!((400..600).contains(&status), "{status} {err}");
    assert_eq!(all(&api).1.to_string(), expect.to_string());

    // The same after a restart on the same data folder.
    drop(s);
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    assert_eq!(all(&api).1.to_string(), expect.to_string());
    let (_, one) = api.query(
        &eci,
        "io.test.choices",
        "of",
        json!({"caller": "+15550002"}),
    );
    assert_eq!(one, json!("3"));

    api.event(&eci, "call", "forget", json!({"caller": "+15550003"}));
    assert_eq!(
        all(&api).1.to_string(),
        json!({"+15550001": {"note": "late"}, "+15550002": "3"}).to_string()
    );

    // Uninstalled, its variables go, entries and all.
    assert_eq!(
        api.delete(&format!("/api/picos/{pico}/rulesets/io.test.choices"))
            .0,
        204
    );
    api.install_ok(&pico, "io.test.choices");
    assert_eq!(all(&api), (200, json!(null)));
    let (_, one) = api.query(
        &eci,
        "io.test.choices",
        "of",
        json!({"caller": "+15550002"}),
    );
    assert_eq!(one, json!(null));
    drop(dir);
}
