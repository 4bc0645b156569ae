//! Scheduled events are stored with the pico and still fire after the
//! engine was killed and started again.

use krl_tests::api::{server_at, wait_for, Api};
use krl_tests::ScratchDir;
use serde_json::json;
use std::time::Duration;

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

#[test]
fn a_scheduled_event_fires_after_a_restart() {
    let dir = ScratchDir::new("schedules");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let (status, body) = api.event(&eci, "later", "plan", json!({}));
    assert_eq!(status, 200, "{body}");
    let pending = format!("/sky/cloud/{eci}/io.example.later/pending");
    assert_eq!(api.get_public(&pending), (200, json!(1)));
    drop(api);
    s.kill(); // kill -9, before the event is due

    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    wait_for(
        "the scheduled event to fire after the restart",
        Duration::from_secs(20),
        || {
            let (_, fired) = api.get_public(&format!("/sky/cloud/{eci}/io.example.later/fired"));
            (fired == json!(1)).then_some(())
        },
    );
    assert_eq!(api.get_public(&pending), (200, json!(0)));
}
