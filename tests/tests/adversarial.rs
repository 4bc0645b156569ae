//! Hostile and malformed input through the `krl` binary: every refusal is
//! a 4xx with a JSON `{"error"}` message, and a bad event leaves the
//! pico's state readable and the engine running.

mod common;

use common::{read, server, Api, TOKEN};
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
        (reqwest::Method::GET, "/api/picos"),
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
