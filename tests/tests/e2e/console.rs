//! The console's login and guard, through the binary: `/login` sets the
//! `krl_admin` cookie for the right token only, the admin API takes the
//! cookie as it takes the bearer token, `/` and an unauthenticated `/ui/`
//! redirect, and every console route answers 401 without the token.

use krl_tests::api::{server, Api, TOKEN};
use reqwest::blocking::Client;
use reqwest::redirect::Policy;

/// A client that does not follow redirects, so they can be looked at.
fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("an HTTP client")
}

fn location(res: &reqwest::blocking::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn login_sets_the_cookie_and_the_cookie_opens_the_admin_api() {
    let (_dir, s) = server("console-login", &[]);
    let c = http();
    // The form.
    let res = c.get(format!("{}/login", s.url)).send().unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    // A wrong token: 401, the form again with a message, no cookie.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=nope&next=%2Fui%2F")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    let page = res.text().unwrap();
    assert!(page.contains("Wrong admin token"), "{page}");
    assert!(page.contains("name=\"token\""), "{page}");
    // The right one: the cookie, and a redirect to `next`.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2Fui%2F%23rulesets"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.headers());
    assert_eq!(location(&res), "/ui/#rulesets");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    assert_eq!(
        cookie,
        format!("krl_admin={TOKEN}; HttpOnly; SameSite=Strict; Path=/")
    );
    // `next` elsewhere is not followed.
    let res = c
        .post(format!("{}/login", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2F%2Fevil.example%2F"))
        .send()
        .unwrap();
    assert_eq!(location(&res), "/ui/");
    // The cookie opens /api and /ui/.
    let jar = format!("krl_admin={TOKEN}");
    let res = c
        .get(format!("{}/api/engine", s.url))
        .header("cookie", &jar)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .get(format!("{}/ui/", s.url))
        .header("cookie", &jar)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    // A wrong cookie does not.
    let res = c
        .get(format!("{}/api/engine", s.url))
        .header("cookie", "krl_admin=nope")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    // The bearer token still works.
    assert_eq!(Api::new(&s).get("/api/engine").0, 200);
}

#[test]
fn root_and_unauthenticated_pages_redirect() {
    let (_dir, s) = server("console-redirects", &[]);
    let c = http();
    let res = c.get(format!("{}/", s.url)).send().unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/ui/");
    let res = c.get(format!("{}/ui/", s.url)).send().unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/login?next=/ui/");
    let res = c
        .get(format!("{}/ui/console.js", s.url))
        .header("cookie", "krl_admin=wrong")
        .send()
        .unwrap();
    assert_eq!(location(&res), "/login?next=/ui/console.js");
    let res = c.get(format!("{}/logout", s.url)).send().unwrap();
    assert!(res
        .headers()
        .get("set-cookie")
        .is_some_and(|v| v.to_str().unwrap().contains("Max-Age=0")));
}

/// Every route the console uses, its own and the contract's: method, path.
const CONSOLE_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/picos"),
    ("POST", "/api/picos"),
    ("GET", "/api/picos/P"),
    ("DELETE", "/api/picos/P"),
    ("POST", "/api/picos/P/rulesets"),
    ("DELETE", "/api/picos/P/rulesets/R"),
    ("GET", "/api/picos/P/mqtt"),
    ("POST", "/api/picos/P/mqtt"),
    ("GET", "/api/picos/P/sessions"),
    ("GET", "/api/rulesets"),
    ("POST", "/api/rulesets"),
    ("GET", "/api/rulesets/R"),
    ("GET", "/api/outbox"),
    ("GET", "/api/engine"),
    ("POST", "/api/check"),
    ("GET", "/api/trace"),
    ("GET", "/api/console/info"),
    ("GET", "/api/console/picos/P"),
    ("POST", "/api/console/picos/P/name"),
    ("POST", "/api/console/sign"),
    ("GET", "/api/console/mqtt"),
];

#[test]
fn every_console_route_is_401_without_the_token() {
    let (_dir, s) = server("console-401", &[]);
    let c = http();
    let (pico, _) = Api::new(&s).new_pico();
    for (method, path) in CONSOLE_ROUTES {
        let path = path.replace("/P", &format!("/{pico}"));
        let url = format!("{}{path}", s.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for auth in [None, Some("Bearer wrong"), Some("cookie")] {
            let mut req = c
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("{}");
            match auth {
                Some("cookie") => req = req.header("cookie", "krl_admin=wrong"),
                Some(h) => req = req.header("authorization", h),
                None => {}
            }
            let res = req.send().unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {auth:?}");
        }
        // With the token it is a route (not 401, not 404 "no such route").
        let res = c
            .request(method.clone(), &url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(if path.ends_with("/name") {
                r#"{"name": "renamed"}"#
            } else if path.ends_with("/sign") {
                r#"{"eci": "nope", "url": "http://x/"}"#
            } else {
                "{}"
            })
            .send()
            .unwrap();
        assert_ne!(res.status(), 401, "{method} {path}");
        if path == "/api/trace" {
            continue; // a stream: not read to its end
        }
        let body = res.text().unwrap();
        assert!(!body.contains("no such route"), "{method} {path}: {body}");
    }
}

#[test]
fn check_answers_diagnostics_with_positions() {
    let (_dir, s) = server("console-check", &[]);
    let check = |src: &str| -> serde_json::Value {
        Client::new()
            .post(format!("{}/api/check", s.url))
            .bearer_auth(TOKEN)
            .body(src.to_string())
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let v = check("ruleset a.b {\n  rule r {\n    select when x y\n    pre { z = 1 + }\n  }\n}\n");
    assert_eq!(v["errors"], 1, "{v}");
    let d = &v["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["col"].as_u64()),
        (Some(4), Some(19)),
        "{v}"
    );
    assert_eq!(d["severity"], "error");
    let v = check(
        "ruleset a.b {\n  rule r {\n    select when x y\n    send_directive(nope())\n  }\n}\n",
    );
    assert_eq!(v["rid"], "a.b");
    assert!(v["errors"].as_u64().unwrap() >= 1, "{v}");
    let v = check("ruleset a.b {\n}\n");
    assert_eq!(
        v,
        serde_json::json!({"rid": "a.b", "errors": 0, "diagnostics": []})
    );
    // Nothing was registered.
    let (_, list) = Api::new(&s).get("/api/rulesets");
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn the_trace_streams_events_and_errors_of_a_pico() {
    use std::io::{BufRead as _, BufReader};
    let (_dir, s) = server("console-trace", &[]);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(
        r#"ruleset io.example.traced {
  rule hi {
    select when echo hello
    send_directive("say", {"n": 1})
  }
  rule boom {
    select when echo boom
    always { x = event:attrs{"x"} * 2 }
  }
}
"#,
    );
    let (other, other_eci) = api.new_pico();
    let res = Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/api/trace?pico={pico}", s.url))
        .header("cookie", format!("krl_admin={TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream")));
    let mut lines = BufReader::new(res).lines();
    // The stream is open once the answer's headers came: events from now
    // on are in it. Another pico's event is filtered out.
    api.event(&other_eci, "echo", "hello", serde_json::json!({}));
    api.event(&eci, "echo", "hello", serde_json::json!({"a": 1}));
    api.event(&eci, "echo", "boom", serde_json::json!({"x": "abc"}));
    let mut all = Vec::new();
    while !all.iter().any(|v: &serde_json::Value| v["kind"] == "error") {
        let line = lines.next().expect("the stream goes on").unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
            assert_eq!(v["pico"], serde_json::json!(pico), "{v}; not {other}");
            all.push(v);
        }
    }
    // The rules each event selected and whether they fired come before
    // the event's entry.
    let kinds: Vec<&str> = all.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        // `boom` has no action (it fires) and fails in its postlude
        [
            "rule_selected",
            "rule_fired",
            "event",
            "rule_selected",
            "rule_fired",
            "error"
        ],
        "{all:?}"
    );
    assert_eq!(
        all[1]["data"],
        serde_json::json!({"rid": "io.example.traced", "rule": "hi", "fired": true})
    );
    let seen: Vec<&serde_json::Value> = all
        .iter()
        .filter(|v| !v["kind"].as_str().unwrap().starts_with("rule_"))
        .collect();
    assert_eq!(seen[0]["kind"], "event", "{}", seen[0]);
    assert_eq!(seen[0]["data"]["domain"], "echo");
    assert_eq!(seen[0]["data"]["directives"][0]["name"], "say");
    assert_eq!(seen[0]["data"]["attrs"]["a"], 1);
    assert_eq!(seen[0]["dropped"], 0);
    assert_eq!(seen[1]["kind"], "error", "{}", seen[1]);
    assert_eq!(seen[1]["data"]["rid"], "io.example.traced");
    assert_eq!(seen[1]["data"]["rule"], "boom");
    assert_eq!(seen[1]["data"]["line"], 8);
}

#[test]
fn an_open_trace_stream_does_not_hold_a_shutdown() {
    let (_dir, s) = server("console-trace-stop", &[]);
    let res = Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
        .get(format!("{}/api/trace", s.url))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let t0 = std::time::Instant::now();
    assert_eq!(s.terminate(), Some(0));
    // The drain's limit is 10 s: the stream ended well before it.
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t0.elapsed()
    );
    drop(res);
}

#[test]
fn the_trace_shows_raised_events_variable_writes_and_schedules() {
    use std::io::{BufRead as _, BufReader};
    let (_dir, s) = server("console-trace-inside", &[]);
    let api = Api::new(&s);
    let (pico, eci) = api.pico_with(
        r#"ruleset io.example.inside {
  rule first {
    select when t go
    fired {
      ent:n := 7;
      raise t event "next" attributes {"k": 1};
      schedule t event "later" at time:add(time:now(), {"hours": 1})
    }
  }
  rule next {
    select when t next
    send_directive("next")
  }
}
"#,
    );
    let res = Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/api/trace?pico={pico}", s.url))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut lines = BufReader::new(res).lines();
    api.event(&eci, "t", "go", serde_json::json!({}));
    let mut all: Vec<serde_json::Value> = Vec::new();
    while !all.iter().any(|v| v["kind"] == "event") {
        let line = lines.next().expect("the stream goes on").unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            all.push(serde_json::from_str(data.trim()).unwrap());
        }
    }
    let of = |kind: &str| {
        all.iter()
            .find(|v| v["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {all:?}"))["data"]
            .clone()
    };
    assert_eq!(
        of("ent_write"),
        serde_json::json!({"rid": "io.example.inside", "name": "n", "value": 7})
    );
    assert_eq!(
        of("raised"),
        serde_json::json!({"domain": "t", "name": "next", "attrs": {"k": 1}, "for_rid": null})
    );
    assert_eq!(
        of("schedule_add")["entry"]["event"]["name"],
        "later",
        "{all:?}"
    );
    // the raised event selected the second rule, within the same event
    assert!(all
        .iter()
        .any(|v| v["kind"] == "rule_selected" && v["data"]["rule"] == "next"));
    assert_eq!(of("event")["directives"][0]["name"], "next");
}
