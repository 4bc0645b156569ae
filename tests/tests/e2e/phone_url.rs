//! `krl call URL` and `krl sms URL --body ...` against a TwiML webhook
//! that is not this engine: a small local web app answering fixed TwiML,
//! which checks every request's `X-Twilio-Signature` over its own URL.
//! The phone follows a relative Gather action and a Redirect as Twilio
//! does.

use krl_tests::fake_http::{read_request, write_response};
use krl_tests::krl;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const AUTH: &str = "0123456789abcdef0123456789abcdef";

/// Requests seen: (path, form, signature valid).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>, bool)>>>;

/// A voice and messaging app on a free port: `/voice` asks for a key
/// (relative action `gathered`), `/gathered` redirects to `/bye?d=DIGITS`,
/// `/bye` says the key and hangs up, `/sms` echoes the body.
fn app() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let (b, s) = (base.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &b, &s);
        }
    });
    (base, seen)
}

fn answer(stream: std::net::TcpStream, base: &str, seen: &Seen) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    let (target, form) = (req.target.clone(), req.form());
    let sig = req.header("x-twilio-signature").unwrap_or("");
    let valid = krl::twilio::signature::validate(AUTH, &format!("{base}{target}"), &form, sig);
    let field = |n: &str| {
        form.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let twiml = match req.path() {
        "/app/voice" => r#"<Response><Gather action="gathered" numDigits="1"><Say>Press a key.</Say></Gather><Say>Nothing pressed.</Say></Response>"#.to_string(),
        "/app/gathered" => format!("<Response><Redirect>/app/bye?d={}</Redirect></Response>", field("Digits")),
        "/app/bye" => {
            let d = target.split("d=").nth(1).unwrap_or("");
            format!("<Response><Say>You pressed {d}.</Say><Hangup/></Response>")
        }
        "/app/sms" => format!("<Response><Message>Echo: {}</Message></Response>", field("Body")),
        "/app/ask" => r#"<Response><Gather input="speech dtmf" action="/app/heard" actionOnEmptyResult="true"><Say>Say or press something.</Say></Gather></Response>"#.to_string(),
        "/app/keys" => r#"<Response><Gather action="/app/heard"><Say>Press something.</Say></Gather><Say>Bye.</Say></Response>"#.to_string(),
        "/app/heard" => format!(
            "<Response><Say>Speech {} at {}, digits {}.</Say></Response>",
            field("SpeechResult"),
            field("Confidence"),
            field("Digits")
        ),
        _ => "<Response/>".to_string(),
    };
    seen.lock().unwrap().push((target, form, valid));
    write_response(&stream, "200 OK", "text/xml", &[], &twiml)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = krl()
        .args(args)
        .env_remove("KRL_URL")
        .output()
        .expect("running krl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn krl_call_url_plays_any_webhook_signed_over_its_url() {
    let (base, seen) = app();
    let url = format!("{base}/app/voice");
    let (ok, out, err) = run(&[
        "call",
        &url,
        "--digits",
        "5",
        "--auth-token",
        AUTH,
        "--json",
    ]);
    assert!(ok, "{err}\n{out}");
    let heard: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| {
            let verb = v.get("verb")?.as_str()?.to_string();
            Some(match v.get("text").and_then(Value::as_str) {
                Some(t) => format!("{verb}: {t}"),
                None => verb,
            })
        })
        .collect();
    assert_eq!(
        heard,
        [
            "gather",
            "say: Press a key.",
            "digits: 5",
            &format!("redirect: {base}/app/bye?d=5"),
            "say: You pressed 5.",
            "hangup"
        ]
    );
    let seen = seen.lock().unwrap();
    let paths: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths, ["/app/voice", "/app/gathered", "/app/bye?d=5"]);
    assert!(seen.iter().all(|(_, _, valid)| *valid), "{seen:?}");
    let digits = seen[1].1.iter().find(|(k, _)| k == "Digits").unwrap();
    assert_eq!(digits.1, "5");
}

#[test]
fn krl_sms_url_with_body_prints_the_reply() {
    let (base, seen) = app();
    let url = format!("{base}/app/sms");
    let (ok, out, err) = run(&["sms", &url, "--body", "hi there", "--auth-token", AUTH]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Echo: hi there");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].2, "the signature is over the webhook's URL");
    // the positional body still works; both at once is refused
    drop(seen);
    let (ok, out, _) = run(&["sms", &url, "positional"]);
    assert!(ok);
    assert_eq!(out.trim(), "Echo: positional");
    let (ok, _, err) = run(&["sms", &url, "one", "--body", "two"]);
    assert!(!ok);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `speech:words` answers a Gather that listens (SpeechResult and
/// Confidence posted); a Gather that only takes keys hears nothing; with
/// actionOnEmptyResult="true" silence still posts the action.
#[test]
fn krl_call_speaks_to_gathers_that_listen() {
    let (base, _) = app();
    let says = |path: &str, input: &str| -> Vec<String> {
        let url = format!("{base}{path}");
        let (ok, out, err) = run(&["call", &url, "--digits", input, "--json"]);
        assert!(ok, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| {
                let verb = v.get("verb")?.as_str()?.to_string();
                Some(match v.get("text").and_then(Value::as_str) {
                    Some(t) => format!("{verb}: {t}"),
                    None => verb,
                })
            })
            .collect()
    };
    assert_eq!(
        says("/app/ask", "speech:sales please"),
        [
            "gather",
            "say: Say or press something.",
            "speech: sales please",
            "say: Speech sales please at 0.9, digits .",
            "end"
        ]
    );
    assert_eq!(
        says("/app/ask", ""),
        [
            "gather",
            "say: Say or press something.",
            "no input",
            "say: Speech  at , digits .",
            "end"
        ]
    );
    assert_eq!(
        says("/app/keys", "speech:sales"),
        [
            "gather",
            "say: Press something.",
            "no input: speech, but this Gather does not listen",
            "say: Bye.",
            "end"
        ]
    );
}
