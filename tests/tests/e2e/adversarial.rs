//! Hostile and malformed input through the `krl` binary: every refusal is
//! a 4xx with a JSON `{"error"}` message, and a bad event leaves the
//! pico's state readable and the engine running.

use krl_tests::api::{read, server, Api, TOKEN};
use reqwest::blocking::Client;
use serde_json::Value;

/// An error body: JSON with a non-empty `error` string.
fn assert_json_error(what: &str, status: u16, body: &Value, want: u16) {
    assert_eq!(status, want, "{what}: {body}");
    let msg = body["error"].as_str().unwrap_or("");
    assert!(!msg.is_empty(), "{what}: no error message in {body}");
}

#[test]
fn wrong_methods_bad_segments_and_big_bodies_get_json_errors() {
    let (_dir, s) = server("adv-methods", &[]);
    let c = Client::new();
    let auth = format!("Bearer {TOKEN}");
    let url = |p: &str| format!("{}{p}", s.url);

    // A method the route does not take: 405, a message, the Allow header.
    for (method, path) in [
        (reqwest::Method::PUT, "/api/engine"),
        // (GET /api/picos is the pico tree since issue 12.)
        (reqwest::Method::GET, "/api/picos/x/rulesets"),
        (reqwest::Method::DELETE, "/sky/event/x/none/a/b"),
        (reqwest::Method::PATCH, "/sky/cloud/x/r/f"),
    ] {
        let res = c
            .request(method.clone(), url(path))
            .header("Authorization", &auth)
            .send()
            .unwrap();
        assert!(res.headers().get("allow").is_some(), "{method} {path}");
        let (status, body) = read(res);
        assert_json_error(&format!("{method} {path}"), status, &body, 405);
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }

    // A path segment that is not UTF-8.
    let res = c
        .get(url("/api/picos/%FF"))
        .header("Authorization", &auth)
        .send()
        .unwrap();
    let (status, body) = read(res);
    assert_json_error("%FF pico id", status, &body, 400);

    // A body over the 2 MB limit.
    let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(3_000_000));
    let res = c
        .post(url(&format!("/sky/event/{}/none/a/b", s.root_eci)))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .unwrap();
    let (status, body) = read(res);
    assert_json_error("3 MB body", status, &body, 413);

    // Still serving.
    let api = Api::new(&s);
    assert_eq!(api.get("/api/engine").0, 200);
    assert!(!s.stderr().contains("panicked"), "{}", s.stderr());
}

/// A value too deep for the store to read back is refused when written
/// (a runtime error, nothing of that event kept) instead of being stored
/// and making its variable unreadable for every later event and query.
#[test]
fn a_value_too_deep_to_store_is_a_runtime_error_and_the_variable_stays_readable() {
    let (_dir, s) = server("adv-deep-store", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(
        r#"ruleset io.adv.deep {
  meta { shares size }
  global {
    wrap = function(x, n) { n == 0 => x | wrap([x], n - 1) }
    size = function() { ent:x.encode().length() }
  }
  rule deep { select when adv deep
    always { ent:x := wrap(1, event:attrs{"n"}.as("Number")) } }
}"#,
    );

    // 100 levels: stored and read back ("[" * 100 + "1" + "]" * 100).
    let (status, body) = api.event(&eci, "adv", "deep", serde_json::json!({"n": 100}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.query(&eci, "io.adv.deep", "size", serde_json::json!({}))
            .1,
        201
    );

    // 130 levels: a runtime error at the assignment; ent:x keeps its value.
    let (status, body) = api.event(&eci, "adv", "deep", serde_json::json!({"n": 130}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["rule"], "deep", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too deep to store"),
        "{body}"
    );
    let (status, body) = api.query(&eci, "io.adv.deep", "size", serde_json::json!({}));
    assert_eq!((status, &body), (200, &serde_json::json!(201)), "{body}");
}

/// Values nested hundreds of thousands deep (built within --max-ops) are
/// dropped, compared and measured on the runtime's big thread stacks: the
/// query answers, and the engine is still there for the next one.
#[test]
fn very_deep_values_do_not_overflow_the_stack() {
    let (_dir, s) = server("adv-very-deep", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(
        r#"ruleset io.adv.very_deep {
  meta { shares deep, same, path }
  global {
    nest = function(n) { 0.range(n).reduce(function(a, x) { [a] }, 1) }
    deep = function() { nest(200000).length() }
    same = function() { nest(100000) == nest(100000) }
    path = function() { {}.put(0.range(10000).map(function(x) { "k" + x }), 1).keys() }
  }
}"#,
    );
    let q = |f: &str| api.query(&eci, "io.adv.very_deep", f, serde_json::json!({}));
    assert_eq!(q("deep"), (200, serde_json::json!(1)));
    assert_eq!(q("same"), (200, serde_json::json!(true)));
    assert_eq!(q("path"), (200, serde_json::json!(["k0"])));
    assert_eq!(q("deep"), (200, serde_json::json!(1)), "still serving");
}

/// A catastrophic regex (backtracking for ages) ties up only its own
/// pico: other picos keep answering, and SIGTERM still stops the engine
/// (the busy pico's unfinished event is not written). A regex can only
/// backtrack for ages within `--max-ops` now (a back reference needs the
/// backtracker, whose steps count; `(a+)+$` alone is linear,
/// e2e/regex_limits.rs): a huge `--max-ops` lets it.
#[test]
fn a_pico_stuck_in_a_regex_holds_neither_other_picos_nor_the_shutdown() {
    let started = std::time::Instant::now();
    let (_dir, s) = server("adv-regex", &["--max-ops", "1000000000000000"]);
    let api = Api::new(&s);
    let (_, stuck_eci) = api.pico_with(
        r#"ruleset io.adv.regex {
  meta { shares slow, fast }
  global {
    slow = function() { (0.range(39).map(function(x) { "a" }).join("") + "!").match("(a+)+\\1$".as("RegExp")) }
    fast = function() { 42 }
  }
}"#,
    );
    let (other, other_eci) = api.new_pico();
    api.install_ok(&other, "io.adv.regex");

    // the slow query, on a thread of its own (it never answers)
    let url = format!("{}/sky/cloud/{stuck_eci}/io.adv.regex/slow", s.url);
    std::thread::spawn(move || {
        let _ = Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap()
            .get(url)
            .send();
    });
    // the stuck pico is busy: a quick query to it gets no answer in time
    // (until the slow one has started, it answers at once: try again)
    let quick = Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let fast_of_stuck = format!("{}/sky/cloud/{stuck_eci}/io.adv.regex/fast", s.url);
    krl_tests::api::wait_for(
        "the stuck pico to be busy",
        std::time::Duration::from_secs(60),
        || quick.get(&fast_of_stuck).send().is_err().then_some(()),
    );
    // the other pico answers
    let asked = std::time::Instant::now();
    match api.try_query(&other_eci, "io.adv.regex", "fast", serde_json::json!({})) {
        Ok(answer) => assert_eq!(answer, (200, serde_json::json!(42))),
        Err(e) => panic!(
            "the other pico did not answer ({e}) in {:?}, {:?} after the start; the server said:\n{}",
            asked.elapsed(),
            started.elapsed(),
            s.stderr()
        ),
    }

    drop(api);
    assert_eq!(
        s.terminate(),
        Some(0),
        "the engine stops despite the stuck pico"
    );
}

/// A rule that keeps doubling a string (or joins a huge list) gets a
/// positioned runtime error at 64 MiB instead of exhausting memory.
#[test]
fn strings_that_grow_without_bound_are_a_runtime_error() {
    let (_dir, s) = server("adv-big-strings", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(
        r#"ruleset io.adv.strings {
  meta { shares doubled, joined }
  global {
    double = function(s, n) { n == 0 => s.length() | double(s + s, n - 1) }
    doubled = function(n) { double("x", n.as("Number")) }
    joined = function() { 0.range(200000).join(0.range(500).map(function(x) { "y" }).join("")).length() }
  }
}"#,
    );
    let q = |f: &str, n: u32| api.query(&eci, "io.adv.strings", f, serde_json::json!({"n": n}));
    assert_eq!(q("doubled", 20), (200, serde_json::json!(1 << 20)));
    let (status, body) = q("doubled", 40);
    assert_eq!(
        status, 500,
        "a runtime error, as the contract answers them: {body}"
    );
    let msg = body["error"].as_str().unwrap_or("");
    assert!(msg.contains("too long (at most 64 MiB)"), "{body}");
    assert_eq!(body["line"], 4, "{body}");
    let (status, body) = q("joined", 0);
    assert_eq!(
        status, 500,
        "a runtime error, as the contract answers them: {body}"
    );
    assert!(
        body["error"].as_str().unwrap_or("").contains("too long"),
        "{body}"
    );
    // and the engine carries on
    assert_eq!(q("doubled", 3), (200, serde_json::json!(8)));
}
