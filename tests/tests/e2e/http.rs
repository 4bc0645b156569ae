//! KRL's `http:` module through the server, against a small HTTP server
//! the test runs on 127.0.0.1 (port 0): an action `http:post` with
//! `json` and `autoraise`, a rule reacting to `http post`, queries with
//! `http:get` (query string, `parseJSON`, a followed redirect), and a
//! request that gets no answer within `--http-timeout`.

use krl_tests::api::{server, str_of, Api};
use krl_tests::fake_http::{Fake, Reply};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const RULESET: &str = r#"ruleset io.example.http {
  meta { shares fetch, last }
  global {
    fetch = function(url) { http:get(url, qs = {"x": "1 2"}, parseJSON = true) }
    last = function() { ent:last.defaultsTo({}) }
  }
  rule post {
    select when hook send
    http:post(event:attr("url"), json = {"n": 1, "who": "krl"}, autoraise = "hooked")
  }
  rule answered {
    select when http post
    send_directive("answered", {"label": event:attr("label"), "status": event:attr("status_code")})
    always { ent:last := event:attrs }
  }
}
"#;

/// A tiny HTTP/1.1 server for the test: `/hook` answers 201 with what
/// it got, `/redirect` redirects to `/data?from=redirect`, `/slow` never
/// answers (until the client gives up and closes), anything else answers
/// its method and path.
fn upstream() -> Fake {
    Fake::start(|req, _| {
        let path = req.target.as_str();
        if path.starts_with("/slow") {
            Reply::HoldUntilClosed
        } else if path.starts_with("/redirect") {
            Reply::text(302, "application/json", "").with_header("Location", "/data?from=redirect")
        } else if path.starts_with("/hook") {
            Reply::json(201, &json!({"got": req.text()})).with_header("X-Test", "yes")
        } else {
            Reply::json(200, &json!({"method": req.method, "path": path}))
        }
    })
}

fn http_pico(api: &Api) -> String {
    api.pico_with(RULESET).1
}

#[test]
fn post_with_autoraise_and_get_with_parse_json() {
    let upstream = upstream();
    let (_dir, s) = server("http-real", &[]);
    let api = Api::new(&s);
    let eci = http_pico(&api);

    let hook = format!("{}/hook", upstream.url());
    let (status, body) = api.event(&eci, "hook", "send", json!({"url": hook}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["directives"][0]["options"],
        json!({"label": "hooked", "status": 201}),
        "{body}"
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let sent = seen[0].text();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&sent).unwrap(),
        json!({"n": 1, "who": "krl"})
    );

    // The raised event carried the whole response map.
    let (status, last) = api.query(&eci, "io.example.http", "last", json!({}));
    assert_eq!(status, 200, "{last}");
    assert_eq!(last["status_code"], json!(201));
    assert_eq!(last["status_line"], json!("Created"));
    assert_eq!(last["content_type"], json!("application/json"));
    assert_eq!(last["headers"]["x-test"], json!("yes"));
    assert_eq!(last["label"], json!("hooked"));
    let content = str_of(&last["content"]); // no parseJSON: text
    assert_eq!(last["content_length"], json!(content.len()), "{last}");
    assert_eq!(
        serde_json::from_str::<Value>(&content).unwrap(),
        json!({"got": sent})
    );

    // http:get in a query, with a query string and parseJSON.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/data", upstream.url())}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status_code"], json!(200));
    assert_eq!(
        got["content"],
        json!({"method": "GET", "path": "/data?x=1+2"})
    );

    // Redirects are followed.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/redirect", upstream.url())}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["content"]["path"], json!("/data?from=redirect"));
}

#[test]
fn no_answer_within_the_timeout_is_a_clear_runtime_error() {
    let upstream = upstream();
    let (_dir, s) = server("http-timeout", &["--http-timeout", "1"]);
    let api = Api::new(&s);
    let eci = http_pico(&api);
    let started = Instant::now();
    let (status, body) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/slow", upstream.url())}),
    );
    let took = started.elapsed();
    assert_eq!(status, 500, "{body}");
    let message = str_of(&body["error"]);
    assert!(
        message.contains("http:get") && message.contains("/slow") && message.contains("timed out"),
        "{message}"
    );
    assert_eq!(body["rid"], json!("io.example.http"));
    assert!(body["line"].is_u64() && body["col"].is_u64(), "{body}");
    assert!(took >= Duration::from_millis(900), "gave up after {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // The pico goes on.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/data", upstream.url())}),
    );
    assert_eq!((status, got["status_code"].clone()), (200, json!(200)));
}
