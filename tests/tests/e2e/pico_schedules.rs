//! Scheduled events and the life of their pico: deleting a pico cancels
//! its scheduled events and drops them from the store, and after a
//! restart a pico's schedules fire without anything being sent to it.
//!
//! Each fired event reports to a witness pico (`event:send`), so a test
//! learns what fired by asking the witness only, and waits for an event
//! scheduled on the witness itself rather than for a guessed delay.

use krl::ids::PicoId;
use krl::store::{Key, Store};
use krl_tests::api::{server_at, wait_for, Api};
use krl_tests::ScratchDir;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TIMER: &str = r#"ruleset io.example.timer {
  meta { shares reports, pending }
  global {
    reports = function() { ent:reports.defaultsTo([]) }
    pending = function() { schedule:list().length() }
  }
  rule plan {
    select when t plan
    fired {
      schedule t event "tick" at event:attr("at")
        attributes {"who": event:attr("who"), "report_to": event:attr("report_to")}
    }
  }
  rule tick {
    select when t tick
    event:send({"eci": event:attr("report_to"), "domain": "t", "type": "report",
                "attrs": {"from": event:attr("who")}})
  }
  rule report {
    select when t report
    always { ent:reports := reports().append(event:attr("from")) }
  }
}
"#;

const RID: &str = "io.example.timer";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A pico with the timer ruleset: (id, eci).
fn timer_pico(api: &Api) -> (String, String) {
    let (pico, eci) = api.new_pico();
    api.install_ok(&pico, RID);
    (pico, eci)
}

/// Schedules `t:tick` on the pico behind `eci` at `at_ms`; it will report
/// `who` to `report_to`.
fn plan(api: &Api, eci: &str, at_ms: u64, who: &str, report_to: &str) {
    let (status, body) = api.event(
        eci,
        "t",
        "plan",
        json!({"at": at_ms, "who": who, "report_to": report_to}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.query(eci, RID, "pending", json!({})), (200, json!(1)));
}

/// What the witness has heard, once it has heard `last`.
fn reports_until(api: &Api, witness: &str, last: &str) -> Value {
    wait_for(
        &format!("the witness to hear from {last}"),
        Duration::from_secs(30),
        || {
            let (status, reports) = api.query(witness, RID, "reports", json!({}));
            assert_eq!(status, 200, "{reports}");
            reports
                .as_array()
                .unwrap()
                .contains(&json!(last))
                .then_some(reports)
        },
    )
}

#[test]
fn deleting_a_pico_cancels_its_scheduled_events() {
    let dir = ScratchDir::new("delete-schedules");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    api.register_ok(TIMER);
    let (_, witness) = timer_pico(&api);
    let (doomed, doomed_eci) = timer_pico(&api);

    // The doomed pico's event is due first; the witness's own one second
    // later is the signal that the doomed one's time has passed.
    let at = now_ms() + 3000;
    plan(&api, &doomed_eci, at, "doomed", &witness);
    plan(&api, &witness, at + 1000, "witness", &witness);
    assert_eq!(api.delete(&format!("/api/picos/{doomed}")).0, 204);

    let reports = reports_until(&api, &witness, "witness");
    assert_eq!(
        reports,
        json!(["witness"]),
        "the deleted pico's event fired"
    );

    // Its schedules are gone from the store too.
    assert_eq!(s.terminate(), Some(0));
    let store = Store::open(&data).unwrap();
    let doomed = PicoId::new(doomed);
    assert!(store.keys(&Key::schedules(&doomed)).unwrap().is_empty());
    for prefix in Key::pico_state(&doomed) {
        assert!(store.keys(&prefix).unwrap().is_empty(), "{prefix:?}");
    }
    assert!(store.pico(&doomed).unwrap().is_none());
}

#[test]
fn after_a_restart_schedules_fire_without_a_message_to_their_pico() {
    let dir = ScratchDir::new("restart-schedules");
    let data = dir.path().join("data");
    let (witness, sleeper) = {
        let s = server_at(&data, &[]);
        let api = Api::new(&s);
        api.register_ok(TIMER);
        let (_, witness) = timer_pico(&api);
        let (_, sleeper) = timer_pico(&api);
        plan(&api, &sleeper, now_ms() + 2000, "sleeper", &witness);
        s.kill();
        (witness, sleeper)
    };
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    // Only the witness is asked: nothing is sent to the sleeper.
    let reports = reports_until(&api, &witness, "sleeper");
    assert_eq!(reports, json!(["sleeper"]));
    assert_eq!(
        api.query(&sleeper, RID, "pending", json!({})),
        (200, json!(0))
    );
}
