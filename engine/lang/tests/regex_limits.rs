//! Regexes that can't stall a pico: a catastrophic pattern either runs in
//! linear time or stops within the evaluation's `max_ops`, with a
//! positioned error, and the pico answers the next query.

use krl_lang::engine::memory::MemoryHost;
use krl_lang::engine::{compile, PicoRuntime};
use krl_lang::runtime::{Map, Value};
use std::time::{Duration, Instant};

const RULESET: &str = r##"
ruleset io.example.re {
  meta { shares linear, backref, look, ok, liked }
  global {
    linear = function(s) { s.match(re#^(a+)+$#) }
    backref = function(s) { s.extract(re#^(a+)+\1$#) }
    look = function(s) { s.replace(re#(?=(a+)+$)#g, "x") }
    liked = function(s) { s like re#^(a+)+\1$# }
    ok = function(s) { s.extract(re#(\d+)#) }
  }
}
"##;

fn setup(max_ops: u64) -> (PicoRuntime, MemoryHost) {
    let rs = compile(RULESET).unwrap_or_else(|_| panic!("compiles"));
    let mut pico = PicoRuntime::new("p1");
    pico.limits.max_ops = max_ops;
    let mut host = MemoryHost::new(1_700_000_000_000.0);
    pico.install(rs, Value::Null, &|_| None, &mut host)
        .expect("installs");
    (pico, host)
}

fn args(s: &str) -> Map {
    let mut m = Map::default();
    m.insert("s".into(), Value::from(s));
    m
}

#[test]
fn the_issue_s_pattern_answers_at_once() {
    let (mut pico, mut host) = setup(10_000_000);
    let hostile = format!("{}b", "a".repeat(37));
    let t0 = Instant::now();
    let v = pico
        .query("io.example.re", "linear", &args(&hostile), &mut host)
        .unwrap();
    assert_eq!(v, Value::Bool(false));
    let v = pico
        .query("io.example.re", "linear", &args("aaaa"), &mut host)
        .unwrap();
    assert_eq!(v, Value::Bool(true));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[test]
fn a_backtracking_pattern_stops_within_max_ops_with_a_positioned_error() {
    let (mut pico, mut host) = setup(200_000);
    let hostile = format!("{}b", "a".repeat(37));
    for name in ["backref", "look", "liked"] {
        let t0 = Instant::now();
        let e = pico
            .query("io.example.re", name, &args(&hostile), &mut host)
            .unwrap_err()
            .to_string();
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            t0.elapsed()
        );
        assert!(
            e.contains("steps of backtracking on this input: stopped"),
            "{name}: {e}"
        );
        // Positioned: the line and column of the call in the ruleset.
        let at = match name {
            "backref" => "(io.example.re, 6:29)",
            "look" => "(io.example.re, 7:26)",
            _ => "(io.example.re, 8:27)",
        };
        assert!(e.ends_with(at), "{name}: {e}");
    }
    // The pico answers the next query, and the same pattern on a friendly
    // input.
    let v = pico
        .query("io.example.re", "ok", &args("abc 42"), &mut host)
        .unwrap();
    assert_eq!(v.to_json(), serde_json::json!(["42"]));
    let v = pico
        .query("io.example.re", "backref", &args("aaaa"), &mut host)
        .unwrap();
    assert_eq!(v.to_json(), serde_json::json!(["a"]));
}

#[test]
fn the_steps_count_against_max_ops() {
    // Same pattern and input: a budget large enough answers; the
    // difference is only max_ops.
    let friendly = format!("{}b{}", "a".repeat(12), "");
    let (mut pico, mut host) = setup(10_000_000);
    assert!(pico
        .query("io.example.re", "backref", &args(&friendly), &mut host)
        .is_ok());
    let (mut pico, mut host) = setup(1_000);
    let e = pico
        .query("io.example.re", "backref", &args(&friendly), &mut host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stopped"), "{e}");
}

static LONG_SEARCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
fn long_search() {
    LONG_SEARCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}
static LONG_LOOPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
fn long_loop() {
    LONG_LOOPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// A long regex search or a long loop tells the host once (the server
/// then lets its worker's other tasks move), a short one not at all.
#[test]
fn a_long_evaluation_calls_the_host_s_long_work_hook_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let (mut pico, mut host) = setup(10_000_000);
    host.long_work = Some(long_search);
    pico.query("io.example.re", "ok", &args("a1"), &mut host)
        .unwrap();
    assert_eq!(LONG_SEARCHES.load(SeqCst), 0);
    let hostile = format!("{}b", "a".repeat(37));
    let err = pico
        .query("io.example.re", "backref", &args(&hostile), &mut host)
        .unwrap_err();
    assert!(err.to_string().contains("steps"), "{err}");
    assert_eq!(LONG_SEARCHES.load(SeqCst), 1);

    let rs = compile(
        r#"ruleset io.example.loop {
  meta { shares spin }
  global { spin = function() { 0.range(100000).map(function(x) { x + 1 }).length() } }
}"#,
    )
    .unwrap_or_else(|_| panic!("compiles"));
    pico.install(rs, Value::Null, &|_| None, &mut host)
        .expect("installs");
    host.long_work = Some(long_loop);
    let v = pico
        .query("io.example.loop", "spin", &Map::default(), &mut host)
        .unwrap();
    assert_eq!(v, Value::from(100001.0));
    assert_eq!(LONG_LOOPS.load(SeqCst), 1);
}
