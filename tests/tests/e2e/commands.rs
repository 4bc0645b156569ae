//! The command line's ways back in, through the binary: `krl pico
//! list|show|delete`, `krl ruleset list`, `krl uninstall`, `krl mqtt
//! subscribe|list|unsubscribe`, `krl pico new --install --config`, `-o
//! FIELD`, and errors that say what to do (every register error with its
//! line and caret, an ECI that is a pico id and the reverse, a rid not
//! registered, a function not shared, no apology XML from `krl call`, a
//! busy `--listen`).

use krl_tests::api::{server, Api, TOKEN};
use krl_tests::{krl, ScratchDir, Server};
use serde_json::Value;

const HELLO: &str = r#"ruleset io.example.hello {
  meta {
    version "1.0"
    shares hello, hits
  }
  global {
    hello = function(name) { "Hello " + name }
    hits = function() { ent:hits.defaultsTo(0) }
    secret = function() { 42 }
  }
  rule hi {
    select when echo hello
    send_directive("say", {"something": "Hello"})
    always { ent:hits := ent:hits.defaultsTo(0) + 1 }
  }
}
"#;

/// Two errors, on lines 4 and 5.
const TWO_ERRORS: &str = "ruleset io.example.bad {\n  rule r {\n    select when echo hello\n    pre { x = 1 + }\n    fired { ent:y := nope(1) }\n  }\n}\n";

/// Runs `krl ARGS` against `s` (KRL_URL, and the admin token unless
/// `token` is false): exit code, stdout, stderr.
fn run_with(s: &Server, token: bool, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = krl();
    cmd.args(args).env("KRL_URL", &s.url);
    if token {
        cmd.env("KRL_ADMIN_TOKEN", TOKEN);
    } else {
        cmd.env_remove("KRL_ADMIN_TOKEN");
    }
    let out = cmd.output().expect("running krl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(s: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    run_with(s, true, args)
}

/// Runs and must succeed: stdout.
fn ok(s: &Server, args: &[&str]) -> String {
    let (code, out, err) = run(s, args);
    assert_eq!(code, Some(0), "krl {args:?}: {err}");
    out
}

/// Runs and must fail: stderr.
fn fails(s: &Server, token: bool, args: &[&str]) -> String {
    let (code, out, err) = run_with(s, token, args);
    assert_ne!(code, Some(0), "krl {args:?} should fail: {out}");
    err
}

#[test]
fn finding_picos_and_rulesets_again() {
    let (dir, s) = server("cli-find", &[]);
    let hello = dir.file("hello.krl", HELLO);
    let hello = hello.to_str().unwrap();
    assert_eq!(
        ok(&s, &["ruleset", "register", hello, "-o", "rid"]),
        "io.example.hello\n"
    );

    // A pico with the ruleset installed, its ECI alone on stdout.
    let eci = ok(
        &s,
        &[
            "pico",
            "new",
            "--name",
            "line",
            "--install",
            "io.example.hello",
            "--config",
            r#"{"a": 1}"#,
            "-o",
            "eci",
        ],
    );
    let eci = eci.trim().to_string();
    assert_eq!(eci.len(), 25, "{eci:?}");
    let answer = ok(
        &s,
        &["event", &eci, "echo", "hello", "-o", "directives.0.name"],
    );
    assert_eq!(answer, "say\n");

    // A child, by its parent's id.
    let tree: Value = serde_json::from_str(&ok(&s, &["pico", "list", "--json"])).unwrap();
    let line = &tree["children"][0];
    assert_eq!(line["name"], "line");
    assert_eq!(line["channels"][0], Value::String(eci.clone()));
    assert_eq!(line["rulesets"][0], "io.example.hello");
    let id = line["id"].as_str().unwrap().to_string();
    let child = ok(
        &s,
        &["pico", "new", "--parent", &id, "--name", "kid", "-o", "id"],
    );
    let child = child.trim();

    // The tree as text: names, ids, ECIs, rulesets, children indented.
    let text = ok(&s, &["pico", "list"]);
    assert!(text.starts_with("root  "), "{text}");
    assert!(text.contains(&format!("\n  line  {id}\n")), "{text}");
    assert!(text.contains(&format!("    eci: {eci}\n")), "{text}");
    assert!(text.contains("    rulesets: io.example.hello\n"), "{text}");
    assert!(text.contains(&format!("\n    kid  {child}\n")), "{text}");

    let show: Value = serde_json::from_str(&ok(&s, &["pico", "show", &id])).unwrap();
    assert_eq!(show["name"], "line");
    assert_eq!(show["children"][0], Value::String(child.to_string()));

    let list = ok(&s, &["ruleset", "list"]);
    assert_eq!(list, "io.example.hello  1.0\n");

    // Uninstall, then delete.
    let out = ok(&s, &["uninstall", "io.example.hello", "--pico", &id]);
    assert!(out.contains("uninstalled"), "{out}");
    let (_, info) = Api::new(&s).get(&format!("/api/picos/{id}"));
    assert_eq!(info["rulesets"], serde_json::json!([]));
    ok(&s, &["pico", "delete", &id]);
    let err = fails(&s, true, &["pico", "show", &id]);
    assert!(err.contains("404"), "{err}");
    assert_eq!(Api::new(&s).get(&format!("/api/picos/{child}")).0, 404);
}

#[test]
fn errors_say_what_to_do() {
    let (dir, s) = server("cli-errors", &[]);
    let hello = dir.file("hello.krl", HELLO);
    ok(&s, &["ruleset", "register", hello.to_str().unwrap()]);
    let out = ok(&s, &["pico", "new", "--install", "io.example.hello"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let (id, eci) = (v["id"].as_str().unwrap(), v["eci"].as_str().unwrap());

    // Every error of a refused file, with its line and a caret.
    let bad = dir.file("bad.krl", TWO_ERRORS);
    let err = fails(&s, true, &["ruleset", "register", bad.to_str().unwrap()]);
    assert!(err.contains("bad.krl:4:"), "{err}");
    assert!(err.contains("    pre { x = 1 + }"), "{err}");
    assert!(err.contains('^'), "{err}");

    // A pico id where an ECI goes, and the reverse.
    let err = fails(&s, true, &["event", id, "echo", "hello"]);
    assert!(
        err.contains(&format!("{id} is a pico id, not an ECI")),
        "{err}"
    );
    assert!(err.contains(eci), "{err}");
    let err = fails(&s, true, &["install", "io.example.hello", "--pico", eci]);
    assert!(err.contains(&format!("{eci} is an ECI")), "{err}");
    assert!(err.contains(id), "{err}");
    // Without the token, still a hint.
    let err = fails(&s, false, &["event", id, "echo", "hello"]);
    assert!(err.contains("not the pico's \"id\""), "{err}");

    // A rid that is not registered: the command, the nearest rid.
    let err = fails(&s, true, &["install", "io.example.helo", "--pico", id]);
    assert!(err.contains("krl ruleset register"), "{err}");
    assert!(err.contains("did you mean io.example.hello?"), "{err}");
    // A shipped ruleset's file is named.
    let err = fails(
        &s,
        true,
        &["pico", "new", "--install", "io.krl.hello_monkey"],
    );
    assert!(
        err.contains("krl ruleset register rulesets/hello_monkey.krl"),
        "{err}"
    );

    // A function that is not shared: those that are.
    let err = fails(&s, true, &["query", eci, "io.example.hello", "secret"]);
    assert!(err.contains("Not shared: io.example.hello/secret"), "{err}");
    assert!(err.contains("shares: hello, hits"), "{err}");

    // krl call and krl sms on an unknown channel: the reason, no XML.
    for args in [
        &["call", "nope", "--digits", "1"][..],
        &["sms", "nope", "hi"],
    ] {
        let err = fails(&s, true, args);
        assert!(!err.contains("<?xml") && !err.contains("<Say>"), "{err}");
        assert!(err.contains("ECI not found: nope"), "{err}");
    }
}

#[test]
fn mqtt_subscriptions_from_the_command_line() {
    let (_dir, s) = server("cli-mqtt", &["--mqtt-listen", "127.0.0.1:0"]);
    let id = ok(&s, &["pico", "new", "-o", "id"]);
    let id = id.trim();
    let out = ok(&s, &["mqtt", "subscribe", "sensors/+/temp", "--pico", id]);
    assert!(out.contains("\"filter\": \"sensors/+/temp\""), "{out}");
    let list: Value = serde_json::from_str(&ok(&s, &["mqtt", "list", "--pico", id])).unwrap();
    assert_eq!(
        list,
        serde_json::json!([{"filter": "sensors/+/temp", "qos": 1}])
    );
    ok(&s, &["mqtt", "unsubscribe", "sensors/+/temp", "--pico", id]);
    assert_eq!(ok(&s, &["mqtt", "list", "--pico", id]).trim(), "[]");
}

#[test]
fn a_busy_http_port_names_listen() {
    let dir = ScratchDir::new("cli-busy");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = krl()
        .args(["serve", "--no-mqtt", "--listen", &addr, "--data"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("--listen ADDR"), "{err}");
}

#[test]
fn krl_logs_follow_prints_the_trace() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    let (dir, s) = server("cli-logs", &[]);
    let hello = dir.file("hello.krl", HELLO);
    ok(&s, &["ruleset", "register", hello.to_str().unwrap()]);
    let out = ok(&s, &["pico", "new", "--install", "io.example.hello"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let (id, eci) = (v["id"].as_str().unwrap(), v["eci"].as_str().unwrap());
    let err = fails(&s, true, &["logs"]);
    assert!(err.contains("--follow"), "{err}");
    let mut child = krl()
        .args(["logs", "--follow", "--pico", id])
        .env("KRL_URL", &s.url)
        .env("KRL_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The stream is open once the command is connected: send until a
    // line comes (the first events may precede the connection).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.by_ref().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // The event's own line comes after those of the rules it selected.
    let mut got = None;
    'send: for _ in 0..100 {
        Api::new(&s).event(eci, "echo", "hello", serde_json::json!({"n": 1}));
        while let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            if l.contains(" event ") {
                got = Some(l);
                break 'send;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = got.expect("a trace line from krl logs --follow");
    assert!(
        line.contains(&format!(" {id} event echo:hello on {eci}")),
        "{line}"
    );
    assert!(line.ends_with("-> say"), "{line}");
}
