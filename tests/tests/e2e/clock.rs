//! `krl serve --clock`: the engine's clock starts at a given instant and
//! advances in real time (docs/server.md). Rules see it through
//! `time:now()`; a bad value stops the start with a message.

use krl_tests::api::{server, str_of, Api};
use krl_tests::{ScratchDir, Server};
use serde_json::json;

const CLOCK: &str = r#"ruleset io.example.clock {
  meta { shares now, local }
  global {
    now = function() { time:now() }
    local = function(tz) { time:local(time:now(), tz) }
  }
  rule stamp {
    select when clock stamp
    send_directive("now", {"now": time:now()})
  }
}
"#;

#[test]
fn time_now_starts_at_the_given_instant() {
    // 09:30 MST, the morning Denver moves its clocks forward (02:00 → 03:00).
    let (_dir, s) = server("clock", &["--clock", "2026-03-08T09:30:00-07:00"]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(CLOCK);

    let (status, now) = api.query(&eci, "io.example.clock", "now", json!({}));
    assert_eq!(status, 200, "{now}");
    // The same instant in UTC, give or take the seconds the test took.
    let now = str_of(&now);
    assert!(now.starts_with("2026-03-08T16:3"), "{now}");

    let (status, local) = api.query(
        &eci,
        "io.example.clock",
        "local",
        json!({"tz": "America/Denver"}),
    );
    assert_eq!(status, 200, "{local}");
    assert_eq!(
        (&local["year"], &local["month"], &local["day"]),
        (&json!(2026), &json!(3), &json!(8)),
        "{local}"
    );
    assert_eq!(local["weekday"], 0, "a Sunday: {local}");
    assert_eq!(local["hour"], 10, "MDT from 02:00 on: {local}");
    assert_eq!(local["offset"], -360, "{local}");

    // Events see the same clock.
    let (status, body) = api.event(&eci, "clock", "stamp", json!({}));
    assert_eq!(status, 200, "{body}");
    let stamped = str_of(&body["directives"][0]["options"]["now"]);
    assert!(stamped.starts_with("2026-03-08T16:3"), "{stamped}");
}

#[test]
fn a_bad_clock_stops_the_start_with_a_message() {
    let dir = ScratchDir::new("clock-bad");
    for bad in ["tomorrow", "2026-03-08 09:30", "2026-13-01T00:00:00Z"] {
        let f = Server::try_start(&dir.path().join("data"), &["--clock", bad])
            .err()
            .unwrap_or_else(|| panic!("--clock {bad} was accepted"));
        assert_eq!(f.code, Some(2), "{}", f.stderr);
        assert!(f.stderr.contains("--clock"), "{}", f.stderr);
        assert!(f.stderr.contains("RFC 3339"), "{}", f.stderr);
    }
}
