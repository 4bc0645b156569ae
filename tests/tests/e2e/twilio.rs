//! Twilio webhooks through `krl serve` (docs/twilio.md): the classic
//! Hello Monkey ruleset answers a signed call with TwiML and its Gather
//! callback comes back as a `twilio` event; unsigned, forged and replayed
//! requests are 403 and raise nothing; a failing rule answers an apology
//! in valid TwiML. Requests are signed here as Twilio signs them
//! (docs/spec/twilio.md 3.1) over the `--public-url`, never over the address the
//! test really connects to.

use krl_tests::api::{server, wait_for, Api};
use krl_tests::twilio::{self, signature};
use krl_tests::{source, ScratchDir, Server};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use std::time::Duration;
/// What Twilio believes the engine's address is (behind a proxy).
const PUBLIC: &str = "https://krl.example.test";
const AUTH: &str = "9f86d081884c7d659a2feaa0c55ad015";

/// Counts inbound calls, to see whether a refused request ran anything.
const CALLS: &str = r#"ruleset io.example.calls {
  meta { shares calls }
  global { calls = function() { ent:calls.defaultsTo(0) } }
  rule count {
    select when twilio inbound_call
    always { ent:calls := calls() + 1 }
  }
}
"#;

// ------------------------------------------------------------ helpers

/// The parameters of a ringing inbound call from `from`.
fn call_params(from: &str) -> Vec<(&str, &str)> {
    vec![
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA00000000000000000000000000000001"),
        ("CallStatus", "ringing"),
        ("Called", "+15005550006"),
        ("Caller", from),
        ("Direction", "inbound"),
        ("From", from),
        ("To", "+15005550006"),
        ("FromCity", ""),
    ]
}

/// A client of `s` as Twilio and as the admin.
struct Twilio<'a> {
    s: &'a Server,
    api: Api<'a>,
}

impl<'a> Twilio<'a> {
    fn new(s: &'a Server) -> Twilio<'a> {
        Twilio {
            s,
            api: Api::new(s),
        }
    }

    /// Registers `src`: its rid.
    fn register(&self, src: &str) -> String {
        self.api.register_ok(src)
    }

    /// A pico with `rids` installed: its id and first channel.
    fn pico(&self, rids: &[&str]) -> (String, String) {
        let (id, eci) = self.api.new_pico();
        for rid in rids {
            self.api.install_ok(&id, rid);
        }
        (id, eci)
    }

    /// A channel of pico `id` that carries the Twilio auth token.
    fn twilio_channel(&self, id: &str) -> String {
        self.api.twilio_channel(id, AUTH)
    }

    /// POSTs a form to `path` (public path and query) with `signature`.
    fn post(&self, path: &str, params: &[(&str, &str)], signature: Option<&str>) -> Response {
        twilio::post(&format!("{}{path}", self.s.url), params, signature)
    }

    /// POSTs a form to `path`, signed as Twilio signs it for the public URL.
    fn signed_post(&self, path: &str, params: &[(&str, &str)]) -> Response {
        let sig = signature(AUTH, &format!("{PUBLIC}{path}"), params);
        self.post(path, params, Some(&sig))
    }

    fn calls(&self, eci: &str) -> Value {
        let (status, calls) = self
            .api
            .get_public(&format!("/sky/cloud/{eci}/io.example.calls/calls"));
        assert_eq!(status, 200, "{calls}");
        calls
    }
}

/// 200, `text/xml`, and the body.
#[track_caller]
fn twiml_of(res: Response) -> String {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.text().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/xml"), "content type {ct}: {body}");
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "{body}"
    );
    body
}

/// A document's canonical text: elements with sorted attributes and
/// trimmed text, no whitespace between elements; panics if it is not
/// well-formed XML with one root.
fn canonical(xml: &str) -> String {
    fn start(e: &BytesStart) -> (String, String) {
        let mut attrs: Vec<(String, String)> = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let v = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .expect("attribute value");
                (a.key.as_ref().to_string(), v.to_string())
            })
            .collect();
        attrs.sort();
        let name = e.name().as_ref().to_string();
        let attrs: String = attrs.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
        (name, attrs)
    }
    let mut reader = Reader::from_str(xml);
    let mut out = String::new();
    let mut text = String::new();
    let mut depth = 0i32;
    let mut roots = 0;
    let flush = |out: &mut String, text: &mut String| {
        out.push_str(text.trim());
        text.clear();
    };
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML ({e}): {xml}"))
        {
            Event::Start(e) => {
                flush(&mut out, &mut text);
                roots += i32::from(depth == 0);
                depth += 1;
                let (n, a) = start(&e);
                out.push_str(&format!("<{n}{a}>"));
            }
            Event::Empty(e) => {
                flush(&mut out, &mut text);
                roots += i32::from(depth == 0);
                let (n, a) = start(&e);
                out.push_str(&format!("<{n}{a}/>"));
            }
            Event::End(e) => {
                flush(&mut out, &mut text);
                depth -= 1;
                out.push_str(&format!("</{}>", e.name().as_ref()));
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => text.push_str(match r.as_ref() {
                "amp" => "&",
                "lt" => "<",
                "gt" => ">",
                "quot" => "\"",
                "apos" => "'",
                other => panic!("entity {other} in {xml}"),
            }),
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((depth, roots), (0, 1), "{xml}");
    out
}

#[track_caller]
fn assert_twiml(actual: &str, expected_inner: &str) {
    let expected =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{expected_inner}</Response>"#);
    assert_eq!(canonical(actual), canonical(&expected), "\n{actual}");
}

fn start(name: &str, args: &[&str]) -> (ScratchDir, Server) {
    let mut all = vec!["--public-url", PUBLIC];
    all.extend_from_slice(args);
    server(name, &all)
}

fn hello_monkey() -> String {
    source("engine/lang/tests/fixtures/seed003_hello_monkey_gather.krl")
}

// -------------------------------------------------------------- tests

#[test]
fn hello_monkey_answers_a_signed_call_and_its_gather_callback() {
    let (_dir, s) = start("twilio-monkey", &[]);
    let t = Twilio::new(&s);
    let rid = t.register(&hello_monkey());
    assert_eq!(rid, "a1299x191");
    t.register(CALLS);
    let (id, first_eci) = t.pico(&[&rid, "io.example.calls"]);
    let eci = t.twilio_channel(&id);

    let params = call_params("+8015552311");
    let body = twiml_of(t.signed_post(
        &format!("/sky/event/{eci}/none/twilio/inbound_call"),
        &params,
    ));
    let action = format!("{PUBLIC}/sky/event/{eci}/none/twilio/monkey_handle");
    assert_twiml(
        &body,
        &format!(
            r#"<Say>Hello Big Bird</Say><Gather action="{action}" numDigits="1"><Say>What is your favorite number?</Say></Gather>"#
        ),
    );
    assert_eq!(t.calls(&first_eci), json!(1));

    // Twilio requests the Gather's action with the call's parameters and
    // Digits, signed over that URL.
    let path = action.strip_prefix(PUBLIC).unwrap();
    let mut params = call_params("+8015552311");
    params[3] = ("CallStatus", "in-progress");
    params.extend([
        ("Digits", "7"),
        ("FinishedOnKey", ""),
        ("msg", "Gather End"),
    ]);
    let body = twiml_of(t.signed_post(path, &params));
    assert_twiml(&body, "<Say>Your favorite number is 7.</Say><Hangup/>");

    // An unknown caller is a Monkey.
    let body = twiml_of(t.signed_post(
        &format!("/sky/event/{eci}/none/twilio/inbound_call"),
        &call_params("+15550000"),
    ));
    assert!(body.contains("<Say>Hello Monkey</Say>"), "{body}");
    assert_eq!(t.calls(&first_eci), json!(2));
}

/// Seed 003's first Hello Monkey, as scraped (its closing brace lost):
/// registration refuses it with a positioned error; with the brace added
/// (and nothing else changed) a call from +8015552311 hears "Hello Big
/// Bird" then a hang-up, anyone else "Hello Monkey".
#[test]
fn the_seeds_first_hello_monkey_with_its_brace_greets_big_bird_and_hangs_up() {
    let (_dir, s) = start("twilio-monkey-1", &[]);
    let t = Twilio::new(&s);
    let scraped = source("engine/lang/tests/fixtures/seed003_hello_monkey_as_scraped.krl");
    let (status, err) = t.api.register(&scraped);
    assert_eq!(status, 400, "{err}");
    assert!(
        err.to_string().contains("never closed"),
        "a positioned error naming the unclosed brace: {err}"
    );

    let rid = t.register(&format!("{scraped}\n}}\n"));
    assert_eq!(rid, "a1299x191");
    let (id, _) = t.pico(&[&rid]);
    let eci = t.twilio_channel(&id);
    let call = |from: &str| {
        twiml_of(t.signed_post(
            &format!("/sky/event/{eci}/none/twilio/inbound_call"),
            &call_params(from),
        ))
    };
    assert_twiml(&call("+8015552311"), "<Say>Hello Big Bird</Say><Hangup/>");
    assert_twiml(&call("+911"), "<Say>Hello The Man</Say><Hangup/>");
    assert_twiml(&call("+15550000"), "<Say>Hello Monkey</Say><Hangup/>");
}

#[test]
fn unsigned_forged_and_replayed_requests_are_403_and_raise_nothing() {
    let (_dir, s) = start("twilio-forged", &[]);
    let t = Twilio::new(&s);
    t.register(&hello_monkey());
    t.register(CALLS);
    let (id, first_eci) = t.pico(&["a1299x191", "io.example.calls"]);
    let eci = t.twilio_channel(&id);
    let path = format!("/sky/event/{eci}/none/twilio/inbound_call");
    let params = call_params("+8015552311");
    let good = signature(AUTH, &format!("{PUBLIC}{path}"), &params);

    let refused = |res: Response, why: &str| {
        let status = res.status().as_u16();
        let body: Value = res.json().expect("a JSON error");
        assert_eq!(status, 403, "{why}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("X-Twilio-Signature"),
            "{why}: {body}"
        );
    };
    refused(t.post(&path, &params, None), "unsigned");
    refused(
        t.post(&path, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
        "forged",
    );
    let wrong_token = signature("another-token", &format!("{PUBLIC}{path}"), &params);
    refused(t.post(&path, &params, Some(&wrong_token)), "wrong token");
    // Signed for the address the server listens on: the engine checks
    // against --public-url only, never the Host header.
    let by_host = signature(AUTH, &format!("{}{path}", s.url), &params);
    refused(t.post(&path, &params, Some(&by_host)), "host-based URL");
    // A good signature replayed with other parameters or to another URL.
    let mut changed = params.clone();
    changed[7] = ("From", "+911");
    refused(t.post(&path, &changed, Some(&good)), "changed parameter");
    refused(
        t.post(&format!("{path}?x=1"), &params, Some(&good)),
        "query added",
    );
    let other = format!("/sky/event/{eci}/none/twilio/monkey_handle");
    refused(t.post(&other, &params, Some(&good)), "other URL");
    // Queries on the guarded channel need a signature too.
    let (status, _) = t
        .api
        .get_public(&format!("/sky/cloud/{eci}/io.example.calls/calls"));
    assert_eq!(status, 403);

    // Nothing ran; the good request still works.
    assert_eq!(t.calls(&first_eci), json!(0));
    twiml_of(t.post(&path, &params, Some(&good)));
    assert_eq!(t.calls(&first_eci), json!(1));
    // The pico's other channel has no token: it is not guarded.
    let body = twiml_of(t.post(
        &format!("/sky/event/{first_eci}/none/twilio/inbound_call"),
        &params,
        None,
    ));
    assert!(body.contains("Hello Big Bird"), "{body}");
    assert_eq!(t.calls(&first_eci), json!(2));
}

#[test]
fn get_webhooks_are_signed_over_the_url_with_its_query() {
    let (_dir, s) = start("twilio-get", &[]);
    let t = Twilio::new(&s);
    t.register(&hello_monkey());
    let (id, _) = t.pico(&["a1299x191"]);
    let eci = t.twilio_channel(&id);
    let path = format!(
        "/sky/event/{eci}/none/twilio/monkey_handle?CallSid=CA1&From=%2B8015552311&Digits=42"
    );
    let sig = signature(AUTH, &format!("{PUBLIC}{path}"), &[]);
    let get = |sig: &str| {
        Client::new()
            .get(format!("{}{path}", s.url))
            .header("X-Twilio-Signature", sig)
            .send()
            .unwrap()
    };
    let body = twiml_of(get(&sig));
    assert_twiml(&body, "<Say>Your favorite number is 42.</Say><Hangup/>");
    assert_eq!(get("WT4hqiPi6qDsHDz7rtHQNtDZvK0=").status().as_u16(), 403);
}

#[test]
fn a_failing_rule_on_a_twilio_event_answers_an_apology() {
    let (_dir, s) = start("twilio-apology", &["--twilio-apology", "Oops & sorry."]);
    let t = Twilio::new(&s);
    // Line 5: a string that is not a number, times a number.
    let fragile = "ruleset io.example.fragile_phone {\n  rule answer {\n    select when twilio inbound_call\n    pre {\n      x = event:attr(\"CallerName\") * 2\n    }\n    twilio:say(\"never said\")\n  }\n}\n";
    t.register(fragile);
    let (id, _) = t.pico(&["io.example.fragile_phone"]);
    let eci = t.twilio_channel(&id);
    let mut params = call_params("+8015552311");
    params.push(("CallerName", "Big Bird"));
    let body = twiml_of(t.signed_post(
        &format!("/sky/event/{eci}/none/twilio/inbound_call"),
        &params,
    ));
    assert_twiml(&body, "<Say>Oops &amp; sorry.</Say>");
    assert!(!body.contains("never said"));
    // The error is logged with where it happened (the server logs warn+).
    let logged = wait_for("the error in the log", Duration::from_secs(30), || {
        let logged = s.stderr();
        logged
            .contains("io.example.fragile_phone")
            .then_some(logged)
    });
    for part in ["io.example.fragile_phone", "answer", "line=5"] {
        assert!(logged.contains(part), "{part} in:\n{logged}");
    }
}

/// docs/spec/krl-language.md 10.2: the classic "Pizza line" ruleset, as written.
#[test]
fn classic_pizza_line_of_the_language_spec() {
    const PIZZA: &str = r#"ruleset a77x1 {
  meta {
    name "Pizza line"
    description <<
      Answers the pizza phone line
    >>
    key twilio {
      "account_sid": "AC0000",
      "auth_token": "secret"
    }
    use module a8x115 alias twilio with twiliokeys = keys:twilio()
    logging off
  }
  rule welcome {
    select when twilio incoming
    pre {
      caller = event:attr("from");
      regulars = {"+15550001": "Sam", "+15550002": "Kim"};
      found = regulars.pick("$.#{caller}");
      who = found.length() != 0 => found | "friend";
    }
    {
      twilio:say("Hi #{who}, thanks for calling") with voice = "woman";
      twilio:gather_start("size_chosen")
          with numDigits = "1";
        twilio:say("Press 1 for small, 2 for large");
      twilio:gather_stop;
    }
  }
  rule size_chosen {
    select when twilio size_chosen
    pre { digit = event:param("Digits"); }
    {
      twilio:say("You chose #{digit}. Goodbye.");
      twilio:hangup();
    }
  }
}
"#;
    let (_dir, s) = start("twilio-pizza", &[]);
    let t = Twilio::new(&s);
    t.register(PIZZA);
    let (id, _) = t.pico(&["a77x1"]);
    let eci = t.twilio_channel(&id);
    let body = twiml_of(t.signed_post(
        &format!("/sky/event/{eci}/none/twilio/incoming"),
        &call_params("+15550002"),
    ));
    assert_twiml(
        &body,
        &format!(
            r#"<Say voice="woman">Hi Kim, thanks for calling</Say>
               <Gather action="{PUBLIC}/sky/event/{eci}/none/twilio/size_chosen" numDigits="1">
                 <Say>Press 1 for small, 2 for large</Say>
               </Gather>"#
        ),
    );
    let body = twiml_of(t.signed_post(
        &format!("/sky/event/{eci}/none/twilio/size_chosen"),
        &[("CallSid", "CA1"), ("Digits", "2")],
    ));
    assert_twiml(&body, "<Say>You chose 2. Goodbye.</Say><Hangup/>");
}

#[test]
fn twiml_or_json_by_domain_and_verbs() {
    const PHONE: &str = r#"ruleset io.example.phone {
  rule ring {
    select when phone ring
    every {
      twilio:say("Ring & ring");
      twilio:sms("Missed you") with to = "+15550001";
      send_directive("not TwiML", {"x": 1});
    }
  }
  rule plain {
    select when phone plain
    send_directive("say", {"something": "Hello"})
  }
}
"#;
    let (_dir, s) = start("twilio-domains", &[]);
    let t = Twilio::new(&s);
    t.register(PHONE);
    let (_, eci) = t.pico(&["io.example.phone"]);
    // Not a twilio event, but TwiML verbs ran: TwiML, without the user's
    // directive; no CallSid, so the sms is a <Message>.
    let body = twiml_of(t.post(&format!("/sky/event/{eci}/none/phone/ring"), &[], None));
    assert_twiml(
        &body,
        r#"<Say>Ring &amp; ring</Say><Message to="+15550001">Missed you</Message>"#,
    );
    // In a call it is the voice verb <Sms>.
    let body = twiml_of(t.post(
        &format!("/sky/event/{eci}/none/phone/ring"),
        &[("CallSid", "CA1")],
        None,
    ));
    assert!(
        body.contains(r#"<Sms to="+15550001">Missed you</Sms>"#),
        "{body}"
    );
    // No TwiML: the JSON answer, unchanged.
    let res = t.post(&format!("/sky/event/{eci}/none/phone/plain"), &[], None);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = res.json().unwrap();
    assert_eq!(v["directives"][0]["options"], json!({"something": "Hello"}));
    // A twilio event that fires nothing: an empty <Response/>.
    let body = twiml_of(t.post(&format!("/sky/event/{eci}/none/twilio/nobody"), &[], None));
    assert_eq!(canonical(&body), "<Response/>");
    // A twilio event to an unknown channel: still TwiML, with the status.
    let res = t.post("/sky/event/nope/none/twilio/inbound_call", &[], None);
    assert_eq!(res.status().as_u16(), 404);
    canonical(&res.text().unwrap());
}

#[test]
fn the_engine_wide_token_guards_every_channel() {
    let (_dir, s) = start("twilio-engine-token", &["--twilio-auth-token", AUTH]);
    let t = Twilio::new(&s);
    t.register(&hello_monkey());
    let (_, eci) = t.pico(&["a1299x191"]);
    let path = format!("/sky/event/{eci}/none/twilio/inbound_call");
    let params = call_params("+8015552311");
    assert_eq!(t.post(&path, &params, None).status().as_u16(), 403);
    let other_domain = format!("/sky/event/{eci}/none/echo/hello");
    assert_eq!(t.post(&other_domain, &[], None).status().as_u16(), 403);
    let body = twiml_of(t.signed_post(&path, &params));
    assert!(body.contains("Hello Big Bird"), "{body}");
    // The token never shows in the logs.
    assert!(!s.stderr().contains(AUTH));
}
