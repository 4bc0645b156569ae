//! `krl call` and `krl sms`, the local phone (docs/twilio.md, "Trying an
//! IVR locally"), through the binaries: a `krl serve` with `--public-url`
//! and a channel guarded by a Twilio auth token; the phone signs over the
//! public URL, connects to the real one, and follows the call.

use krl_tests::api::{server, Api};
use krl_tests::phone::{heard_in_full, transcript};
use krl_tests::{krl, source, Server};
use serde_json::Value;
use std::process::Output;

/// What Twilio believes the engine's address is (behind a proxy).
const PUBLIC: &str = "https://krl.example.test";
const AUTH: &str = "9f86d081884c7d659a2feaa0c55ad015";

const SMS_ECHO: &str = r#"ruleset io.example.sms_echo {
  rule echo {
    select when twilio sms
    pre { body = event:attr("Body") }
    twilio:message("You said: #{body}")
  }
}
"#;

/// A pico with `src` (registered) installed, and a channel of it that
/// carries the Twilio auth token.
fn twilio_pico(api: &Api, src: &str) -> String {
    let (id, _) = api.pico_with(src);
    api.twilio_channel(&id, AUTH)
}

fn hello_monkey() -> String {
    source("engine/lang/tests/fixtures/seed003_hello_monkey_gather.krl")
}

/// Runs `krl` with the connection flags of `s` and `args`.
fn phone(s: &Server, cmd: &str, args: &[&str]) -> Output {
    krl()
        .arg(cmd)
        .args(args)
        .args(["--url", &s.url, "--public-url", PUBLIC])
        .env_remove("KRL_URL")
        .output()
        .expect("running krl")
}

#[test]
fn krl_call_plays_hello_monkey_and_follows_the_gather() {
    let (_dir, s) = server("phone-monkey", &["--public-url", PUBLIC]);
    let api = Api::new(&s);
    let eci = twilio_pico(&api, &hello_monkey());

    let out = phone(
        &s,
        "call",
        &[
            &eci,
            "--auth-token",
            AUTH,
            "--from",
            "+8015552311",
            "--digits",
            "7",
            "--json",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let l = transcript(&out.stdout);
    assert_eq!(
        heard_in_full(&l),
        [
            "say: Hello Big Bird",
            "gather",
            "say: What is your favorite number?",
            "digits: 7",
            "say: Your favorite number is 7.",
            "hangup",
        ],
        "{l:?}"
    );
    let gather = l.iter().find(|l| l["verb"] == "gather").unwrap();
    assert_eq!(gather["attrs"]["numDigits"], "1");
    assert_eq!(
        gather["attrs"]["action"],
        format!("{PUBLIC}/sky/event/{eci}/none/twilio/monkey_handle")
    );
    // Both requests went to the real address, rewritten from the public one.
    let requests: Vec<&Value> = l.iter().filter(|l| l.get("request").is_some()).collect();
    assert_eq!(requests.len(), 2, "{l:?}");
    assert_eq!(
        requests[1]["request"],
        format!("{}/sky/event/{eci}/none/twilio/monkey_handle", s.url)
    );
    let summary = &l.last().unwrap()["summary"];
    assert_eq!(summary["turns"], 2, "{summary}");
    assert!(summary["p99_ms"].as_u64().unwrap() >= summary["p50_ms"].as_u64().unwrap());

    // No input: Twilio goes on after the Gather, and the document ends.
    let out = phone(&s, "call", &[&eci, "--auth-token", AUTH, "--digits", ""]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("say: Hello Monkey"), "{text}");
    assert!(text.contains("no input"), "{text}");
    assert!(!text.contains("favorite number is"), "{text}");
    assert!(text.contains("turns 1, p50 "), "{text}");
}

#[test]
fn krl_call_with_a_wrong_token_or_channel_fails_naming_the_status() {
    let (_dir, s) = server("phone-forbidden", &["--public-url", PUBLIC]);
    let api = Api::new(&s);
    let eci = twilio_pico(&api, &hello_monkey());

    let out = phone(
        &s,
        "call",
        &[&eci, "--auth-token", "wrong", "--digits", "7"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("403"), "{stderr}");

    // Unsigned: refused all the same.
    let out = phone(&s, "call", &[&eci, "--digits", "7"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    let out = phone(&s, "call", &["no-such-eci", "--digits", "7"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("404"), "{stderr}");
}

#[test]
fn krl_sms_prints_the_message_replies() {
    let (_dir, s) = server("phone-sms", &["--public-url", PUBLIC]);
    let api = Api::new(&s);
    let eci = twilio_pico(&api, SMS_ECHO);

    let out = phone(
        &s,
        "sms",
        &[
            &eci,
            "hello & goodbye",
            "--auth-token",
            AUTH,
            "--from",
            "+15551234",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "You said: hello & goodbye\n"
    );

    let out = phone(&s, "sms", &[&eci, "hi", "--auth-token", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
}
