//! `krl call URL` and `krl sms URL --body ...` against a TwiML webhook
//! that is not this engine: a small local web app answering fixed TwiML,
//! which checks every request's `X-Twilio-Signature` over its own URL.
//! The phone follows a relative Gather action and a Redirect as Twilio
//! does.

use krl_tests::fake_http::{Fake, Reply, Request};
use krl_tests::krl;
use krl_tests::phone::{heard_in_full, transcript};
use krl_tests::twilio::signature;

const AUTH: &str = "0123456789abcdef0123456789abcdef";

/// A voice and messaging app on a free port: `/voice` asks for a key
/// (relative action `gathered`), `/gathered` redirects to `/bye?d=DIGITS`,
/// `/bye` says the key and hangs up, `/sms` echoes the body.
fn app() -> Fake {
    Fake::start(|req, _| Reply::text(200, "text/xml", twiml(req)))
}

fn twiml(req: &Request) -> String {
    let field = |n: &str| req.field(n).unwrap_or_default();
    match req.path() {
        "/app/voice" => r#"<Response><Gather action="gathered" numDigits="1"><Say>Press a key.</Say></Gather><Say>Nothing pressed.</Say></Response>"#.to_string(),
        "/app/gathered" => format!("<Response><Redirect>/app/bye?d={}</Redirect></Response>", field("Digits")),
        "/app/bye" => {
            let d = req.target.split("d=").nth(1).unwrap_or("");
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
    }
}

/// Whether `req` carries Twilio's signature over its own URL at `app`.
fn signed(app: &Fake, req: &Request) -> bool {
    let form = req.form();
    let params: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let url = format!("{}{}", app.url(), req.target);
    req.header("x-twilio-signature") == Some(signature(AUTH, &url, &params).as_str())
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
    let app = app();
    let base = app.url();
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
    assert_eq!(
        heard_in_full(&transcript(out.as_bytes())),
        [
            "gather",
            "say: Press a key.",
            "digits: 5",
            &format!("redirect: {base}/app/bye?d=5"),
            "say: You pressed 5.",
            "hangup"
        ]
    );
    let seen = app.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(paths, ["/app/voice", "/app/gathered", "/app/bye?d=5"]);
    assert!(seen.iter().all(|r| signed(&app, r)), "{seen:?}");
    assert_eq!(seen[1].field("Digits").as_deref(), Some("5"));
}

#[test]
fn krl_sms_url_with_body_prints_the_reply() {
    let app = app();
    let url = format!("{}/app/sms", app.url());
    let (ok, out, err) = run(&["sms", &url, "--body", "hi there", "--auth-token", AUTH]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Echo: hi there");
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        signed(&app, &seen[0]),
        "the signature is over the webhook's URL"
    );
    // the positional body still works; both at once is refused
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
    let app = app();
    let says = |path: &str, input: &str| -> Vec<String> {
        let url = format!("{}{path}", app.url());
        let (ok, out, err) = run(&["call", &url, "--digits", input, "--json"]);
        assert!(ok, "{err}");
        heard_in_full(&transcript(out.as_bytes()))
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
