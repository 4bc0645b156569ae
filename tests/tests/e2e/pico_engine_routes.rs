//! The Pico Engine 1.x's `/c/` routes through `krl serve`
//! (docs/pico-engine-routes.md): the event that answers its eid at once,
//! the event that waits, event-then-query, the query; GET with the query
//! string and POST with JSON or form bodies; the Pico Engine's error
//! texts for an unknown ECI and a channel policy's refusals; a null value
//! answered as an empty body.

use krl_tests::api::{server, str_of, wait_for, Api};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

const RULESET: &str = r#"ruleset io.example.c {
  meta { shares total, nothing, greeting, last }
  global {
    total = function() { ent:n.defaultsTo(0) }
    nothing = function() { null }
    greeting = function(name) { "Hello " + name }
    last = function() { ent:who }
  }
  rule bump {
    select when c bump
    send_directive("bumped", {"who": event:attr("who")})
    always {
      ent:n := ent:n.defaultsTo(0) + 1;
      ent:who := event:attr("who")
    }
  }
  rule fail {
    select when c fail
    always { boom = "abc" * 2 }
  }
}
"#;

const RID: &str = "io.example.c";

/// Status, content type and the exact body text.
fn raw(req: RequestBuilder) -> (u16, String, String) {
    let res = req.send().expect("sending the request");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.text().expect("reading the body"))
}

struct C<'a> {
    url: &'a str,
    c: Client,
}

impl C<'_> {
    fn get(&self, path: &str) -> (u16, String, String) {
        raw(self.c.get(format!("{}{path}", self.url)))
    }

    fn post_json(&self, path: &str, body: Value) -> (u16, String, String) {
        raw(self
            .c
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string()))
    }

    fn post_form(&self, path: &str, body: &str) -> (u16, String, String) {
        raw(self
            .c
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string()))
    }
}

fn client(url: &str) -> C<'_> {
    C {
        url,
        c: Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn count(c: &C, eci: &str) -> Value {
    let (status, _, body) = c.get(&format!("/c/{eci}/query/{RID}/total"));
    assert_eq!(status, 200, "{body}");
    json_of(&body)
}

#[test]
fn event_answers_the_eid_at_once_and_the_rules_run_after() {
    let (_dir, s) = server("c-event", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let c = client(&s.url);

    // POST with a JSON body: the eid as a bare JSON string.
    let (status, ct, body) = c.post_json(&format!("/c/{eci}/event/c/bump"), json!({"who": "ann"}));
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let eid = str_of(&json_of(&body));
    assert!(!eid.is_empty());
    assert_eq!(body, format!("\"{eid}\""));
    wait_for("the first bump", Duration::from_secs(10), || {
        (count(&c, &eci) == json!(1)).then_some(())
    });

    // GET with the attributes in the query string.
    let (status, _, body) = c.get(&format!("/c/{eci}/event/c/bump?who=bea"));
    assert_eq!(status, 200, "{body}");
    assert_ne!(str_of(&json_of(&body)), eid, "a new eid each time");
    wait_for("the second bump", Duration::from_secs(10), || {
        (count(&c, &eci) == json!(2)).then_some(())
    });
    let (_, _, who) = c.get(&format!("/c/{eci}/query/{RID}/last"));
    assert_eq!(who, "\"bea\"");

    // Events answered at once still run in the order they were sent.
    for _ in 0..20 {
        let (status, _, body) = c.get(&format!("/c/{eci}/event/c/bump?who=n"));
        assert_eq!(status, 200, "{body}");
    }
    let (_, _, body) = c.get(&format!("/c/{eci}/event/c/bump?who=last"));
    let _ = json_of(&body);
    wait_for("23 bumps", Duration::from_secs(10), || {
        (count(&c, &eci) == json!(23)).then_some(())
    });
    let (_, _, who) = c.get(&format!("/c/{eci}/query/{RID}/last"));
    assert_eq!(who, "\"last\"");

    // A failing rule does not change the answer: the rules run after it.
    let (status, _, body) = c.get(&format!("/c/{eci}/event/c/fail"));
    assert_eq!(status, 200, "{body}");
    let _ = str_of(&json_of(&body));
}

#[test]
fn event_wait_answers_eid_and_directives() {
    let (_dir, s) = server("c-event-wait", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let c = client(&s.url);

    let (status, ct, body) = c.get(&format!("/c/{eci}/event-wait/c/bump?who=ann"));
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let body = json_of(&body);
    let eid = str_of(&body["eid"]);
    let txn = str_of(&body["directives"][0]["meta"]["txnId"]);
    assert_eq!(
        body,
        json!({"eid": eid,
               "directives": [{"name": "bumped", "options": {"who": "ann"},
                               "meta": {"rid": RID, "rule_name": "bump", "txnId": txn}}]})
    );
    // The rules have run when it answers.
    assert_eq!(count(&c, &eci), json!(1));

    // POST with a JSON body, a form body; the body wins over the query string.
    let (status, _, body) = c.post_json(
        &format!("/c/{eci}/event-wait/c/bump?who=query"),
        json!({"who": "json"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["directives"][0]["options"],
        json!({"who": "json"})
    );
    let (status, _, body) = c.post_form(&format!("/c/{eci}/event-wait/c/bump"), "who=form");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["directives"][0]["options"],
        json!({"who": "form"})
    );

    // An event no rule selects: no directives.
    let (status, _, body) = c.get(&format!("/c/{eci}/event-wait/c/nothing"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["directives"], json!([]));

    // A runtime error answers {"error": "Error: ..."}.
    let (status, _, body) = c.get(&format!("/c/{eci}/event-wait/c/fail"));
    assert_eq!(status, 500, "{body}");
    let error = str_of(&json_of(&body)["error"]);
    assert!(error.starts_with("Error: "), "{error}");

    // A bad body is refused in the same form.
    let (status, _, body) = c.post_form(&format!("/c/{eci}/event-wait/c/bump"), "");
    assert_eq!(status, 200, "an empty body is no body: {body}");
    let (status, _, body) = raw(c
        .c
        .post(format!("{}/c/{eci}/event-wait/c/bump", s.url))
        .header("content-type", "application/json")
        .body("[1]"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"error": "Error: the JSON body must be an object"})
    );
}

#[test]
fn event_then_query_answers_the_query_value() {
    let (_dir, s) = server("c-event-query", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let c = client(&s.url);

    // The query sees the event's writes.
    let (status, ct, body) = c.get(&format!("/c/{eci}/event/c/bump/query/{RID}/total?who=ann"));
    assert_eq!((status, body.as_str()), (200, "1"));
    assert!(ct.starts_with("application/json"), "{ct}");
    let (status, _, body) = c.post_json(
        &format!("/c/{eci}/event/c/bump/query/{RID}/last"),
        json!({"who": "bob"}),
    );
    assert_eq!((status, body.as_str()), (200, "\"bob\""));

    // The attributes are the query's arguments too.
    let (status, _, body) = c.post_json(
        &format!("/c/{eci}/event/c/bump/query/{RID}/greeting"),
        json!({"name": "Zed"}),
    );
    assert_eq!((status, body.as_str()), (200, "\"Hello Zed\""));
    assert_eq!(count(&c, &eci), json!(3));

    // A null value: an empty body.
    let (status, _, body) = c.get(&format!("/c/{eci}/event/c/bump/query/{RID}/nothing"));
    assert_eq!((status, body.as_str()), (200, ""));

    // The event fails: its error, not the query's value.
    let (status, _, body) = c.get(&format!("/c/{eci}/event/c/fail/query/{RID}/total"));
    assert_eq!(status, 500, "{body}");
    assert!(
        str_of(&json_of(&body)["error"]).starts_with("Error: "),
        "{body}"
    );

    // The query fails: its error, after the event ran.
    let (status, _, body) = c.get(&format!("/c/{eci}/event/c/bump/query/{RID}/secret"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        json_of(&body)["error"],
        json!("Error: Ruleset io.example.c does not have query function \"secret\"")
    );
    assert_eq!(count(&c, &eci), json!(5));
}

#[test]
fn query_answers_values_and_an_empty_body_for_null() {
    let (_dir, s) = server("c-query", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(RULESET);
    let c = client(&s.url);

    let (status, ct, body) = c.get(&format!("/c/{eci}/query/{RID}/greeting?name=Ann"));
    assert_eq!((status, body.as_str()), (200, "\"Hello Ann\""));
    assert!(ct.starts_with("application/json"), "{ct}");
    let (status, _, body) = c.post_json(
        &format!("/c/{eci}/query/{RID}/greeting"),
        json!({"name": "Bob"}),
    );
    assert_eq!((status, body.as_str()), (200, "\"Hello Bob\""));
    assert_eq!(count(&c, &eci), json!(0));

    // null: 200 with an empty body (the Sky route answers `null`).
    let (status, _, body) = c.get(&format!("/c/{eci}/query/{RID}/nothing"));
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = api.get_public(&format!("/sky/cloud/{eci}/{RID}/nothing"));
    assert_eq!((status, body), (200, Value::Null));
    let (status, _, body) = c.get(&format!("/c/{eci}/query/{RID}/last"));
    assert_eq!((status, body.as_str()), (200, ""));

    // `.txt` and `.html`: the string as is.
    let (status, ct, body) = c.get(&format!("/c/{eci}/query/{RID}/greeting.txt?name=Cy"));
    assert_eq!((status, body.as_str()), (200, "Hello Cy"));
    assert!(ct.starts_with("text/plain"), "{ct}");
    let (status, ct, body) = c.get(&format!("/c/{eci}/query/{RID}/greeting.html?name=Di"));
    assert_eq!((status, body.as_str()), (200, "Hello Di"));
    assert!(ct.starts_with("text/html"), "{ct}");

    // A function it does not share, a ruleset it does not have.
    let (status, _, body) = c.get(&format!("/c/{eci}/query/{RID}/secret"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"error": "Error: Ruleset io.example.c does not have query function \"secret\""})
    );
    let (status, _, body) = c.get(&format!("/c/{eci}/query/io.example.other/total"));
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"error": "Error: Pico doesn't have io.example.other installed."})
    );
}

#[test]
fn unknown_eci_on_every_route() {
    let (_dir, s) = server("c-unknown-eci", &[]);
    let c = client(&s.url);
    let expected = json!({"error": "Error: ECI not found nope"});
    for path in [
        "/c/nope/event/c/bump",
        "/c/nope/event-wait/c/bump",
        "/c/nope/event/c/bump/query/io.example.c/total",
        "/c/nope/query/io.example.c/total",
    ] {
        let (status, _, body) = c.get(path);
        assert_eq!(status, 404, "GET {path}: {body}");
        assert_eq!(json_of(&body), expected, "GET {path}");
        let (status, _, body) = c.post_json(path, json!({"who": "x"}));
        assert_eq!(status, 404, "POST {path}: {body}");
        assert_eq!(json_of(&body), expected, "POST {path}");
    }
}

#[test]
fn channel_policies_refuse_with_the_pico_engine_texts() {
    let (_dir, s) = server("c-policy", &[]);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(RULESET);
    let c = client(&s.url);
    let policy = json!({
        "events": {"allow": [{"domain": "c", "name": "*"}],
                   "deny": [{"domain": "c", "name": "fail"}]},
        "queries": {"allow": [{"rid": RID, "name": "total"}],
                    "deny": [{"rid": RID, "name": "last"}]}
    });
    let (status, ch) = api.post(
        &format!("/api/picos/{pico}/channels"),
        json!({"tags": ["limited"], "policy": policy}),
    );
    assert_eq!(status, 200, "{ch}");
    let limited = str_of(&ch["eci"]);
    let not_allowed = json!({"error": "Error: Not allowed by channel policy"});
    let denied = json!({"error": "Error: Denied by channel policy"});

    // Events: outside `allow`, and in `deny`.
    for route in ["event", "event-wait"] {
        let (status, _, body) = c.get(&format!("/c/{limited}/{route}/other/thing"));
        assert_eq!(
            (status, json_of(&body)),
            (403, not_allowed.clone()),
            "{route}"
        );
        let (status, _, body) = c.post_json(&format!("/c/{limited}/{route}/c/fail"), json!({}));
        assert_eq!((status, json_of(&body)), (403, denied.clone()), "{route}");
    }

    // Queries: outside `allow`, and in `deny`.
    let (status, _, body) = c.get(&format!("/c/{limited}/query/{RID}/greeting?name=x"));
    assert_eq!((status, json_of(&body)), (403, not_allowed.clone()));
    let (status, _, body) = c.get(&format!("/c/{limited}/query/{RID}/last"));
    assert_eq!((status, json_of(&body)), (403, denied.clone()));

    // Event then query: a refused query raises no event.
    let (status, _, body) = c.get(&format!("/c/{limited}/event/c/bump/query/{RID}/greeting"));
    assert_eq!((status, json_of(&body)), (403, not_allowed.clone()));
    let (status, _, body) = c.get(&format!("/c/{limited}/event/other/x/query/{RID}/total"));
    assert_eq!((status, json_of(&body)), (403, not_allowed));
    assert_eq!(count(&c, &eci), json!(0));

    // A channel guarded by a Twilio auth token takes no unsigned request.
    let guarded = api.twilio_channel(&pico, "secret-token");
    for path in [
        format!("/c/{guarded}/event/c/bump"),
        format!("/c/{guarded}/event-wait/c/bump"),
        format!("/c/{guarded}/event/c/bump/query/{RID}/total"),
        format!("/c/{guarded}/query/{RID}/total"),
    ] {
        let (status, _, body) = c.get(&path);
        assert_eq!(status, 403, "{path}: {body}");
        let error = str_of(&json_of(&body)["error"]);
        assert!(error.starts_with("Error: "), "{path}: {error}");
    }
    assert_eq!(count(&c, &eci), json!(0));

    // What the policy lets through.
    let (status, _, body) = c.get(&format!("/c/{limited}/event/c/bump/query/{RID}/total"));
    assert_eq!((status, body.as_str()), (200, "1"));
}

const HEADERS: &str = r#"ruleset io.example.headers {
  meta { shares seen }
  global { seen = function(_headers) { _headers } }
  rule echo {
    select when h echo
    send_directive("headers", {"headers": event:attr("_headers")})
  }
}
"#;

#[test]
fn events_and_queries_get_the_request_headers_without_credentials() {
    let (_dir, s) = server("c-headers", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(HEADERS);
    let c = client(&s.url);
    let (status, _, body) = raw(c
        .c
        .get(format!("{}/c/{eci}/event-wait/h/echo", s.url))
        .header("x-test", "one")
        .header("authorization", "Bearer secret-token")
        .header("cookie", "krl_admin=secret-token"));
    assert_eq!(status, 200, "{body}");
    let headers = json_of(&body)["directives"][0]["options"]["headers"].clone();
    assert_eq!(headers["x-test"], json!("one"), "{headers}");
    assert!(headers.get("authorization").is_none(), "{headers}");
    assert!(headers.get("cookie").is_none(), "{headers}");
    assert!(!body.contains("secret-token"), "{body}");

    let (status, _, body) = raw(c
        .c
        .get(format!("{}/c/{eci}/query/io.example.headers/seen", s.url))
        .header("x-test", "two"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["x-test"], json!("two"), "{body}");
}
