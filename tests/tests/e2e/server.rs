//! `krl serve` as clients see it: start-up lines, the admin API and its
//! token, the Sky routes' errors, channel policies, the data folder's lock,
//! restarts after a crash, and the CLI wrappers. Each test runs its own
//! server on port 0 with its own data folder.

use krl_tests::api::{send, server, server_at, str_of, Api, TOKEN};
use krl_tests::{krl, ScratchDir, Server};
use reqwest::blocking::Client;
use serde_json::{json, Value};

const HELLO: &str = r#"ruleset io.example.hello {
  meta {
    version "1.0"
    shares hello, hits, seen
  }
  global {
    hello = function(name) { "Hello " + name }
    hits = function() { ent:hits.defaultsTo(0) }
    seen = function() { ent:seen.defaultsTo([]) }
  }
  rule hi {
    select when echo hello
    send_directive("say", {"something": "Hello"})
    always {
      ent:hits := ent:hits.defaultsTo(0) + 1;
      ent:seen := ent:seen.defaultsTo([]).append(event:attr("n"))
    }
  }
}
"#;

/// `}` on line 4 where an expression should be.
const BAD: &str = "ruleset io.example.bad {\n  rule r {\n    select when echo hello\n    pre { x = 1 + }\n  }\n}\n";

fn http() -> Client {
    Client::new()
}

/// Registers HELLO, makes a pico with it installed; answers (pico, eci).
fn hello_pico(api: &Api) -> (String, String) {
    api.pico_with(HELLO)
}

/// `GET /sky/cloud/ECI/io.example.hello/FUNCTION`.
fn query(s: &Server, eci: &str, function: &str) -> (u16, Value) {
    Api::new(s).get_public(&format!("/sky/cloud/{eci}/io.example.hello/{function}"))
}

#[test]
fn start_up_prints_listening_root_eci_and_a_generated_token() {
    if krl_tests::sled_only(
        "start_up_prints_listening_root_eci_and_a_generated_token",
        "cluster nodes need a shared --admin-token",
    ) {
        return;
    }
    let dir = ScratchDir::new("startup");
    let s = Server::start(&dir.path().join("data"), &[]);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    assert!(!s.url.ends_with(":0"), "the real port, not 0: {}", s.url);
    assert!(s.token_was_printed);
    assert_eq!(s.root_eci.len(), 25);
    // The printed token works, and GET /api/engine names the root eci.
    let (status, body) = Api::new(&s).get("/api/engine");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["root_eci"], json!(s.root_eci));
    assert!(
        body["root_pico"].is_string() && body["version"].is_string(),
        "{body}"
    );
}

#[test]
fn given_admin_token_is_not_printed() {
    let (_dir, s) = server("given-token", &[]);
    assert!(!s.token_was_printed);
    assert_eq!(Api::new(&s).get("/api/engine").0, 200);
}

#[test]
fn admin_without_token_is_401() {
    let (_dir, s) = server("no-token", &[]);
    let (status, body) = send(http().get(format!("{}/api/engine", s.url)));
    assert_eq!(status, 401);
    assert!(body["error"].is_string(), "{body}");
    let (status, _) = send(http().post(format!("{}/api/picos", s.url)).body("{}"));
    assert_eq!(status, 401);
}

#[test]
fn admin_with_wrong_token_is_401() {
    let (_dir, s) = server("wrong-token", &[]);
    for token in ["nope", "test-token-and-more", ""] {
        let (status, _) = send(
            http()
                .get(format!("{}/api/rulesets", s.url))
                .bearer_auth(token),
        );
        assert_eq!(status, 401, "token {token:?}");
    }
}

#[test]
fn register_good_ruleset_answers_rid_version_and_hash() {
    let (_dir, s) = server("register-good", &[]);
    let api = Api::new(&s);
    let (status, body) = api.register(HELLO);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rid"], json!("io.example.hello"));
    assert_eq!(body["version"], json!("1.0"));
    let hash = str_of(&body["hash"]);
    assert_eq!(hash.len(), 64);

    let (status, list) = api.get("/api/rulesets");
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([{"rid": "io.example.hello", "version": "1.0", "hash": hash}])
    );
    let (status, one) = api.get("/api/rulesets/io.example.hello");
    assert_eq!(status, 200);
    assert_eq!(one["source"], json!(HELLO));
    assert_eq!(api.get("/api/rulesets/no.such").0, 404);
}

#[test]
fn bad_ruleset_is_400_with_line_and_col() {
    let (_dir, s) = server("register-bad", &[]);
    let (status, body) = Api::new(&s).register(BAD);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (body["line"].clone(), body["col"].clone()),
        (json!(4), json!(19)),
        "{body}"
    );
    assert!(body["error"].is_string(), "{body}");
}

#[test]
fn pico_tree_and_channels() {
    let (_dir, s) = server("picos", &[]);
    let api = Api::new(&s);
    let (parent, parent_eci) = api.new_pico();
    let (status, child) = api.post("/api/picos", json!({"parent": parent, "name": "kid"}));
    assert_eq!(status, 200, "{child}");
    let child_id = str_of(&child["id"]);

    let (status, info) = api.get(&format!("/api/picos/{parent}"));
    assert_eq!(status, 200);
    assert_eq!(info["id"], json!(parent));
    assert_eq!(info["children"], json!([child_id]));
    assert_eq!(info["channels"], json!([parent_eci]));
    assert_eq!(info["rulesets"], json!([]));
    let (_, engine) = api.get("/api/engine");
    assert_eq!(info["parent"], engine["root_pico"]);

    let (status, ch) = api.post(
        &format!("/api/picos/{child_id}/channels"),
        json!({"tags": ["a"]}),
    );
    assert_eq!(status, 200, "{ch}");
    let eci = str_of(&ch["eci"]);
    assert_eq!(api.event_with(&eci, "echo", "hello", None).0, 200);
    assert_eq!(api.delete(&format!("/api/channels/{eci}")).0, 204);
    assert_eq!(api.event_with(&eci, "echo", "hello", None).0, 404);

    // Deleting the parent takes the child and the channels with it.
    assert_eq!(api.delete(&format!("/api/picos/{parent}")).0, 204);
    assert_eq!(api.get(&format!("/api/picos/{parent}")).0, 404);
    assert_eq!(api.get(&format!("/api/picos/{child_id}")).0, 404);
    assert_eq!(api.event_with(&parent_eci, "echo", "hello", None).0, 404);
    assert_eq!(api.get("/api/picos/no-such-pico").0, 404);
}

#[test]
fn event_answers_eid_and_directives() {
    let (_dir, s) = server("event", &[]);
    let api = Api::new(&s);
    let (status, body) = send(http().get(format!(
        "{}/sky/event/{}/my-eid/echo/hello?a=1",
        s.url, s.root_eci
    )));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["eid"], json!("my-eid"));
    assert!(body["directives"].is_array(), "{body}");
    // `none` gets an eid assigned.
    let (status, body) = api.event_with(
        &s.root_eci,
        "echo",
        "hello",
        Some(("application/json", "{\"a\": 1}")),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["eid"]
            .as_str()
            .is_some_and(|e| !e.is_empty() && e != "none"),
        "{body}"
    );
    let (status, _) = api.event_with(
        &s.root_eci,
        "echo",
        "hello",
        Some(("application/x-www-form-urlencoded", "a=1&b=2")),
    );
    assert_eq!(status, 200);
}

#[test]
fn twilio_event_answers_twiml() {
    let (_dir, s) = server("twilio", &[]);
    let res = http()
        .post(format!(
            "{}/sky/event/{}/none/twilio/sms",
            s.url, s.root_eci
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("From=%2B15551234&Body=hi")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert!(res.text().unwrap().contains("<Response/>"));
}

#[test]
fn unknown_eci_is_404() {
    let (_dir, s) = server("unknown-eci", &[]);
    let api = Api::new(&s);
    let (status, body) = api.event_with("no-such-eci", "echo", "hello", None);
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, _) = send(http().get(format!("{}/sky/cloud/no-such-eci/io.x/f", s.url)));
    assert_eq!(status, 404);
}

#[test]
fn bad_bodies_are_400() {
    let (_dir, s) = server("bad-body", &[]);
    let api = Api::new(&s);
    for (ct, body) in [
        ("application/json", "{\"a\": "),
        ("application/json", "[1, 2]"),
        ("application/json", "\"text\""),
        ("text/plain", "hello"),
    ] {
        let (status, answer) = api.event_with(&s.root_eci, "echo", "hello", Some((ct, body)));
        assert_eq!(status, 400, "{ct} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Admin bodies too.
    let (status, body) = send(
        http()
            .post(format!("{}/api/picos", s.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{oops"),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn policy_denial_is_403() {
    let (_dir, s) = server("policy", &[]);
    let api = Api::new(&s);
    let (pico, _) = api.new_pico();
    let policy = json!({
        "events": {"allow": [{"domain": "echo", "name": "*"}],
                   "deny": [{"domain": "echo", "name": "secret"}]},
        "queries": {"allow": [{"rid": "io.example.hello", "name": "hello"}]}
    });
    let (status, ch) = api.post(
        &format!("/api/picos/{pico}/channels"),
        json!({"tags": ["limited"], "policy": policy}),
    );
    assert_eq!(status, 200, "{ch}");
    let eci = str_of(&ch["eci"]);
    assert_eq!(api.event_with(&eci, "echo", "hello", None).0, 200);
    let (status, body) = api.event_with(&eci, "echo", "secret", None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(api.event_with(&eci, "other", "hello", None).0, 403);
    let (status, _) = send(http().get(format!("{}/sky/cloud/{eci}/io.example.hello/other", s.url)));
    assert_eq!(status, 403);
    // A malformed policy is refused when the channel is made.
    let (status, _) = api.post(
        &format!("/api/picos/{pico}/channels"),
        json!({"policy": {"events": {"allow": "everything"}}}),
    );
    assert_eq!(status, 400);
}

#[test]
fn install_unknown_rid_is_404() {
    let (_dir, s) = server("install-unknown", &[]);
    let api = Api::new(&s);
    let (pico, _) = api.new_pico();
    let (status, body) = api.post(
        &format!("/api/picos/{pico}/rulesets"),
        json!({"rid": "no.such.rid"}),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no.such.rid"),
        "{body}"
    );
    let (status, _) = api.post("/api/picos/no-such-pico/rulesets", json!({"rid": "x"}));
    assert_eq!(status, 404);
}

#[test]
fn install_uninstall_and_query_errors() {
    let (_dir, s) = server("install", &[]);
    let api = Api::new(&s);
    let (pico, eci) = api.new_pico();
    let q = |f: &str| {
        send(http().get(format!(
            "{}/sky/cloud/{eci}/io.example.hello/{f}?name=Ann",
            s.url
        )))
    };

    let (status, body) = q("hello");
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "Pico doesn't have io.example.hello installed."})
    );

    assert_eq!(api.register(HELLO).0, 200);
    let (status, body) = api.post(
        &format!("/api/picos/{pico}/rulesets"),
        json!({"rid": "io.example.hello", "config": {"greeting": "hi"}}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["rulesets"], json!(["io.example.hello"]));

    let (status, body) = q("hi");
    assert_eq!(status, 403);
    assert_eq!(body, json!({"error": "Not shared: io.example.hello/hi"}));

    assert_eq!(
        api.delete(&format!("/api/picos/{pico}/rulesets/io.example.hello"))
            .0,
        204
    );
    assert_eq!(q("hello").0, 404);
    let (_, info) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(info["rulesets"], json!([]));
}

#[test]
fn second_serve_on_the_same_data_fails_clearly() {
    let (dir, _first) = server("locked", &[]);
    let second = Server::try_start(&dir.path().join("data"), &["--admin-token", TOKEN]);
    let failure = match second {
        Ok(_) => panic!("a second krl serve started on the same data folder"),
        Err(f) => f,
    };
    assert_ne!(failure.code, Some(0));
    assert!(
        failure.stderr.contains("in use by another `krl serve`"),
        "stderr: {}",
        failure.stderr
    );
}

#[test]
fn restart_after_kill_keeps_rulesets_picos_and_channels() {
    let dir = ScratchDir::new("restart");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    assert_eq!(api.register(HELLO).0, 200);
    let (pico, eci) = api.new_pico();
    assert_eq!(
        api.post(
            &format!("/api/picos/{pico}/rulesets"),
            json!({"rid": "io.example.hello"})
        )
        .0,
        200
    );
    let (_, ch) = api.post(
        &format!("/api/picos/{pico}/channels"),
        json!({"tags": ["x"], "policy": {"events": {"deny": [{"domain": "no"}]}}}),
    );
    let limited = str_of(&ch["eci"]);
    let root_eci = s.root_eci.clone();
    let (_, before) = api.get(&format!("/api/picos/{pico}"));
    s.kill(); // SIGKILL: no shutdown code runs

    let s = server_at(&data, &[]);
    let api = Api::new(&s);
    assert_eq!(s.root_eci, root_eci, "same root eci after a restart");
    let (status, after) = api.get(&format!("/api/picos/{pico}"));
    assert_eq!(status, 200, "{after}");
    assert_eq!(after, before);
    assert_eq!(after["channels"], json!([eci, limited]));
    assert_eq!(after["rulesets"], json!(["io.example.hello"]));
    let (_, list) = api.get("/api/rulesets");
    assert_eq!(list[0]["rid"], json!("io.example.hello"));
    assert_eq!(api.event_with(&eci, "echo", "hello", None).0, 200);
    assert_eq!(api.event_with(&limited, "no", "x", None).0, 403);
}

#[test]
fn sigterm_drains_and_exits_0() {
    let (dir, s) = server("sigterm", &[]);
    let (pico, _) = Api::new(&s).new_pico();
    assert_eq!(s.terminate(), Some(0));
    // The data is there after a clean stop too, and the lock is released.
    let s = server_at(&dir.path().join("data"), &[]);
    assert_eq!(Api::new(&s).get(&format!("/api/picos/{pico}")).0, 200);
}

#[test]
fn cli_registers_makes_picos_installs_and_sends_events() {
    let dir = ScratchDir::new("cli");
    let s = server_at(&dir.path().join("data"), &[]);
    let file = dir.file("hello.krl", HELLO);
    let run = |args: &[&str]| {
        let out = krl()
            .args(args)
            .args(["--url", &s.url])
            .env("KRL_ADMIN_TOKEN", TOKEN)
            .output()
            .expect("running krl");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let (code, out, err) = run(&["ruleset", "register", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("io.example.hello"), "{out}");

    let (code, out, err) = run(&["pico", "new", "--name", "cli"]);
    assert_eq!(code, Some(0), "{err}");
    let made: Value = serde_json::from_str(&out).expect("JSON from krl pico new");
    let pico = str_of(&made["id"]);
    let eci = str_of(&made["eci"]);

    let (code, _, err) = run(&[
        "install",
        "io.example.hello",
        "--pico",
        &pico,
        "--config",
        "{\"a\": 1}",
    ]);
    assert_eq!(code, Some(0), "{err}");

    let (code, out, err) = run(&["event", &eci, "echo", "hello", "name=Ann", "n:=3"]);
    assert_eq!(code, Some(0), "{err}");
    let answer: Value = serde_json::from_str(&out).expect("JSON from krl event");
    assert!(answer["directives"].is_array(), "{answer}");

    let (code, out, err) = run(&["query", &eci, "io.example.hello", "hello", "name=Ann"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "Hello Ann\n");
    let (code, out, err) = run(&["query", &eci, "io.example.hello", "hits"]);
    assert_eq!((code, out.trim()), (Some(0), "1"), "{err}");

    let (code, _, err) = run(&["query", &eci, "io.example.hello", "hi"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("Not shared: io.example.hello/hi"), "{err}");

    // A bad file: the error names line and column.
    let bad = dir.file("bad.krl", BAD);
    let (code, _, err) = run(&["ruleset", "register", bad.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("4:19"), "{err}");
}

#[test]
fn rules_answer_directives_and_queries_answer_values() {
    let (_dir, s) = server("krl", &[]);
    let api = Api::new(&s);
    let (_, eci) = hello_pico(&api);
    let (status, body) = api.event_with(
        &eci,
        "echo",
        "hello",
        Some(("application/json", "{\"n\": 1}")),
    );
    assert_eq!(status, 200, "{body}");
    let d = &body["directives"];
    assert_eq!(d.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(d[0]["name"], json!("say"));
    assert_eq!(d[0]["options"], json!({"something": "Hello"}));
    assert_eq!(d[0]["meta"]["rid"], json!("io.example.hello"));
    assert_eq!(d[0]["meta"]["rule_name"], json!("hi"));
    assert!(d[0]["meta"]["txnId"].is_string(), "{body}");

    let (status, v) = send(http().get(format!(
        "{}/sky/cloud/{eci}/io.example.hello/hello?name=Ann",
        s.url
    )));
    assert_eq!((status, v), (200, json!("Hello Ann")));
    // The body wins over the query string; .txt answers text.
    let res = http()
        .post(format!(
            "{}/sky/cloud/{eci}/io.example.hello/hello.txt?name=Ann",
            s.url
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Bob")
        .send()
        .unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(res.text().unwrap(), "Hello Bob");
    assert_eq!(query(&s, &eci, "hits"), (200, json!(1)));
}

#[test]
fn concurrent_events_to_one_pico_run_one_at_a_time() {
    let (_dir, s) = server("ordering", &[]);
    let api = Api::new(&s);
    let (_, eci) = hello_pico(&api);
    // 32 clients x 10 events each, at once: no update may be lost, and
    // each client's events (sent one after the other) keep their order.
    std::thread::scope(|scope| {
        for client in 0..32 {
            let (url, eci) = (s.url.clone(), eci.clone());
            scope.spawn(move || {
                let c = http();
                for i in 0..10 {
                    let n = client * 100 + i;
                    let (status, body) = send(
                        c.post(format!("{url}/sky/event/{eci}/none/echo/hello"))
                            .header("content-type", "application/json")
                            .body(format!("{{\"n\": {n}}}")),
                    );
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    assert_eq!(query(&s, &eci, "hits"), (200, json!(320)));
    let (_, seen) = query(&s, &eci, "seen");
    let seen: Vec<i64> = seen
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_i64().expect("numbers"))
        .collect();
    assert_eq!(seen.len(), 320);
    for client in 0..32 {
        let mine: Vec<i64> = seen.iter().copied().filter(|n| n / 100 == client).collect();
        let expected: Vec<i64> = (0..10).map(|i| client * 100 + i).collect();
        assert_eq!(
            mine, expected,
            "client {client}'s events out of order: {seen:?}"
        );
    }
}

#[test]
fn answered_events_survive_kill_9() {
    let dir = ScratchDir::new("durable");
    let data = dir.path().join("data");
    let s = server_at(&data, &[]);
    let (_, eci) = hello_pico(&Api::new(&s));
    for _ in 0..5 {
        assert_eq!(Api::new(&s).event_with(&eci, "echo", "hello", None).0, 200);
    }
    s.kill();
    let s = server_at(&data, &[]);
    assert_eq!(query(&s, &eci, "hits"), (200, json!(5)));
}
